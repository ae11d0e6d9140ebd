// The BLE intake end to end: the BlueZ emulator on a private bus, the real
// BlueZ client, the profile procedures, the real IngestPipeline and a real
// SQLite buffer. Every wait is bounded by the client's and the procedures'
// timeouts; backoff and revisit times move only with the FakeClock.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>

#include "BusFixture.h"
#include "buffer/SqliteBuffer.h"
#include "drivers/ble_intake/BleIntake.h"
#include "drivers/bluez/BluezClient.h"
#include "fhir/uplink/CurlHttpTransport.h"
#include "fhir/uplink/FhirUplink.h"
#include "gateway/engine/IngestPipeline.h"
#include "gateway/engine/StreamAggregator.h"
#include "gateway/identity/Identifiers.h"
#include "gateway/log/Log.h"
#include "tests/support/FakeClock.h"
#include "tests/support/LogCanary.h"

using namespace rpm;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// The meter's address is the canary MAC: it must never reach a log line.
const std::string kMeter = test::LogCanary::kMac;
const std::string kCuff = "C0:11:22:33:44:02";
const std::string kStranger = "C0:11:22:33:44:05";
const std::string kPatientA = std::string("Patient/") + test::LogCanary::kPatientId;
const std::string kPatientB = "Patient/pt-b";

class UtcZone final : public TimeZoneRules {
 public:
  const std::string& name() const override { return name_; }
  int offsetMinutesAt(UtcInstant) const override { return 0; }
  UtcInstant toUtc(const LocalDateTime& local) const override { return fromLocal(local, 0); }

 private:
  std::string name_ = "Etc/UTC";
};

json record(int seq, const std::string& mgdl, const std::string& time, bool withContext = false) {
  json r = {{"seq", seq}, {"mg_dl", mgdl}, {"time", time}};
  if (withContext) r["meal"] = 1;
  return r;
}

json meterDevice(json records, json extra = json::object()) {
  json glucose = {{"records", std::move(records)}};
  for (auto it = extra.begin(); it != extra.end(); ++it) glucose[it.key()] = it.value();
  return {{"address", kMeter},
          {"kind", "glucose_meter"},
          {"paired", true},
          {"device_information",
           {{"serial", test::LogCanary::kSerial},
            {"software", "2.1"},
            {"hardware", "rev-b"},
            {"system_id", test::LogCanary::kSystemId}}},
          {"glucose", glucose}};
}

json scenario(std::vector<json> devices) {
  json s = {{"timing", {{"disconnect_delay_ms", 20}, {"advertising_interval_ms", 20}}}, {"devices", json::array()}};
  for (auto& d : devices) s["devices"].push_back(d);
  s["devices"].push_back({{"address", kStranger}, {"kind", "glucose_meter"}, {"paired", true},
                          {"glucose", {{"records", {record(1, "90", "2024-03-01T07:00:00")}}}}});
  return s;
}

// The real pipeline, with a record of what each submit handed to it.
class RecordingSink final : public ReadingSink {
 public:
  explicit RecordingSink(ReadingSink& next) : next_(next) {}
  Result<AppendReport> submit(std::vector<Reading> readings) override {
    std::vector<Reading> copy = readings;
    auto out = next_.submit(std::move(readings));
    std::lock_guard<std::mutex> lock(mutex_);
    if (out) {
      for (std::size_t i = 0; i < copy.size(); ++i) submitted_.emplace_back(copy[i], out->outcomes[i]);
    }
    return out;
  }
  // Sequences of glucose measurements with the given outcome, in order.
  std::vector<std::uint32_t> glucoseSequences(AppendOutcome outcome) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::uint32_t> out;
    for (const auto& [r, o] : submitted_) {
      if (r.kind == ReadingKind::kGlucose && o == outcome) out.push_back(*r.sequence);
    }
    return out;
  }
  std::vector<std::pair<Reading, AppendOutcome>> all() {
    std::lock_guard<std::mutex> lock(mutex_);
    return submitted_;
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    submitted_.clear();
  }

 private:
  ReadingSink& next_;
  std::mutex mutex_;
  std::vector<std::pair<Reading, AppendOutcome>> submitted_;
};

