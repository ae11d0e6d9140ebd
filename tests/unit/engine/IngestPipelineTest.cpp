#include <catch2/catch.hpp>

#include "buffer/SqliteBuffer.h"
#include "gateway/engine/IngestPipeline.h"
#include "gateway/engine/WorkerHeartbeats.h"
#include "gateway/identity/Identifiers.h"
#include "tests/support/FakeClock.h"
#include "tests/unit/buffer/BufferFixtures.h"

using namespace rpm;
using namespace rpm::engine;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  rpm::test::TempDir dir;
  rpm::test::FakeClock clock;
  std::unique_ptr<buffer::SqliteBuffer> store;
  StreamAggregator aggregator{clock, std::chrono::seconds(60)};
  int wakeups = 0;
  std::unique_ptr<IngestPipeline> ingest;
  Fixture() {
    buffer::BufferOptions o;
    o.path = dir.file("buffer.db");
    store = std::move(buffer::SqliteBuffer::open(o, clock)).value();
    ingest = std::make_unique<IngestPipeline>(*store, aggregator, clock, [this] { ++wakeups; });
  }
};

Reading spot(const std::string& producerId) {
  Reading r = rpm::test::sampleReading("");
  r.producerReadingId = producerId;
  return r;
}

Reading heartRateSample(UtcInstant at, std::int64_t bpm) {
  Reading r;
  r.device = *DeviceKey::parse("bt:B0495F001071");
  r.kind = ReadingKind::kHeartRate;
  r.subject = "Patient/p1";
  r.effectiveStart = at;
  r.receivedAt = at;
  r.value = std::vector<Component>{Component{Measure::kHeartRate, Quantity{Decimal(bpm, 0), SpecialValue::kNone, "/min"},
                                             std::nullopt, Comparator::kNone, ""}};
  return r;
}

}  // namespace

TEST_CASE("Ingest gives readings their frozen ids and reports duplicates", "[unit][ingest]") {
  Fixture f;
  auto first = f.ingest->submit({spot("a"), spot("b")});
  REQUIRE(first.isOk());
  CHECK(first->outcomes == std::vector<AppendOutcome>{AppendOutcome::kStored, AppendOutcome::kStored});
  auto again = f.ingest->submit({spot("a")});
  REQUIRE(again.isOk());
  CHECK(again->outcomes == std::vector<AppendOutcome>{AppendOutcome::kDuplicate});
  CHECK(f.ingest->counters().duplicates == 1);
  CHECK(f.wakeups == 2);
  Reading expected = spot("a");
  CHECK(f.store->find(computeReadingId(expected))->has_value());
}

TEST_CASE("A clock skew measured while the hub clock is unsynchronized is dropped", "[unit][ingest]") {
  Fixture f;
  Reading r = spot("skewed");
  r.clockSkewMs = 90000;
  f.clock.setSynchronized(false);
  REQUIRE(f.ingest->submit({r}).isOk());
  auto stored = f.store->find(computeReadingId(r));
  REQUIRE(stored->has_value());
  CHECK_FALSE((*stored)->clockSkewMs.has_value());
  f.clock.setSynchronized(true);
  Reading s = spot("kept");
  s.clockSkewMs = 90000;
  REQUIRE(f.ingest->submit({s}).isOk());
  CHECK((*f.store->find(computeReadingId(s)))->clockSkewMs == 90000);
}

TEST_CASE("Stream samples become one stored window summary; partial windows are flushed", "[unit][ingest]") {
  Fixture f;
  UtcInstant t0 = UtcInstant(std::chrono::seconds(1700000040));  // inside the window [..000020, ..000080)
  f.clock.setWallClock(t0);
  for (int i = 0; i < 5; ++i) {
    auto r = f.ingest->submit({heartRateSample(t0 + std::chrono::seconds(i), 60 + i)});
    REQUIRE(r.isOk());
    CHECK(r->outcomes == std::vector<AppendOutcome>{AppendOutcome::kStored});
  }
  CHECK(f.store->counters()->backlog == 0);  // still in the aggregator
  f.clock.advance(120s);
  REQUIRE(f.ingest->storeClosedWindows().isOk());
  CHECK(f.store->counters()->backlog == 1);
  CHECK(f.ingest->counters().windowsStored == 1);
  REQUIRE(f.ingest->submit({heartRateSample(f.clock.now(), 70)}).isOk());
  REQUIRE(f.ingest->flushWindows().isOk());
  CHECK(f.store->counters()->backlog == 2);
}

TEST_CASE("A glucose context is linked to the glucose record with its sequence number", "[unit][ingest]") {
  Fixture f;
  auto record = [](ReadingKind kind, std::uint32_t seq) {
    Reading r = rpm::test::sampleReading("");
    r.kind = kind;
    r.sequence = seq;
    r.deviceTime = LocalDateTime{2026, 1, 1, 8, 0, 0, 0};
    return r;
  };
  Reading glucose = record(ReadingKind::kGlucose, 7);
  Reading context = record(ReadingKind::kGlucoseContext, 7);
  REQUIRE(f.ingest->submit({glucose, context}).isOk());
  std::string glucoseId = computeReadingId(glucose);
  auto stored = f.store->find(computeReadingId(context));
  REQUIRE(stored->has_value());
  CHECK((*stored)->relatedReadingId == glucoseId);
  // Alone (the glucose record came in an earlier submit): the same link by the reading-id rule.
  Reading later = record(ReadingKind::kGlucoseContext, 8);
  Reading glucose8 = record(ReadingKind::kGlucose, 8);
  REQUIRE(f.ingest->submit({later}).isOk());
  CHECK((*f.store->find(computeReadingId(later)))->relatedReadingId == computeReadingId(glucose8));
}

TEST_CASE("The watchdog sees a worker that stopped beating", "[unit][watchdog]") {
  WorkerHeartbeats hb;
  auto now = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  hb.add("delivery");
  hb.add("ingest");
  CHECK(hb.allBeatSinceLastCheck(now));  // grace round after registration
  hb.beat("delivery");
  std::vector<std::string> silent;
  CHECK_FALSE(hb.allBeatSinceLastCheck(now, &silent));
  CHECK(silent == std::vector<std::string>{"ingest"});
  hb.beat("ingest");
  CHECK(hb.allBeatSinceLastCheck(now));
  // A worker inside a bounded operation (an HTTP request with a timeout) is alive until its deadline.
  hb.beat("ingest");
  hb.busyUntil("delivery", now + 30s);
  CHECK(hb.allBeatSinceLastCheck(now + 10s));
  hb.beat("ingest");
  CHECK_FALSE(hb.allBeatSinceLastCheck(now + 31s));
  hb.hangForTest("ingest");
  hb.beat("delivery");
  hb.beat("ingest");  // ignored: the worker "hangs"
  CHECK_FALSE(hb.allBeatSinceLastCheck(now + 40s));
}
