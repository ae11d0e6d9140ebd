// Decommission support of the buffer (gateway/ports/PatientDataStore.h):
// the export walk, the all-at-once erase and the scrub of the database file.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>

#include "buffer/SqliteBuffer.h"
#include "tests/support/FakeClock.h"
#include "tests/unit/buffer/BufferFixtures.h"

using namespace rpm;
using namespace rpm::buffer;
using namespace std::chrono_literals;

namespace {

const std::string kPlantedPatient = "Patient/planted-pt-4f7e1a";
const std::string kPlantedDevice = "mqtt:planted-cuff-93ab";
const std::string kPlantedValue = "\"systolic\":\"137.25-planted\"";  // as a device's JSON carries it

struct Fixture {
  test::TempDir dir;
  test::FakeClock clock;
  BufferOptions options;
  std::unique_ptr<SqliteBuffer> store;

  Fixture() {
    options.path = dir.file("buffer.db");
    reopen();
  }
  void reopen() {
    store.reset();
    auto opened = SqliteBuffer::open(options, clock);
    REQUIRE(opened.isOk());
    store = std::move(opened).value();
  }
  Reading planted(const std::string& id, const std::string& device) {
    Reading r = test::sampleReading(id, 1700000000 + static_cast<int>(id.size()), Priority::kLive, "");
    r.device = *DeviceKey::parse(device);
    r.raw = RawPayload{"mqtt-native/1", std::vector<std::uint8_t>(kPlantedValue.begin(), kPlantedValue.end())};
    return r;
  }
  // A hub after a few days with one patient: delivered, queued, held and dead-lettered readings.
  void fill() {
    Enrolment e;
    e.device = *DeviceKey::parse(kPlantedDevice);
    e.patient = kPlantedPatient;
    e.transport = Transport::kMqtt;
    e.metadata = "{}";
    REQUIRE(store->putEnrolment(e).isOk());
    std::vector<Reading> bound;
    for (int i = 0; i < 6; ++i) bound.push_back(planted("bound-" + std::to_string(i), kPlantedDevice));
    REQUIRE(store->append(bound).isOk());
    REQUIRE(store->append({planted("held-0", "mqtt:stranger-01")}).isOk());
    auto leased = store->lease(3);
    REQUIRE(leased.isOk());
    REQUIRE(leased->size() == 3);
    REQUIRE(store->ack({{leased->at(0).reading.id, leased->at(0).leaseId, {{"Observation/1"}, "201"}},
                        {leased->at(1).reading.id, leased->at(1).leaseId, {{"Observation/2"}, "201"}}})
                .isOk());
    REQUIRE(store->reject(leased->at(2).reading.id, leased->at(2).leaseId, Rejection{422, "bad for " + kPlantedPatient})
                .isOk());
    REQUIRE(store->recordClockOffset(*DeviceKey::parse(kPlantedDevice), 1500, clock.now()).isOk());
    REQUIRE(store->putDeviceLogicalId("http://fhir.example/R4", *DeviceKey::parse(kPlantedDevice), "dev-1").isOk());
  }
  std::vector<UndeliveredReading> undelivered() {
    std::vector<UndeliveredReading> out;
    REQUIRE(store->forEachUndelivered([&](const UndeliveredReading& u) {
      out.push_back(u);
      return Status::ok();
    }).isOk());
    return out;
  }
};

std::string fileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Whether any of the planted strings is anywhere in the database or its WAL.
bool plantedBytesOnDisk(const std::string& dbPath) {
  for (const std::string& file : {dbPath, dbPath + "-wal"}) {
    std::string bytes = fileBytes(file);
    for (const std::string& needle : {kPlantedPatient, std::string("planted-cuff-93ab"), std::string("137.25-planted")}) {
      if (bytes.find(needle) != std::string::npos) return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("Every queued, held and dead-lettered reading is walked for the export, delivered ones are not",
          "[unit][buffer][decommission]") {
  Fixture f;
  f.fill();
  auto all = f.undelivered();
  REQUIRE(all.size() == 5);  // 3 queued, 1 held, 1 dead letter
  CHECK(all[0].state == UndeliveredState::kQueued);
  CHECK(all[2].state == UndeliveredState::kQueued);
  CHECK(all[3].state == UndeliveredState::kHeld);
  CHECK(all[3].reading.subject.empty());
  CHECK(all[3].reading.id == "held-0");
  CHECK(all[4].state == UndeliveredState::kDeadLetter);
  CHECK(all[4].httpStatus == 422);
  CHECK(all[4].rejectedAt.has_value());
  CHECK(all[0].reading.subject == kPlantedPatient);
  CHECK(all[0].bodyIntact);
  CHECK_FALSE(all[0].storedBody.empty());
}

TEST_CASE("Erasing refuses while undelivered readings were neither exported nor discarded, and erases nothing",
          "[unit][buffer][decommission]") {
  Fixture f;
  f.fill();
  auto refused = f.store->erasePatientData(EraseRequest{});
  REQUIRE_FALSE(refused.isOk());
  CHECK(refused.status().kind() == ErrorKind::kConflict);
  EraseRequest stale;
  stale.exportedUndelivered = 4;  // one more arrived after the export
  CHECK(f.store->erasePatientData(stale).status().kind() == ErrorKind::kConflict);
  CHECK(f.store->listEnrolments()->size() == 1);
  CHECK(f.undelivered().size() == 5);
}

TEST_CASE("An erase after a complete export removes every trace of the patient and reports counts",
          "[unit][buffer][decommission]") {
  Fixture f;
  f.fill();
  EraseRequest request;
  request.exportedUndelivered = f.undelivered().size();
  auto report = f.store->erasePatientData(request);
  REQUIRE(report.isOk());
  CHECK(report->enrolments == 1);
  CHECK(report->queued == 3);
  CHECK(report->held == 1);
  CHECK(report->delivered == 2);
  CHECK(report->deadLetters == 1);
  CHECK(report->deviceStates == 1);
  CHECK(report->logicalIds == 1);
  CHECK(report->tombstonesAdded == 7);
  CHECK(report->scrubbed);
  CHECK(f.store->listEnrolments()->empty());
  CHECK(f.undelivered().empty());
  auto c = f.store->counters();
  CHECK(c->backlog == 0);
  CHECK(c->held == 0);
  CHECK(c->deadLetters == 0);
  CHECK(f.store->deviceState(*DeviceKey::parse(kPlantedDevice))->clockOffsetMs == std::nullopt);
  CHECK(*f.store->deviceLogicalId("http://fhir.example/R4", *DeviceKey::parse(kPlantedDevice)) == std::nullopt);
  CHECK(*f.store->integrityCheck() == "ok");
}

TEST_CASE("After the erase no byte of the planted patient id, device or value is left in the database files",
          "[unit][buffer][decommission]") {
  Fixture f;
  f.fill();
  REQUIRE(plantedBytesOnDisk(f.options.path));  // the scan sees them while they are stored
  EraseRequest request;
  request.discardUndelivered = true;
  REQUIRE(f.store->erasePatientData(request).isOk());
  CHECK_FALSE(plantedBytesOnDisk(f.options.path));
  f.reopen();  // and reopening brings nothing back
  CHECK_FALSE(plantedBytesOnDisk(f.options.path));
}

TEST_CASE("The byte scan catches an erase that only deletes rows without scrubbing the file",
          "[unit][buffer][decommission]") {
  Fixture f;
  f.options.skipScrubForTest = true;
  f.reopen();
  f.fill();
  EraseRequest request;
  request.discardUndelivered = true;
  REQUIRE(f.store->erasePatientData(request).isOk());
  CHECK(f.store->listEnrolments()->empty());
  CHECK(plantedBytesOnDisk(f.options.path));
}

TEST_CASE("Quarantined copies of the database are removed by the erase", "[unit][buffer][decommission]") {
  Fixture f;
  f.fill();
  std::ofstream(f.options.path + ".quarantine-1700000000") << kPlantedPatient;
  EraseRequest request;
  request.discardUndelivered = true;
  REQUIRE(f.store->erasePatientData(request)->scrubbed);
  CHECK_FALSE(std::ifstream(f.options.path + ".quarantine-1700000000").good());
}

TEST_CASE("A re-sent reading of the previous patient is a duplicate, never bound to the next patient",
          "[unit][buffer][decommission]") {
  Fixture f;
  f.fill();
  EraseRequest request;
  request.discardUndelivered = true;
  REQUIRE(f.store->erasePatientData(request).isOk());
  Enrolment next;
  next.device = *DeviceKey::parse(kPlantedDevice);
  next.patient = "Patient/next";
  next.transport = Transport::kMqtt;
  REQUIRE(f.store->putEnrolment(next).isOk());
  auto report = f.store->append({f.planted("bound-4", kPlantedDevice), f.planted("new-1", kPlantedDevice)});
  REQUIRE(report.isOk());
  CHECK(report->outcomes[0] == AppendOutcome::kDuplicate);
  CHECK(report->outcomes[1] == AppendOutcome::kStored);
  auto leased = f.store->lease(10);
  REQUIRE(leased->size() == 1);
  CHECK(leased->at(0).reading.subject == "Patient/next");
}

TEST_CASE("A second erase with nothing left succeeds and retries the scrub", "[unit][buffer][decommission]") {
  Fixture f;
  f.fill();
  EraseRequest request;
  request.discardUndelivered = true;
  REQUIRE(f.store->erasePatientData(request).isOk());
  auto again = f.store->erasePatientData(EraseRequest{});
  REQUIRE(again.isOk());
  CHECK(again->enrolments == 0);
  CHECK(again->scrubbed);
}
