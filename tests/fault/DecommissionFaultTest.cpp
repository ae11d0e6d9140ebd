// Decommission under I/O faults: the FaultVfs fails the Nth write or sync
// during erasePatientData, for N = 1, 2, ... until the erase runs without the
// fault firing. Whatever fails, the reopened database must be either the
// previous patient's data untouched or fully erased: never enrolments gone
// while held or queued readings remain (a later enrolment would release them
// to the next patient), never readings gone while their enrolment remains.
#include <catch2/catch.hpp>

#include <cstdio>

#include "buffer/SqliteBuffer.h"
#include "tests/fault/FaultVfs.h"
#include "tests/support/FakeClock.h"
#include "tests/unit/buffer/BufferFixtures.h"

using namespace rpm;
using namespace rpm::buffer;

namespace {

struct Run {
  bool fired = false;
  bool consistent = true;
  bool erased = false;
};

Run eraseWithFault(test::FaultVfs& vfs, test::FaultVfs::Op op, int n, bool persistent, int errorCode,
                   bool plantedBug = false) {
  Run run;
  test::TempDir dir(test::TempDir::memoryBackedBase());
  test::FakeClock clock;
  BufferOptions options;
  options.path = dir.file("buffer.db");
  options.eraseInSeparateCommitsForTest = plantedBug;
  {
    auto opened = SqliteBuffer::open(options, clock);
    REQUIRE(opened.isOk());
    auto& store = **opened;
    Enrolment e;
    e.device = *DeviceKey::parse("bt:B0495F001071");
    e.patient = "Patient/previous";
    REQUIRE(store.putEnrolment(e).isOk());
    std::vector<Reading> readings;
    for (int i = 0; i < 8; ++i) {
      Reading r = test::sampleReading("q" + std::to_string(i), 1700000000 + i, Priority::kLive, "");
      r.raw.bytes.assign(1500, static_cast<std::uint8_t>(i));  // several pages
      readings.push_back(r);
    }
    REQUIRE(store.append(readings).isOk());
    Reading stranger = test::sampleReading("held", 1700000100, Priority::kLive, "");
    stranger.device = *DeviceKey::parse("mqtt:stranger");
    REQUIRE(store.append({stranger}).isOk());
    REQUIRE(store.recordClockOffset(e.device, 1000, clock.now()).isOk());
  }
  options.vfsNameForTest = vfs.name();
  {
    auto opened = SqliteBuffer::open(options, clock);
    REQUIRE(opened.isOk());
    vfs.failNth(op, n, persistent, errorCode);
    EraseRequest request;
    request.discardUndelivered = true;
    (void)(*opened)->erasePatientData(request);
  }
  run.fired = vfs.faultFired();
  vfs.disarm();
  options.vfsNameForTest.clear();
  auto reopened = SqliteBuffer::open(options, clock);
  REQUIRE(reopened.isOk());
  auto& store = **reopened;
  REQUIRE(*store.integrityCheck() == "ok");
  auto c = store.counters();
  REQUIRE(c.isOk());
  std::size_t enrolments = store.listEnrolments()->size();
  bool hasState = store.deviceState(*DeviceKey::parse("bt:B0495F001071"))->clockOffsetMs.has_value();
  bool untouched = enrolments == 1 && c->backlog == 8 && c->held == 1 && hasState;
  run.erased = enrolments == 0 && c->backlog == 0 && c->held == 0 && !hasState;
  run.consistent = untouched || run.erased;
  return run;
}

void sweep(test::FaultVfs::Op op, bool persistent, int errorCode) {
  test::FaultVfs vfs("rpm-decommission");
  int n = 1;
  for (; n < 2000; ++n) {
    Run run = eraseWithFault(vfs, op, n, persistent, errorCode);
    INFO("fault at operation " << n << (persistent ? " (persistent)" : " (once)"));
    REQUIRE(run.consistent);
    if (!run.fired) {
      REQUIRE(run.erased);  // without a fault the erase completes
      break;
    }
  }
  CHECK(n > 3);  // the erase really was exposed to faults
  std::printf("decommission fault sweep ended at operation %d\n", n);
}

}  // namespace

TEST_CASE("A write failing once anywhere in the erase leaves the data untouched or fully erased",
          "[fault][buffer][decommission]") {
  sweep(test::FaultVfs::Op::kWrite, false, SQLITE_IOERR_WRITE);
}
TEST_CASE("Writes failing from some point of the erase on leave the data untouched or fully erased",
          "[fault][buffer][decommission]") {
  sweep(test::FaultVfs::Op::kWrite, true, SQLITE_IOERR_WRITE);
}
TEST_CASE("A sync failing anywhere in the erase leaves the data untouched or fully erased",
          "[fault][buffer][decommission]") {
  sweep(test::FaultVfs::Op::kSync, false, SQLITE_IOERR_FSYNC);
}
TEST_CASE("A full disk during the erase leaves the data untouched or fully erased", "[fault][buffer][decommission]") {
  sweep(test::FaultVfs::Op::kWrite, true, SQLITE_FULL);
}

TEST_CASE("The decommission fault harness catches an erase committed table by table", "[fault][buffer][decommission]") {
  test::FaultVfs vfs("rpm-decommission-planted");
  int caught = 0;
  for (int n = 1; n < 200 && caught == 0; ++n) {
    Run run = eraseWithFault(vfs, test::FaultVfs::Op::kSync, n, true, SQLITE_IOERR_FSYNC, /*plantedBug=*/true);
    caught += run.consistent ? 0 : 1;
    if (!run.fired) break;
  }
  CHECK(caught > 0);
}
