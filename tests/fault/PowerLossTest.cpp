// Power loss (reliability-and-security.md §6 F3): the FaultVfs cuts the power
// at a random write or sync and keeps a random, partly garbled subset of the
// unsynced writes. Every reading whose append returned must survive and the
// database must never be corrupt. With synchronous=OFF the same harness must
// report losses, which shows it can fail.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "buffer/SqliteBuffer.h"
#include "tests/fault/FaultVfs.h"
#include "tests/support/FakeClock.h"
#include "tests/unit/buffer/BufferFixtures.h"

using namespace rpm;
using namespace rpm::buffer;

namespace {

struct Outcome {
  int lostAcknowledged = 0;
  int corrupt = 0;
  int redelivered = 0;
  int acknowledged = 0;  // readings whose append returned, over all runs
};

int iterations() {
  const char* env = std::getenv("RPM_BUFFER_LONG");
  return env && std::string(env) == "1" ? 20000 : 1000;
}

// One run: random workload under the shim until the power is cut.
void runOnce(test::FaultVfs& vfs, unsigned seed, bool syncOff, Outcome& outcome) {
  std::mt19937 rng(seed);
  test::TempDir dir(test::TempDir::memoryBackedBase());
  test::FakeClock clock;
  BufferOptions options;
  options.path = dir.file("buffer.db");
  options.vfsNameForTest = vfs.name();
  options.synchronousOffForTest = syncOff;
  options.deliveredRetention = std::chrono::hours(0);
  std::set<std::string> acknowledged;  // append returned ok
  std::set<std::string> delivered;     // ack returned ok
  vfs.cutAfter(static_cast<int>(rng() % 300) + 1);
  {
    auto opened = SqliteBuffer::open(options, clock);
    if (opened.isOk()) {
      auto& store = **opened;
      for (int batch = 0; batch < 200 && !vfs.cut(); ++batch) {
        std::vector<Reading> readings;
        int n = static_cast<int>(rng() % 8) + 1;
        for (int i = 0; i < n; ++i) {
          Reading r = test::sampleReading("s" + std::to_string(batch) + "-" + std::to_string(i), batch);
          r.raw.bytes.assign(rng() % 600, static_cast<std::uint8_t>(i));
          readings.push_back(r);
        }
        if (store.append(readings).isOk()) {
          for (const auto& r : readings) acknowledged.insert(r.id);
        }
        if (batch % 5 == 4) {
          auto leased = store.lease(4);
          if (leased.isOk() && !leased->empty()) {
            std::vector<Acknowledgement> acks;
            for (const auto& l : *leased) acks.push_back({l.reading.id, l.leaseId, {{"Observation/1"}, "201"}});
            if (store.ack(acks).isOk()) {
              for (const auto& a : acks) delivered.insert(a.readingId);
            }
            clock.advance(std::chrono::seconds(1));
            (void)store.prune();
          }
        }
      }
    }
  }  // the store closes on a dead disk: every write fails
  outcome.acknowledged += static_cast<int>(acknowledged.size());
  vfs.powerLoss(rng, /*garble=*/true);
  std::filesystem::remove(options.path + "-shm");  // shared memory does not survive a reboot

  BufferOptions plain = options;
  plain.vfsNameForTest.clear();
  plain.synchronousOffForTest = false;
  auto reopened = SqliteBuffer::open(plain, clock);
  REQUIRE(reopened.isOk());
  auto& store = **reopened;
  if (store.openReport().quarantined || *store.integrityCheck() != "ok") outcome.corrupt += 1;
  // Every acknowledged reading is known: re-appending it reports a duplicate.
  std::vector<Reading> again;
  for (const auto& id : acknowledged) again.push_back(test::sampleReading(id));
  if (!again.empty()) {
    auto report = store.append(again);
    REQUIRE(report.isOk());
    for (auto o : report->outcomes) {
      if (o != AppendOutcome::kDuplicate) outcome.lostAcknowledged += 1;
    }
  }
  // Delivered readings are never handed out again.
  auto leased = store.lease(100000);
  REQUIRE(leased.isOk());
  for (const auto& l : *leased) outcome.redelivered += static_cast<int>(delivered.count(l.reading.id));
}

}  // namespace

TEST_CASE("After a power cut every acknowledged reading survives and the file is sound", "[fault][buffer]") {
  test::FaultVfs vfs("rpm-powerloss");
  Outcome outcome;
  for (int i = 1; i <= iterations(); ++i) runOnce(vfs, static_cast<unsigned>(i), false, outcome);
  CHECK(outcome.acknowledged > iterations());  // cuts fall after real work, not only at open
  CHECK(outcome.lostAcknowledged == 0);
  CHECK(outcome.corrupt == 0);
  CHECK(outcome.redelivered == 0);
}

TEST_CASE("The power-loss harness reports losses when synchronous is OFF", "[fault][buffer]") {
  test::FaultVfs vfs("rpm-powerloss-off");
  Outcome outcome;
  for (int i = 1; i <= 150 && outcome.lostAcknowledged + outcome.corrupt + outcome.redelivered == 0; ++i) {
    runOnce(vfs, static_cast<unsigned>(i), true, outcome);
  }
  CHECK(outcome.lostAcknowledged + outcome.corrupt + outcome.redelivered > 0);
}