// Everything written to stderr while alive (log lines), for the LogCanary.
class StderrCapture {
 public:
  explicit StderrCapture(const std::string& path) : path_(path) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() { restore(); }
  std::string finish() {
    restore();
    std::ifstream in(path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::string path_;
  int saved_ = -1;
};

struct Rig {
  test::PrivateBus bus;
  std::unique_ptr<test::Emulator> emulator;
  test::FakeClock clock;
  UtcZone zone;
  DeviceAliaser aliaser{std::vector<std::uint8_t>{7, 7, 7}};
  std::unique_ptr<buffer::SqliteBuffer> buffer;
  std::unique_ptr<StreamAggregator> aggregator;
  std::unique_ptr<engine::IngestPipeline> pipeline;
  std::unique_ptr<RecordingSink> sink;
  std::shared_ptr<bluez::BluezClient> client;
  std::unique_ptr<ble::BleIntake> intake;

  explicit Rig(const json& s, ble::BleIntakeOptions options = fastOptions()) {
    emulator = std::make_unique<test::Emulator>(bus, s);
    buffer::BufferOptions o;
    o.path = bus.dir() + "/buffer.db";
    buffer = std::move(buffer::SqliteBuffer::open(o, clock)).value();
    aggregator = std::make_unique<StreamAggregator>(clock, 60s);
    pipeline = std::make_unique<engine::IngestPipeline>(*buffer, *aggregator, clock, [] {});
    sink = std::make_unique<RecordingSink>(*pipeline);
    auto c = bluez::BluezClient::connectSystemBus({}, clock);
    REQUIRE(c.isOk());
    client = *c;
    REQUIRE(client->waitReady(5s).isOk());
    auto created = ble::BleIntake::create(options, *sink, *buffer, *buffer, clock, client->adapter(), zone, aliaser);
    REQUIRE(created.isOk());
    intake = std::move(*created);
  }

  static ble::BleIntakeOptions fastOptions() {
    ble::BleIntakeOptions o;
    o.recordTimeout = 3000ms;
    o.cuffQuietTimeout = 1500ms;
    o.pollInterval = 50ms;
    return o;
  }

  void enrol(const std::string& address, std::optional<std::uint8_t> slot, const std::string& patient) {
    Enrolment e;
    e.device = *DeviceKey::bluetooth(address);
    e.userSlot = slot;
    e.patient = patient;
    e.transport = Transport::kBle;
    e.metadata = R"({"alias_hint":"kitchen"})";
    e.enrolledAt = clock.now();
    REQUIRE(buffer->putEnrolment(e).isOk());
  }

  DeviceState state(const std::string& address) { return buffer->deviceState(*DeviceKey::bluetooth(address)).value(); }

  // Runs one pass, then moves the clock past the revisit interval.
  std::size_t visit() {
    std::size_t ran = intake->runDueSessions();
    clock.advance(61s);
    return ran;
  }

  // Readings the buffer holds, found by the ids the pipeline gave them.
  std::vector<Reading> storedReadings() {
    std::vector<Reading> out;
    std::vector<std::string> seen;
    for (const auto& [r, outcome] : sink->all()) {
      std::string id = computeReadingId(r);
      if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
      seen.push_back(id);
      auto found = buffer->find(id);
      REQUIRE(found.isOk());
      if (*found) out.push_back(**found);
    }
    return out;
  }

  std::vector<std::uint32_t> storedGlucoseSequences() {
    std::vector<std::uint32_t> out;
    for (const auto& r : storedReadings()) {
      if (r.kind == ReadingKind::kGlucose) out.push_back(*r.sequence);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

std::vector<std::uint32_t> sorted(std::vector<std::uint32_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("A meter's records reach the buffer with their contexts joined, and the next visit asks only for new ones",
          "[integration][ble-intake]") {
  Rig rig(scenario({meterDevice({record(1, "95", "2024-03-01T08:00:00", true), record(2, "101", "2024-03-01T12:00:00"),
                                 record(3, "88", "2024-03-02T08:00:00", true)})}));
  rig.enrol(kMeter, std::nullopt, kPatientA);
  StderrCapture capture(rig.bus.dir() + "/stderr.txt");
  log::setLevel(log::Level::kDebug);

  CHECK(rig.visit() == 1);
  CHECK(rig.storedGlucoseSequences() == std::vector<std::uint32_t>{1, 2, 3});
  CHECK(rig.state(kMeter).glucoseCursor == 4);
  auto stored = rig.storedReadings();
  std::size_t contexts = 0;
  for (const auto& r : stored) {
    if (r.kind != ReadingKind::kGlucoseContext) continue;
    ++contexts;
    CHECK(r.subject == kPatientA);
    // The context names its own measurement by the id the pipeline gave it.
    auto measurement = std::find_if(stored.begin(), stored.end(), [&](const Reading& m) {
      return m.kind == ReadingKind::kGlucose && m.sequence == r.sequence;
    });
    REQUIRE(measurement != stored.end());
    CHECK(r.relatedReadingId == measurement->id);
  }
  CHECK(contexts == 2);

  // Device Information lands in the enrolment metadata under the builder's keys.
  auto enrolment = rig.buffer->findEnrolment(*DeviceKey::bluetooth(kMeter), std::nullopt).value();
  auto metadata = json::parse(enrolment.metadata);
  CHECK(metadata["alias_hint"] == "kitchen");
  CHECK(metadata["manufacturer"] == "Emulated Health Inc.");
  CHECK(metadata["model"] == "EGM-1");
  CHECK(metadata["serial"] == test::LogCanary::kSerial);
  CHECK(metadata["firmware"] == "1.0.7");
  CHECK(metadata["software"] == "2.1");
  CHECK(metadata["hardware"] == "rev-b");
  CHECK(metadata["system_id"] == test::LogCanary::kSystemId);  // 16 hex digits, over-the-air order

  // The second visit: two new records, and only those are sent.
  rig.sink->clear();
  rig.emulator->addGlucoseRecords(kMeter, {record(4, "110", "2024-03-03T08:00:00", true),
                                           record(5, "97", "2024-03-03T12:00:00")});
  CHECK(rig.visit() == 1);
  CHECK(rig.sink->glucoseSequences(AppendOutcome::kStored) == std::vector<std::uint32_t>{4, 5});
  CHECK(rig.sink->glucoseSequences(AppendOutcome::kDuplicate).empty());
  CHECK(rig.state(kMeter).glucoseCursor == 6);

  // A visit with nothing new stores nothing and does not start a new epoch.
  rig.sink->clear();
  CHECK(rig.visit() == 1);
  CHECK(rig.sink->all().empty());
  CHECK(rig.state(kMeter).resetEpoch == 0);
  CHECK(rig.intake->counters().counterResets == 0);

  // The meter that is not enrolled was never connected.
  CHECK(rig.emulator->counters(kStranger).count("ConnectCalls") == 0);
  std::string logs = capture.finish();
  CHECK(logs.find("glucose download done") != std::string::npos);
  CHECK(test::LogCanary::findLeaks(logs).empty());
}

TEST_CASE("A download cut off mid-way and resumed stores every record exactly once", "[integration][ble-intake]") {
  std::string order = GENERATE(std::string("stored"), std::string("descending"), std::string("interleaved"));
  CAPTURE(order);
  json records = json::array();
  for (int seq = 1; seq <= 8; ++seq) {
    records.push_back(record(seq, std::to_string(80 + seq), "2024-03-01T0" + std::to_string(seq) + ":00:00", seq % 2));
  }
  if (order == "stored") std::swap(records[2], records[5]);  // a meter reporting out of order
  Rig rig(scenario({meterDevice(records, {{"report_order", order}})}));
  rig.enrol(kMeter, std::nullopt, kPatientA);
  rig.emulator->setDisconnectAfterRecords(kMeter, 3);

  CHECK(rig.intake->runDueSessions() == 1);
  CHECK(rig.intake->counters().failedAttempts == 1);
  auto afterCut = rig.state(kMeter).glucoseCursor;
  CHECK(afterCut <= 4);  // only a gap-free run from the start counts
  rig.clock.advance(3s);  // past the first backoff
  CHECK(rig.intake->runDueSessions() == 1);
  CHECK(rig.intake->counters().failedAttempts == 1);
  CHECK(rig.storedGlucoseSequences() == std::vector<std::uint32_t>{1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(rig.sink->glucoseSequences(AppendOutcome::kStored).size() == 8);
  CHECK(rig.state(kMeter).glucoseCursor == 9);
}

TEST_CASE("A meter whose counter was reset starts a new epoch and its new records are stored",
          "[integration][ble-intake]") {
  Rig rig(scenario({meterDevice({record(1, "95", "2024-03-01T08:00:00"), record(2, "96", "2024-03-01T09:00:00"),
                                 record(3, "97", "2024-03-01T10:00:00")})}));
  rig.enrol(kMeter, std::nullopt, kPatientA);
  CHECK(rig.visit() == 1);
  CHECK(rig.state(kMeter).glucoseCursor == 4);
  // Battery change: the meter counts from 1 again, with new measurements.
  rig.emulator->setGlucoseRecords(kMeter, {record(1, "120", "2024-04-01T08:00:00", true),
                                           record(2, "121", "2024-04-01T09:00:00")});
  rig.sink->clear();
  CHECK(rig.visit() == 1);
  CHECK(rig.intake->counters().counterResets == 1);
  CHECK(rig.state(kMeter).resetEpoch == 1);
  CHECK(rig.state(kMeter).glucoseCursor == 3);
  CHECK(rig.sink->glucoseSequences(AppendOutcome::kStored) == std::vector<std::uint32_t>{1, 2});
  CHECK(rig.storedReadings().size() == 3);  // two measurements and a context of the new epoch
}

TEST_CASE("A counter that wraps at 0xFFFF keeps its epoch and misses no record across the wrap",
          "[integration][ble-intake]") {
  Rig rig(scenario({meterDevice({record(65533, "95", "2024-03-01T08:00:00")})}));
  rig.enrol(kMeter, std::nullopt, kPatientA);
  CHECK(rig.visit() == 1);
  CHECK(rig.state(kMeter).glucoseCursor == 65534);
  rig.emulator->addGlucoseRecords(kMeter, {record(65534, "96", "2024-03-02T08:00:00"),
                                           record(65535, "97", "2024-03-02T09:00:00"),
                                           record(0, "98", "2024-03-02T10:00:00"),
                                           record(1, "99", "2024-03-02T11:00:00")});
  rig.sink->clear();
  CHECK(rig.visit() == 1);
  CHECK(rig.intake->counters().wraps == 1);
  CHECK(rig.intake->counters().counterResets == 0);
  CHECK(sorted(rig.sink->glucoseSequences(AppendOutcome::kStored)) == std::vector<std::uint32_t>{0, 1, 65534, 65535});
  CHECK(rig.state(kMeter).resetEpoch == 0);
  CHECK(rig.state(kMeter).glucoseCursor == 65538);
  // Nothing new: the next visit stores nothing.
  rig.sink->clear();
  CHECK(rig.visit() == 1);
  CHECK(rig.sink->glucoseSequences(AppendOutcome::kStored).empty());
  CHECK(rig.state(kMeter).resetEpoch == 0);
}

TEST_CASE("A meter without the >= operator gets all records and the repeats are absorbed as duplicates",
          "[integration][ble-intake]") {
  Rig rig(scenario({meterDevice({record(1, "95", "2024-03-01T08:00:00", true), record(2, "96", "2024-03-01T09:00:00")},
                                {{"unsupported_operators", {3}}})}));
  rig.enrol(kMeter, std::nullopt, kPatientA);
  CHECK(rig.visit() == 1);
  rig.emulator->addGlucoseRecords(kMeter, json::array({record(3, "97", "2024-03-01T10:00:00")}));
  rig.sink->clear();
  CHECK(rig.visit() == 1);
  CHECK(rig.intake->counters().operatorFallbacks == 1);
  CHECK(rig.sink->glucoseSequences(AppendOutcome::kStored) == std::vector<std::uint32_t>{3});
  CHECK(sorted(rig.sink->glucoseSequences(AppendOutcome::kDuplicate)) == std::vector<std::uint32_t>{1, 2});
  CHECK(rig.storedGlucoseSequences() == std::vector<std::uint32_t>{1, 2, 3});
  CHECK(rig.state(kMeter).glucoseCursor == 4);
}

TEST_CASE("A multi-user cuff's readings bind to the enrolled slot and the unbound slot's are held",
          "[integration][ble-intake]") {
  json cuff = {{"address", kCuff},
               {"kind", "bp_cuff"},
               {"paired", true},
               {"blood_pressure",
                {{"records",
                  {{{"user", 1}, {"systolic", "121"}, {"diastolic", "79"}, {"map", "93"}, {"pulse", "66"},
                    {"time", "2024-03-01T08:00:00"}},
                   {{"user", 2}, {"systolic", "135"}, {"diastolic", "85"}, {"map", "102"},
                    {"time", "2024-03-01T08:05:00"}}}}}}};
  const std::string generic = "C0:11:22:33:44:07";  // enrolled, but neither a meter nor a cuff
  Rig rig(scenario({cuff, {{"address", generic}, {"kind", "generic"}, {"paired", true}}}));
  rig.enrol(kCuff, std::uint8_t{1}, kPatientB);
  rig.enrol(generic, std::nullopt, kPatientB);
  CHECK(rig.visit() == 1);
  auto counters = rig.intake->counters();
  CHECK(counters.cuffMeasurements == 2);
  CHECK(counters.stored == 1);
  CHECK(counters.held == 1);
  auto stored = rig.storedReadings();
  REQUIRE(stored.size() == 2);
  for (const auto& r : stored) {
    CHECK(r.kind == ReadingKind::kBloodPressure);
    REQUIRE(r.userSlot);
    CHECK(r.subject == (*r.userSlot == 1 ? kPatientB : std::string()));  // held, never guessed
  }
  CHECK(rig.buffer->counters().value().held == 1);
  CHECK(rig.buffer->counters().value().backlog == 1);
  // The cuff again (it indicates the same stored measurements: duplicates); the generic device is counted once.
  CHECK(rig.visit() == 1);
  CHECK(rig.intake->counters().duplicates == 2);
  CHECK(rig.buffer->counters().value().held == 1);
  CHECK(rig.intake->counters().unsupportedDevices == 1);
  CHECK(rig.emulator->counters(generic).count("ConnectCalls") == 0);
}

TEST_CASE("BlueZ errors and a malformed System ID are survived, counted and logged by alias only",
          "[integration][ble-intake]") {
  json meter = meterDevice({record(1, "95", "2024-03-01T08:00:00")});
  meter["device_information"]["system_id"] = "CAFE";  // 2 bytes: malformed
  Rig rig(scenario({meter}));
  rig.enrol(kMeter, std::nullopt, kPatientA);
  StderrCapture capture(rig.bus.dir() + "/stderr.txt");
  log::setLevel(log::Level::kDebug);
  rig.emulator->injectError(kMeter, "Connect", "org.bluez.Error.Failed", "le-connection-abort-by-local", 1);
  CHECK(rig.intake->runDueSessions() == 1);
  rig.emulator->injectError(kMeter, "StartNotify", "org.bluez.Error.NotReady", "Resource Not Ready", 1);
  rig.clock.advance(3s);
  CHECK(rig.intake->runDueSessions() == 1);
  rig.emulator->injectError(kMeter, "WriteValue", "org.bluez.Error.InProgress", "In Progress", 1);
  rig.clock.advance(5s);
  CHECK(rig.intake->runDueSessions() == 1);
  rig.clock.advance(9s);
  CHECK(rig.intake->runDueSessions() == 1);
  std::string logs = capture.finish();
  INFO(logs);
  auto counters = rig.intake->counters();
  CHECK(counters.attempts == 4);
  CHECK(counters.failedAttempts == 3);
  CHECK(counters.malformed == 1);
  CHECK(rig.storedGlucoseSequences() == std::vector<std::uint32_t>{1});
  auto metadata = json::parse(rig.buffer->findEnrolment(*DeviceKey::bluetooth(kMeter), std::nullopt).value().metadata);
  CHECK_FALSE(metadata.contains("system_id"));
  CHECK(metadata["serial"] == test::LogCanary::kSerial);
  CHECK(logs.find("connection attempt failed") != std::string::npos);
  CHECK(logs.find(rig.aliaser.aliasFor(*DeviceKey::bluetooth(kMeter)).text()) != std::string::npos);
  CHECK(test::LogCanary::findLeaks(logs).empty());
}

TEST_CASE("The started intake runs on its own thread, and stop returns with every submitted record recorded",
          "[integration][ble-intake]") {
  Rig rig(scenario({meterDevice({record(1, "95", "2024-03-01T08:00:00"), record(2, "96", "2024-03-01T09:00:00")})}));
  rig.enrol(kMeter, std::nullopt, kPatientA);
  REQUIRE(rig.intake->start().isOk());
  CHECK(rig.intake->start().kind() == ErrorKind::kConflict);
  // Bounded wait for the worker's first session (a readiness signal: the cursor).
  for (int i = 0; i < 200 && rig.state(kMeter).glucoseCursor != 3; ++i) std::this_thread::sleep_for(25ms);
  rig.intake->stop();
  rig.intake->stop();  // idempotent
  CHECK(rig.state(kMeter).glucoseCursor == 3);
  CHECK(rig.storedGlucoseSequences() == std::vector<std::uint32_t>{1, 2});
}

// Hidden from the default run: needs the FHIR test server (ctest runs it with SERVICES fhir).
TEST_CASE("Readings from the meter and the cuff become valid Observations at the FHIR test server, with the DIS "
          "Device", "[.][ble-fhir]") {
  const char* base = std::getenv("RPM_TEST_FHIR_BASE_URL");
  REQUIRE(base != nullptr);
  json cuff = {{"address", kCuff},
               {"kind", "bp_cuff"},
               {"paired", true},
               {"blood_pressure",
                {{"records", {{{"user", 1}, {"systolic", "121"}, {"diastolic", "79"}, {"map", "93"},
                               {"pulse", "66"}, {"time", "2024-03-01T08:00:00"}}}}}}};
  Rig rig(scenario({meterDevice({record(1, "95", "2024-03-01T08:00:00", true), record(2, "101", "2024-03-01T12:00:00")}),
                    cuff}));
  rig.enrol(kMeter, std::nullopt, "Patient/123");
  rig.enrol(kCuff, std::uint8_t{1}, "Patient/123");
  CHECK(rig.visit() == 2);

  fhir::CurlTransportOptions transportOptions;
  transportOptions.requestTimeoutMs = 20000;
  fhir::CurlHttpTransport transport(transportOptions);
  auto auth = fhir::makeNoAuthorization();
  fhir::FhirUplinkOptions options;
  options.baseUrl = base;
  options.hub = fhir::HubRecord{"hub-test", "DC:A6:32:00:00:01", "0.1.0"};
  buffer::SqliteBuffer* store = rig.buffer.get();
  // The daemon's Device builder: the DIS values the intake recorded in the enrolment metadata.
  fhir::FhirUplink uplink(
      options, transport, *auth, *store, rig.zone, rig.clock,
      [store](const Reading& r) {
        fhir::DeviceRecord d;
        d.key = r.device;
        d.kinds = {r.kind};
        d.source = fhir::DeviceInfoSource::kBleDeviceInformation;
        auto e = store->findEnrolment(r.device, r.userSlot);
        json meta = e.isOk() ? json::parse(e->metadata, nullptr, false) : json();
        auto text = [&](const char* k) { return meta.contains(k) ? meta[k].get<std::string>() : std::string(); };
        d.manufacturer = text("manufacturer");
        d.modelNumber = text("model");
        d.serialNumber = text("serial");
        d.firmwareRevision = text("firmware");
        d.softwareRevision = text("software");
        d.hardwareRevision = text("hardware");
        d.systemIdHex = text("system_id");
        return d;
      },
      [store](const std::string& id) { return store->find(id); });

  auto leased = rig.buffer->lease(100);
  REQUIRE(leased.isOk());
  std::vector<Reading> readings;
  for (const auto& l : *leased) readings.push_back(l.reading);
  REQUIRE(readings.size() == 4);  // two glucose records, one context, one cuff reading
  auto outcomes = uplink.deliver(readings);
  REQUIRE(outcomes.size() == readings.size());
  std::size_t observations = 0;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    INFO(readingKindName(readings[i].kind) << ": " << outcomes[i].reason.toString() << " "
                                            << outcomes[i].rejection.reason);
    CHECK(outcomes[i].verdict == DeliveryVerdict::kDelivered);
    observations += outcomes[i].receipt.resourceIds.size();
  }
  CHECK(observations >= 3);
}
