// I/O faults (SQLite's ioerr tests): the FaultVfs fails the Nth write or sync,
// once or persistently, for N = 1, 2, ... until a run completes without the
// fault firing. Whatever fails, the buffer must not crash, the file must not
// be corrupt, and no reading whose append returned may be lost.
#include <catch2/catch.hpp>

#include <cstdio>
#include <set>

#include "buffer/SqliteBuffer.h"
#include "tests/fault/FaultVfs.h"
#include "tests/support/FakeClock.h"
#include "tests/unit/buffer/BufferFixtures.h"

using namespace rpm;
using namespace rpm::buffer;

namespace {

struct Run {
  bool fired = false;
  int lost = 0;
  int corrupt = 0;
  int redelivered = 0;
};

Run runWithFault(test::FaultVfs& vfs, test::FaultVfs::Op op, int n, bool persistent, int errorCode,
                 bool plantedBug = false) {
  Run run;
  test::TempDir dir(test::TempDir::memoryBackedBase());
  test::FakeClock clock;
  BufferOptions options;
  options.path = dir.file("buffer.db");
  options.vfsNameForTest = vfs.name();
  options.deliveredRetention = std::chrono::hours(0);
  options.ignoreCommitErrorsForTest = plantedBug;
  std::set<std::string> acknowledged;
  std::set<std::string> delivered;
  vfs.failNth(op, n, persistent, errorCode);
  {
    auto opened = SqliteBuffer::open(options, clock);
    if (opened.isOk()) {
      auto& store = **opened;
      Enrolment e;
      e.device = *DeviceKey::parse("bt:B0495F001071");
      e.patient = "Patient/p";
      (void)store.putEnrolment(e);
      for (int batch = 0; batch < 12; ++batch) {
        std::vector<Reading> readings;
        for (int i = 0; i < 3; ++i) {
          Reading r = test::sampleReading("f" + std::to_string(batch) + "-" + std::to_string(i), batch);
          r.raw.bytes.assign(1500, static_cast<std::uint8_t>(i));  // several pages per batch
          readings.push_back(r);
        }
        if (store.append(readings).isOk()) {
          for (const auto& r : readings) acknowledged.insert(r.id);
        }
        auto leased = store.lease(2);
        if (leased.isOk() && !leased->empty()) {
          if (batch % 3 == 0) {
            (void)store.reject(leased->at(0).reading.id, leased->at(0).leaseId, Rejection{400, "bad"});
          } else {
            std::vector<Acknowledgement> acks;
            for (const auto& l : *leased) acks.push_back({l.reading.id, l.leaseId, {{"Observation/1"}, "201"}});
            if (store.ack(acks).isOk()) {
              for (const auto& a : acks) delivered.insert(a.readingId);
            }
          }
        }
        clock.advance(std::chrono::seconds(61));  // lets the built-in prune run with the writes
        (void)store.counters();
      }
    }
  }
  run.fired = vfs.faultFired();
  vfs.disarm();
  BufferOptions plain = options;
  plain.vfsNameForTest.clear();
  auto reopened = SqliteBuffer::open(plain, clock);
  REQUIRE(reopened.isOk());
  auto& store = **reopened;
  if (store.openReport().quarantined || *store.integrityCheck() != "ok") run.corrupt = 1;
  std::vector<Reading> again;
  for (const auto& id : acknowledged) again.push_back(test::sampleReading(id));
  if (!again.empty()) {
    auto report = store.append(again);
    REQUIRE(report.isOk());
    for (auto o : report->outcomes) run.lost += o == AppendOutcome::kDuplicate ? 0 : 1;
  }
  auto leased = store.lease(100000);
  REQUIRE(leased.isOk());
  for (const auto& l : *leased) run.redelivered += static_cast<int>(delivered.count(l.reading.id));
  return run;
}

void sweep(test::FaultVfs::Op op, bool persistent, int errorCode) {
  test::FaultVfs vfs("rpm-ioerr");
  int n = 1;
  for (; n < 5000; ++n) {
    Run run = runWithFault(vfs, op, n, persistent, errorCode);
    INFO("fault at operation " << n << (persistent ? " (persistent)" : " (once)"));
    REQUIRE(run.corrupt == 0);
    REQUIRE(run.lost == 0);
    REQUIRE(run.redelivered == 0);
    if (!run.fired) break;
  }
  CHECK(n > 10);  // the workload really was exposed to faults
  std::printf("fault sweep ended at operation %d\n", n);
}

}  // namespace

TEST_CASE("A write that fails once at any point loses nothing acknowledged", "[fault][buffer]") {
  sweep(test::FaultVfs::Op::kWrite, false, SQLITE_IOERR_WRITE);
}
TEST_CASE("Writes that fail from some point on lose nothing acknowledged", "[fault][buffer]") {
  sweep(test::FaultVfs::Op::kWrite, true, SQLITE_IOERR_WRITE);
}
TEST_CASE("A sync that fails once at any point loses nothing acknowledged", "[fault][buffer]") {
  sweep(test::FaultVfs::Op::kSync, false, SQLITE_IOERR_FSYNC);
}
TEST_CASE("Syncs that fail from some point on lose nothing acknowledged", "[fault][buffer]") {
  sweep(test::FaultVfs::Op::kSync, true, SQLITE_IOERR_FSYNC);
}
TEST_CASE("A disk that reports full from some write on loses nothing acknowledged", "[fault][buffer]") {
  sweep(test::FaultVfs::Op::kWrite, true, SQLITE_FULL);
}

TEST_CASE("The I/O-fault harness catches a buffer that ignores a failed commit", "[fault][buffer]") {
  test::FaultVfs vfs("rpm-ioerr-planted");
  int caught = 0;
  for (int n = 1; n < 400 && caught == 0; ++n) {
    Run run = runWithFault(vfs, test::FaultVfs::Op::kSync, n, false, SQLITE_IOERR_FSYNC, /*plantedBug=*/true);
    caught += run.lost + run.corrupt + run.redelivered;
    if (!run.fired) break;
  }
  CHECK(caught > 0);
}
