#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <fstream>
#include <set>

#include "buffer/SqliteBuffer.h"
#include "tests/support/FakeClock.h"
#include "tests/unit/buffer/BufferFixtures.h"

using namespace rpm;
using namespace rpm::buffer;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  test::TempDir dir;
  test::FakeClock clock;
  BufferOptions options;
  std::unique_ptr<SqliteBuffer> store;

  Fixture() {
    options.path = dir.file("state/gateway/buffer.db");
    reopen();
  }
  void reopen() {
    store.reset();
    auto opened = SqliteBuffer::open(options, clock);
    REQUIRE(opened.isOk());
    store = std::move(opened).value();
  }
  std::vector<std::string> leaseIds(std::size_t n) {
    auto leased = store->lease(n);
    REQUIRE(leased.isOk());
    std::vector<std::string> ids;
    for (const auto& l : *leased) ids.push_back(l.reading.id);
    return ids;
  }
  void ackAll(const std::vector<LeasedReading>& leased) {
    std::vector<Acknowledgement> acks;
    for (const auto& l : leased) acks.push_back({l.reading.id, l.leaseId, {{"Observation/" + l.reading.id}, "201"}});
    REQUIRE(store->ack(acks).isOk());
  }
  StoreCounters counters() {
    auto c = store->counters();
    REQUIRE(c.isOk());
    return *c;
  }
};

Enrolment enrolment(const std::string& device, std::optional<std::uint8_t> slot, const std::string& patient) {
  Enrolment e;
  e.device = *DeviceKey::parse(device);
  e.userSlot = slot;
  e.patient = patient;
  e.transport = Transport::kBle;
  e.metadata = "{}";
  return e;
}

}  // namespace

TEST_CASE("An appended reading survives reopening and is leased with every field", "[unit][buffer]") {
  Fixture f;
  Reading r = test::sampleReading("r1");
  auto report = f.store->append({r});
  REQUIRE(report.isOk());
  CHECK(report->outcomes == std::vector<AppendOutcome>{AppendOutcome::kStored});
  f.reopen();
  auto leased = f.store->lease(10);
  REQUIRE(leased.isOk());
  REQUIRE(leased->size() == 1);
  CHECK(leased->at(0).reading.components()[0].quantity.value == Decimal(1215, -1));
  CHECK(leased->at(0).reading.raw.bytes == r.raw.bytes);
  CHECK(leased->at(0).attempts == 0);
}

TEST_CASE("The database is 0600 inside a 0700 directory", "[unit][buffer]") {
  Fixture f;
  REQUIRE(f.store->append({test::sampleReading("r1")}).isOk());
  struct stat st {};
  REQUIRE(::stat(f.options.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((f.options.path + "-wal").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat(f.dir.file("state").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::stat(f.dir.file("state/gateway").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
}

TEST_CASE("A re-sent reading is stored once and reported as a duplicate", "[unit][buffer]") {
  Fixture f;
  REQUIRE(f.store->append({test::sampleReading("r1")}).isOk());
  auto again = f.store->append({test::sampleReading("r1"), test::sampleReading("r2"), test::sampleReading("r2")});
  REQUIRE(again.isOk());
  CHECK(again->outcomes ==
        std::vector<AppendOutcome>{AppendOutcome::kDuplicate, AppendOutcome::kStored, AppendOutcome::kDuplicate});
  CHECK(f.counters().backlog == 2);
  CHECK(f.counters().duplicates == 2);
}

TEST_CASE("A reading without id or device is refused without affecting the others", "[unit][buffer]") {
  Fixture f;
  Reading noId = test::sampleReading("");
  Reading noDevice = test::sampleReading("x");
  noDevice.device = DeviceKey();
  auto report = f.store->append({noId, test::sampleReading("ok"), noDevice});
  REQUIRE(report.isOk());
  CHECK(report->outcomes ==
        std::vector<AppendOutcome>{AppendOutcome::kInvalid, AppendOutcome::kStored, AppendOutcome::kInvalid});
}

TEST_CASE("Delivered readings become tombstones that still recognise re-sent records", "[unit][buffer]") {
  Fixture f;
  f.options.deliveredRetention = 24h;
  f.options.tombstoneRetention = 24h * 365;
  f.reopen();
  REQUIRE(f.store->append({test::sampleReading("r1")}).isOk());
  auto leased = f.store->lease(1);
  REQUIRE(leased.isOk());
  f.ackAll(*leased);
  CHECK(f.counters().backlog == 0);
  // Within the retention the delivered row is kept with its receipt.
  CHECK(test::sqlOnFile(f.options.path, "SELECT resource_ids FROM readings WHERE id='r1'") == "Observation/r1");
  f.clock.advance(25h);
  auto pruned = f.store->prune();
  REQUIRE(pruned.isOk());
  CHECK(*pruned == 1);
  CHECK(f.counters().tombstones == 1);
  CHECK(test::sqlOnFile(f.options.path, "SELECT count(*) FROM readings") == "0");
  auto again = f.store->append({test::sampleReading("r1")});
  REQUIRE(again.isOk());
  CHECK(again->outcomes[0] == AppendOutcome::kDuplicate);
  CHECK(f.store->lease(10)->empty());
  // After the tombstone time the id is forgotten, as documented.
  f.clock.advance(24h * 366);
  REQUIRE(f.store->prune().isOk());
  CHECK(f.counters().tombstones == 0);
  CHECK(f.store->append({test::sampleReading("r1")})->outcomes[0] == AppendOutcome::kStored);
}

TEST_CASE("Acknowledging twice, late or an unknown id behaves as documented", "[unit][buffer]") {
  Fixture f;
  REQUIRE(f.store->append({test::sampleReading("r1")}).isOk());
  auto leased = f.store->lease(1);
  REQUIRE(leased->size() == 1);
  f.clock.advance(std::chrono::seconds(f.options.leaseDuration) + 1s);  // lease expired: the server has it anyway
  f.ackAll(*leased);
  f.ackAll(*leased);  // idempotent
  auto unknown = f.store->ack({{"nope", 1, {}}});
  CHECK(unknown.kind() == ErrorKind::kNotFound);
}

TEST_CASE("Live readings are leased before stored backlogs, then oldest first", "[unit][buffer]") {
  Fixture f;
  REQUIRE(f.store->append({test::sampleReading("stored-old", 1000, Priority::kStored),
                           test::sampleReading("live-new", 3000, Priority::kLive),
                           test::sampleReading("stored-new", 2000, Priority::kStored),
                           test::sampleReading("live-old", 500, Priority::kLive)})
              .isOk());
  CHECK(f.leaseIds(10) == std::vector<std::string>{"live-old", "live-new", "stored-old", "stored-new"});
}

TEST_CASE("A lease hides readings until it expires and a stale lease can neither retry nor reject", "[unit][buffer]") {
  Fixture f;
  REQUIRE(f.store->append({test::sampleReading("a", 1), test::sampleReading("b", 2)}).isOk());
  auto first = f.store->lease(1);
  REQUIRE(first->size() == 1);
  CHECK(first->at(0).reading.id == "a");
  CHECK(f.leaseIds(10) == std::vector<std::string>{"b"});
  CHECK(f.leaseIds(10).empty());
  CHECK(f.counters().leased == 2);
  f.clock.advance(std::chrono::seconds(f.options.leaseDuration) + 1s);
  auto second = f.store->lease(1);
  REQUIRE(second->size() == 1);
  CHECK(second->at(0).reading.id == "a");
  CHECK(second->at(0).leaseId != first->at(0).leaseId);
  CHECK(f.store->retryLater("a", first->at(0).leaseId, Status(ErrorKind::kTimeout, "t"), f.clock.now()).kind() ==
        ErrorKind::kConflict);
  CHECK(f.store->reject("a", first->at(0).leaseId, Rejection{400, "bad"}).kind() == ErrorKind::kConflict);
}

TEST_CASE("Retry later counts attempts and holds the reading until its time", "[unit][buffer]") {
  Fixture f;
  REQUIRE(f.store->append({test::sampleReading("a")}).isOk());
  auto leased = f.store->lease(1);
  REQUIRE(f.store->retryLater("a", leased->at(0).leaseId, Status(ErrorKind::kUnavailable, "503"),
                              f.clock.now() + 30s)
              .isOk());
  CHECK(f.leaseIds(10).empty());
  f.clock.advance(31s);
  auto again = f.store->lease(1);
  REQUIRE(again->size() == 1);
  CHECK(again->at(0).attempts == 1);
  f.reopen();  // attempts and not-before are durable
  CHECK(f.store->lease(1)->at(0).attempts == 1);
}

TEST_CASE("A poison reading goes to the dead letters without holding up the rest", "[unit][buffer]") {
  Fixture f;
  REQUIRE(f.store->append({test::sampleReading("poison", 1), test::sampleReading("fine", 2)}).isOk());
  auto leased = f.store->lease(1);
  REQUIRE(leased->at(0).reading.id == "poison");
  REQUIRE(f.store->reject("poison", leased->at(0).leaseId, Rejection{422, "invalid code"}).isOk());
  CHECK(f.leaseIds(10) == std::vector<std::string>{"fine"});
  auto dead = f.store->listDeadLetters(10);
  REQUIRE(dead.isOk());
  REQUIRE(dead->size() == 1);
  CHECK(dead->at(0).reading.id == "poison");
  CHECK(dead->at(0).httpStatus == 422);
  CHECK(dead->at(0).reason == "invalid code");
  CHECK(dead->at(0).attempts == 1);
  CHECK(f.counters().deadLetters == 1);
  CHECK(f.store->append({test::sampleReading("poison")})->outcomes[0] == AppendOutcome::kDuplicate);

  REQUIRE(f.store->requeueDeadLetter("poison").isOk());
  CHECK(f.counters().deadLetters == 0);
  f.clock.advance(std::chrono::seconds(f.options.leaseDuration) + 1s);
  auto ids = f.leaseIds(10);
  CHECK(std::find(ids.begin(), ids.end(), "poison") != ids.end());

  auto again = f.store->lease(10);  // nothing (all leased)
  CHECK(again->empty());
  f.clock.advance(std::chrono::seconds(f.options.leaseDuration) + 1s);
  auto l = f.store->lease(10);
  for (const auto& x : *l) {
    if (x.reading.id == "poison") REQUIRE(f.store->reject("poison", x.leaseId, Rejection{400, "again"}).isOk());
  }
  REQUIRE(f.store->purgeDeadLetter("poison").isOk());
  CHECK(f.store->purgeDeadLetter("poison").kind() == ErrorKind::kNotFound);
  CHECK(f.store->listDeadLetters(10)->empty());
  CHECK(f.store->append({test::sampleReading("poison")})->outcomes[0] == AppendOutcome::kDuplicate);
}

TEST_CASE("Readings of unbound devices are held, counted and released only on request", "[unit][buffer]") {
  Fixture f;
  Reading unbound = test::sampleReading("h1", 1, Priority::kLive, "");
  auto report = f.store->append({unbound});
  REQUIRE(report.isOk());
  CHECK(report->outcomes[0] == AppendOutcome::kHeld);
  CHECK(f.counters().held == 1);
  CHECK(f.counters().backlog == 0);
  CHECK(f.leaseIds(10).empty());
  CHECK(f.store->releaseHeldReadings(unbound.device, std::nullopt).status().kind() == ErrorKind::kNotBound);

  REQUIRE(f.store->putEnrolment(enrolment("bt:B0495F001071", std::nullopt, "Patient/p7")).isOk());
  // New readings bind at append time...
  CHECK(f.store->append({test::sampleReading("b1", 2, Priority::kLive, "")})->outcomes[0] == AppendOutcome::kStored);
  // ...held ones only by an explicit release.
  CHECK(f.counters().held == 1);
  auto released = f.store->releaseHeldReadings(unbound.device, std::nullopt);
  REQUIRE(released.isOk());
  CHECK(*released == 1);
  auto leased = f.store->lease(10);
  REQUIRE(leased->size() == 2);
  for (const auto& l : *leased) CHECK(l.reading.subject == "Patient/p7");
}

TEST_CASE("Enrolments bind per user slot with a whole-device fallback", "[unit][buffer]") {
  Fixture f;
  REQUIRE(f.store->putEnrolment(enrolment("bt:B0495F001071", 2, "Patient/two")).isOk());
  REQUIRE(f.store->putEnrolment(enrolment("bt:B0495F001071", std::nullopt, "Patient/all")).isOk());
  auto key = *DeviceKey::parse("bt:B0495F001071");
  CHECK(f.store->findEnrolment(key, 2)->patient == "Patient/two");
  CHECK(f.store->findEnrolment(key, 1)->patient == "Patient/all");
  CHECK(f.store->listEnrolments()->size() == 2);
  REQUIRE(f.store->removeEnrolment(key, std::nullopt).isOk());
  CHECK(f.store->findEnrolment(key, 1).status().kind() == ErrorKind::kNotFound);
  f.reopen();
  CHECK(f.store->findEnrolment(key, 2)->patient == "Patient/two");
}

TEST_CASE("The glucose cursor never skips a record", "[unit][buffer][cursor]") {
  Fixture f;
  auto meter = *DeviceKey::parse("bt:0000000000AA");
  SECTION("an interrupted download advances only over the gap-free run") {
    auto s = f.store->recordGlucoseDownload(meter, GlucoseDownload{0, 0, {0, 1, 2, 4, 5}, false, {}});
    REQUIRE(s.isOk());
    CHECK(s->glucoseCursor == 3);
  }
  SECTION("records arriving out of order count once all below are there") {
    CHECK(f.store->recordGlucoseDownload(meter, GlucoseDownload{0, 0, {2, 0, 3, 1}, false, {}})->glucoseCursor == 4);
    // Only this download's records count: 2 of an earlier interrupted one is
    // fetched again (and recognised as a duplicate) rather than assumed.
    CHECK(f.store->recordGlucoseDownload(meter, GlucoseDownload{0, 4, {6, 4}, false, {}})->glucoseCursor == 5);
    CHECK(f.store->recordGlucoseDownload(meter, GlucoseDownload{0, 5, {5}, false, {}})->glucoseCursor == 6);
  }
  SECTION("a complete download passes the meter's own gaps") {
    CHECK(f.store->recordGlucoseDownload(meter, GlucoseDownload{0, 0, {1, 2, 7}, true, {}})->glucoseCursor == 8);
  }
  SECTION("a complete download that started above the cursor proves nothing below its start") {
    CHECK(f.store->recordGlucoseDownload(meter, GlucoseDownload{0, 5, {5, 6}, true, {}})->glucoseCursor == 0);
  }
  SECTION("the cursor never moves back and a counter reset starts a new epoch") {
    CHECK(f.store->recordGlucoseDownload(meter, GlucoseDownload{0, 0, {0, 1}, true, {}})->glucoseCursor == 2);
    CHECK(f.store->recordGlucoseDownload(meter, GlucoseDownload{0, 0, {0}, true, {}})->glucoseCursor == 2);
    auto epoch = f.store->startNewResetEpoch(meter);
    REQUIRE(epoch.isOk());
    CHECK(*epoch == 1);
    CHECK(f.store->deviceState(meter)->glucoseCursor == 0);
    CHECK(f.store->recordGlucoseDownload(meter, GlucoseDownload{0, 0, {5}, true, {}}).status().kind() ==
          ErrorKind::kConflict);
    CHECK(f.store->recordGlucoseDownload(meter, GlucoseDownload{1, 0, {0}, false, {}})->glucoseCursor == 1);
    f.reopen();
    CHECK(f.store->deviceState(meter)->resetEpoch == 1);
    CHECK(f.store->deviceState(meter)->glucoseCursor == 1);
  }
  SECTION("the reset anchor is the highest fingerprinted record below the cursor, survives reopening and "
          "is cleared by a new epoch") {
    CHECK_FALSE(f.store->deviceState(meter)->glucoseAnchorSequence);
    // 3 arrived but 2 is missing: the cursor stops at 2, so 3 cannot be the anchor.
    GlucoseDownload d{0, 0, {0, 1, 3}, false, {{0, "t0"}, {1, "t1"}, {3, "t3"}}};
    CHECK(f.store->recordGlucoseDownload(meter, d)->glucoseCursor == 2);
    CHECK(f.store->deviceState(meter)->glucoseAnchorSequence == 1u);
    CHECK(f.store->deviceState(meter)->glucoseAnchorFingerprint == "t1");
    // A later download without fingerprints keeps the anchor.
    CHECK(f.store->recordGlucoseDownload(meter, GlucoseDownload{0, 2, {2}, false, {}})->glucoseCursor == 3);
    CHECK(f.store->deviceState(meter)->glucoseAnchorSequence == 1u);
    f.reopen();
    CHECK(f.store->deviceState(meter)->glucoseAnchorFingerprint == "t1");
    REQUIRE(f.store->startNewResetEpoch(meter).isOk());
    CHECK_FALSE(f.store->deviceState(meter)->glucoseAnchorSequence);
    CHECK(f.store->deviceState(meter)->glucoseAnchorFingerprint.empty());
  }
}

TEST_CASE("Device clock offsets and Device logical ids are kept per device", "[unit][buffer]") {
  Fixture f;
  auto key = *DeviceKey::parse("mqtt:scale-1");
  REQUIRE(f.store->recordClockOffset(key, -1500, f.clock.now()).isOk());
  REQUIRE(f.store->putDeviceLogicalId("https://a.example/fhir", key, "dev-a").isOk());
  REQUIRE(f.store->putDeviceLogicalId("https://b.example/fhir", key, "dev-b").isOk());
  f.reopen();
  CHECK(f.store->deviceState(key)->clockOffsetMs == -1500);
  CHECK(*f.store->deviceLogicalId("https://a.example/fhir", key).value() == "dev-a");
  CHECK(*f.store->deviceLogicalId("https://b.example/fhir", key).value() == "dev-b");
  REQUIRE(f.store->forgetDeviceLogicalId("https://a.example/fhir", key).isOk());
  CHECK_FALSE(f.store->deviceLogicalId("https://a.example/fhir", key)->has_value());
}

TEST_CASE("At the size cap new readings are refused while delivery and deletes keep working", "[unit][buffer][full]") {
  Fixture f;
  f.options.maxSizeBytes = 512 * 1024;
  f.options.deliveredRetention = 0h;
  f.reopen();
  int stored = 0;
  Status refused;
  for (int i = 0; i < 100000; ++i) {
    Reading r = test::sampleReading("r" + std::to_string(i), i);
    r.raw.bytes.assign(400, 0x5a);
    auto result = f.store->append({r});
    if (!result.isOk()) {
      refused = result.status();
      break;
    }
    ++stored;
  }
  REQUIRE(refused.kind() == ErrorKind::kStorageFull);
  CHECK(refused.message().find("buffer.max_size_mb") != std::string::npos);
  CHECK(f.counters().refusals == 1);
  CHECK(f.counters().backlog == static_cast<std::uint64_t>(stored));
  CHECK(f.counters().diskBytes <= 512 * 1024 + 4 * 1024 * 1024 + 65536);
  // Nothing undelivered was evicted: every stored reading is still there.
  // Delivery works at the cap...
  auto leased = f.store->lease(static_cast<std::size_t>(stored));
  REQUIRE(leased.isOk());
  CHECK(leased->size() == static_cast<std::size_t>(stored));
  std::vector<LeasedReading> half(leased->begin(), leased->begin() + stored / 2);
  f.ackAll(half);
  // ...and ingest resumes once delivered readings are pruned to tombstones.
  REQUIRE(f.store->prune().isOk());
  Reading more = test::sampleReading("after");
  CHECK(f.store->append({more}).isOk());
  REQUIRE(f.store->integrityCheck().isOk());
  CHECK(*f.store->integrityCheck() == "ok");
}

TEST_CASE("Continuous streams may evict their own oldest readings at the cap when configured", "[unit][buffer][full]") {
  Fixture f;
  f.options.maxSizeBytes = 256 * 1024;
  f.options.continuousWhenFull = ContinuousWhenFull::kEvictOldestContinuous;
  f.reopen();
  auto ecg = [](int i) {
    Reading r = test::sampleReading("ecg" + std::to_string(i), i);
    r.kind = ReadingKind::kEcg;
    r.raw.bytes.assign(400, 1);
    return r;
  };
  REQUIRE(f.store->append({test::sampleReading("clinical", 0)}).isOk());
  int i = 0;
  while (f.store->append({ecg(i)}).isOk() && i < 5000) ++i;
  // Continuous readings keep flowing by evicting their own oldest...
  CHECK(i == 5000);
  CHECK(f.counters().evictions > 0);
  // ...never the clinical reading, and clinical readings are refused at the cap.
  auto ids = f.leaseIds(100000);
  CHECK(std::find(ids.begin(), ids.end(), "clinical") != ids.end());
  Reading big = test::sampleReading("clinical-2", 1);
  big.raw.bytes.assign(200000, 1);
  CHECK(f.store->append({big}).status().kind() == ErrorKind::kStorageFull);
}

TEST_CASE("A database with a newer schema is refused and left untouched", "[unit][buffer]") {
  test::TempDir dir;
  test::FakeClock clock;
  BufferOptions options;
  options.path = dir.file("buffer.db");
  {
    auto s = SqliteBuffer::open(options, clock);
    REQUIRE(s.isOk());
  }
  test::sqlOnFile(options.path, "PRAGMA user_version=99");
  auto s = SqliteBuffer::open(options, clock);
  REQUIRE_FALSE(s.isOk());
  CHECK(s.status().kind() == ErrorKind::kUnsupported);
  CHECK(test::sqlOnFile(options.path, "PRAGMA user_version") == "99");
}

TEST_CASE("A stored body that fails its checksum is dead-lettered, never uploaded", "[unit][buffer]") {
  Fixture f;
  REQUIRE(f.store->append({test::sampleReading("bad", 1), test::sampleReading("good", 2)}).isOk());
  f.store.reset();
  test::sqlOnFile(f.options.path,
                  "UPDATE readings SET body = substr(body, 1, 20) || x'00' || substr(body, 22) WHERE id = 'bad'");
  f.reopen();
  CHECK(f.leaseIds(10) == std::vector<std::string>{"good"});
  CHECK(f.counters().corruptBodies == 1);
  auto dead = f.store->listDeadLetters(10);
  REQUIRE(dead->size() == 1);
  CHECK(dead->at(0).reading.id == "bad");
}

TEST_CASE("A stored reading can be found by its id; an unknown id finds nothing", "[unit][buffer]") {
  Fixture f;
  REQUIRE(f.store->append({test::sampleReading("r1"), test::sampleReading("r2", 1700000100)}).isOk());
  auto found = f.store->find("r2");
  REQUIRE(found.isOk());
  REQUIRE(found->has_value());
  CHECK((*found)->id == "r2");
  CHECK((*found)->components().at(0).quantity.value.toString() == "121.5");
  auto none = f.store->find("nope");
  REQUIRE(none.isOk());
  CHECK_FALSE(none->has_value());
}
