// The heart-rate, pulse-oximeter, thermometer and weight-scale procedures and
// the device-clock step end to end: the BlueZ emulator on a private bus, the
// real BlueZ client, BleIntake, the real IngestPipeline + StreamAggregator and
// a real SQLite buffer; with [ble-profiles-fhir], the validating FHIR server.
// Waits are bounded and poll a state (counters, stream status); stalls,
// backoff and revisits move only with the FakeClock.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <map>
#include <set>
#include <thread>

#include "BusFixture.h"
#include "buffer/SqliteBuffer.h"
#include "drivers/ble_intake/BleIntake.h"
#include "drivers/ble_intake/DeviceClock.h"
#include "drivers/bluez/BluezClient.h"
#include "fhir/uplink/CurlHttpTransport.h"
#include "fhir/uplink/FhirUplink.h"
#include "gateway/engine/IngestPipeline.h"
#include "gateway/engine/StreamAggregator.h"
#include "gateway/identity/Identifiers.h"
#include "tests/support/FakeClock.h"

using namespace rpm;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::string kHeartRate = "C0:11:22:33:55:01";
const std::string kOximeter = "C0:11:22:33:55:02";
const std::string kThermometer = "C0:11:22:33:55:03";
const std::string kScale = "C0:11:22:33:55:04";
const std::string kMeter = "C0:11:22:33:55:05";
const std::string kPatient = "Patient/123";

class UtcZone final : public TimeZoneRules {
 public:
  const std::string& name() const override { return name_; }
  int offsetMinutesAt(UtcInstant) const override { return 0; }
  UtcInstant toUtc(const LocalDateTime& local) const override { return fromLocal(local, 0); }

 private:
  std::string name_ = "Etc/UTC";
};

// What each submit handed to the real pipeline, with its outcome.
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
  std::vector<std::pair<Reading, AppendOutcome>> all() {
    std::lock_guard<std::mutex> lock(mutex_);
    return submitted_;
  }

 private:
  ReadingSink& next_;
  std::mutex mutex_;
  std::vector<std::pair<Reading, AppendOutcome>> submitted_;
};

json scenario(std::vector<json> devices) {
  json s = {{"timing", {{"disconnect_delay_ms", 20}, {"advertising_interval_ms", 20}}}, {"devices", json::array()}};
  for (auto& d : devices) s["devices"].push_back(d);
  return s;
}

// Bounded poll of a condition the worker thread makes true.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 10s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

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
    o.cuffQuietTimeout = 1000ms;
    o.pollInterval = 50ms;
    o.streamStallTimeout = 5000ms;  // fake time
    return o;
  }

  void enrol(const std::string& address, std::optional<std::uint8_t> slot) {
    Enrolment e;
    e.device = *DeviceKey::bluetooth(address);
    e.userSlot = slot;
    e.patient = kPatient;
    e.transport = Transport::kBle;
    e.metadata = "{}";
    e.enrolledAt = clock.now();
    REQUIRE(buffer->putEnrolment(e).isOk());
  }

  std::size_t visit() {
    std::size_t ran = intake->runDueSessions();
    clock.advance(61s);
    return ran;
  }

  std::optional<ble::BleStreamStatus> stream() {
    auto all = intake->streams();
    if (all.empty()) return std::nullopt;
    return all.front();
  }

  // Follows a stream on the worker thread, stops it at the emulator, moves
  // the fake clock past the stall timeout and waits for "stopped".
  void streamThenStall(const std::string& address, const std::function<std::uint64_t()>& samples) {
    REQUIRE(intake->start().isOk());
    REQUIRE(eventually([&] { return samples() >= 8; }));
    CHECK(stream().has_value());
    CHECK(stream()->state == "streaming");
    CHECK(stream()->lastSampleAt.has_value());
    emulator->setStreaming(address, false);
    // Samples already on the bus may still arrive and count as fresh; the fake
    // clock moves a second per poll until 5 s pass with none.
    REQUIRE(eventually([&] {
      if (stream() && stream()->state == "stopped") return true;
      clock.advance(1s);
      return false;
    }));
    intake->stop();
    REQUIRE(pipeline->flushWindows().isOk());
  }

  // Every leasable reading in the buffer (bound, not held).
  std::vector<Reading> leaseAll() {
    auto leased = buffer->lease(1000);
    REQUIRE(leased.isOk());
    std::vector<Reading> out;
    for (const auto& l : *leased) out.push_back(l.reading);
    return out;
  }
};

std::size_t countKind(const std::vector<Reading>& readings, ReadingKind kind, bool aggregate) {
  return static_cast<std::size_t>(std::count_if(readings.begin(), readings.end(), [&](const Reading& r) {
    return r.kind == kind && r.effectiveEnd.has_value() == aggregate;
  }));
}

json heartRateMonitor() {
  return {{"address", kHeartRate},
          {"kind", "heart_rate_monitor"},
          {"paired", true},
          {"heart_rate",
           {{"interval_ms", 10},
            {"samples", {{{"bpm", 72}, {"rr_1024", {850, 840}}}, {{"bpm", 73}, {"rr_1024", {830}}}}}}}};
}

json oximeter(bool racp, bool continuous) {
  json plx = {{"racp", racp},
              {"spot_checks",
               {{{"spo2", "97"}, {"pulse", "64"}, {"time", "2023-11-14T20:00:00"}},
                {{"spo2", "95"}, {"pulse", "70"}, {"time", "2023-11-14T21:00:00"}}}},
              {"interval_ms", 10}};
  if (continuous) plx["continuous"] = {{{"spo2", "96"}, {"pulse", "71"}}, {{"spo2", "98"}, {"pulse", "69"}}};
  return {{"address", kOximeter}, {"kind", "pulse_oximeter"}, {"paired", true}, {"pulse_oximeter", plx}};
}

json thermometer() {
  return {{"address", kThermometer},
          {"kind", "thermometer"},
          {"paired", true},
          {"thermometer",
           {{"measurements",
             {{{"celsius", "37.2"}, {"time", "2023-11-14T21:00:00"}, {"intermediate", {"36.1", "36.8", "37.1"}}},
              {{"celsius", "38.05"}, {"time", "2023-11-14T21:30:00"}}}}}}};
}

json scale() {
  return {{"address", kScale},
          {"kind", "weight_scale"},
          {"paired", true},
          {"weight_scale",
           {{"records",
             {{{"kg", "72.5"}, {"user", 1}, {"time", "2023-11-14T07:00:00"}},
              {{"kg", "81.35"}, {"user", 2}, {"time", "2023-11-14T07:05:00"}}}}}}};
}

// A glucose meter whose clock is one hour behind the hub (FakeClock starts at
// 2023-11-14T22:13:20Z, the zone is UTC).
json meterOneHourBehind(bool writable) {
  return {{"address", kMeter},
          {"kind", "glucose_meter"},
          {"paired", true},
          {"device_time", "2023-11-14T21:13:20"},
          {"current_time", {{"writable", writable}}},
          {"glucose",
           {{"records",
             {{{"seq", 1}, {"mg_dl", "95"}, {"time", "2023-11-14T08:00:00"}},
              {{"seq", 2}, {"mg_dl", "101"}, {"time", "2023-11-14T12:00:00"}}}}}}};
}

}  // namespace

TEST_CASE("A heart-rate monitor's notifications with RR intervals become windows, and a stream that stops is shown "
          "as stopped", "[integration][ble-profiles]") {
  Rig rig(scenario({heartRateMonitor()}));
  rig.enrol(kHeartRate, std::nullopt);
  rig.streamThenStall(kHeartRate, [&] { return rig.intake->counters().heartRateNotifications; });
  auto counters = rig.intake->counters();
  CHECK(counters.streamStalls == 1);
  CHECK(counters.malformed == 0);
  auto stored = rig.leaseAll();
  // Only window summaries are stored: one heart-rate window and one RR window, no raw samples.
  CHECK(countKind(stored, ReadingKind::kHeartRate, false) == 0);
  REQUIRE(countKind(stored, ReadingKind::kHeartRate, true) == 1);
  REQUIRE(countKind(stored, ReadingKind::kRrIntervals, true) == 1);
  for (const auto& r : stored) {
    CHECK(r.subject == kPatient);
    if (r.kind != ReadingKind::kRrIntervals) continue;
    // Every interval of every notification, in arrival order: 850, 840, 830, 850, ... (1/1024 s -> ms).
    REQUIRE(r.components().size() >= 8);
    CHECK(r.components()[0].quantity.value.toString() == "830");
    CHECK(r.components()[1].quantity.value.toString() == "820");
    CHECK(r.components()[2].quantity.value.toString() == "811");
  }
}

TEST_CASE("A pulse oximeter's stored spot-checks come through RACP, and its continuous stream is aggregated",
          "[integration][ble-profiles]") {
  Rig rig(scenario({oximeter(true, true)}));
  rig.enrol(kOximeter, std::nullopt);
  rig.streamThenStall(kOximeter, [&] { return rig.intake->counters().plxContinuous; });
  CHECK(rig.emulator->counters(kOximeter)["RacpRequests"] == 1);
  auto counters = rig.intake->counters();
  CHECK(counters.plxSpotChecks == 2);
  CHECK(counters.streamStalls == 1);
  auto stored = rig.leaseAll();
  // Two spot-checks from storage, unchanged; one window of continuous medians.
  std::size_t spot = 0;
  for (const auto& r : stored) {
    if (r.kind != ReadingKind::kPulseOximetry || r.effectiveEnd) continue;
    ++spot;
    CHECK(r.priority == Priority::kStored);
    REQUIRE(r.deviceTime.has_value());
  }
  CHECK(spot == 2);
  CHECK(countKind(stored, ReadingKind::kPulseOximetry, true) == 1);
}

TEST_CASE("A spot-check oximeter without RACP indicates its measurements and goes away", "[integration][ble-profiles]") {
  Rig rig(scenario({oximeter(false, false)}));
  rig.enrol(kOximeter, std::nullopt);
  CHECK(rig.visit() == 1);
  CHECK(rig.intake->counters().plxSpotChecks == 2);
  CHECK(rig.intake->counters().failedSessions == 0);
  CHECK(rig.intake->streams().empty());  // no stream, nothing to show
  CHECK(countKind(rig.leaseAll(), ReadingKind::kPulseOximetry, false) == 2);
}

TEST_CASE("A thermometer's final temperatures are stored and its intermediate temperatures only counted",
          "[integration][ble-profiles]") {
  Rig rig(scenario({thermometer()}));
  rig.enrol(kThermometer, std::nullopt);
  CHECK(rig.visit() == 1);
  auto counters = rig.intake->counters();
  CHECK(counters.temperatures == 2);
  CHECK(counters.intermediateIgnored == 3);
  auto stored = rig.leaseAll();
  REQUIRE(stored.size() == 2);
  std::vector<std::string> values;
  for (const auto& r : stored) {
    CHECK(r.kind == ReadingKind::kBodyTemperature);
    values.push_back(r.components().at(0).quantity.value.toString() + " " + r.components().at(0).quantity.unit);
  }
  std::sort(values.begin(), values.end());
  CHECK(values == std::vector<std::string>{"37.2 Cel", "38.05 Cel"});  // device precision kept
}

TEST_CASE("A weight scale's reading for the enrolled slot is bound and the other slot's is held, never guessed",
          "[integration][ble-profiles]") {
  Rig rig(scenario({scale()}));
  rig.enrol(kScale, std::uint8_t{1});
  CHECK(rig.visit() == 1);
  CHECK(rig.intake->counters().weights == 2);
  auto all = rig.sink->all();
  REQUIRE(all.size() == 2);
  for (const auto& [r, outcome] : all) {
    REQUIRE(r.userSlot.has_value());
    if (*r.userSlot == 1) {
      CHECK(outcome == AppendOutcome::kStored);
      CHECK(r.components().at(0).quantity.value.toString() == "72.500");
    } else {
      CHECK(outcome == AppendOutcome::kHeld);
    }
  }
  auto stored = rig.leaseAll();
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].subject == kPatient);
}

TEST_CASE("A device clock off by an hour is recorded on the records taken on it and set after the download when the "
          "hub is synchronized", "[integration][ble-profiles][device-clock]") {
  auto options = Rig::fastOptions();
  options.revisitInterval = 2s;
  Rig rig(scenario({meterOneHourBehind(true)}), options);
  rig.enrol(kMeter, std::nullopt);
  CHECK(rig.intake->runDueSessions() == 1);
  CHECK(rig.emulator->counters(kMeter)["CurrentTimeWritten"] == 1);
  auto counters = rig.intake->counters();
  CHECK(counters.clockSkewsRecorded == 1);
  CHECK(counters.deviceClocksSet == 1);
  auto stored = rig.leaseAll();
  REQUIRE(stored.size() == 2);
  for (const auto& r : stored) {
    REQUIRE(r.clockSkewMs.has_value());
    CHECK(*r.clockSkewMs == 3600000);  // hub local minus device clock, measured before the write
  }
  // The next visit finds the clock right: nothing recorded, nothing written.
  rig.clock.advance(3s);
  rig.emulator->addGlucoseRecords(kMeter, json::array({{{"seq", 3}, {"mg_dl", "99"}, {"time", "2023-11-14T22:13:00"}}}));
  CHECK(rig.intake->runDueSessions() == 1);
  CHECK(rig.emulator->counters(kMeter)["CurrentTimeWritten"] == 1);
  auto later = rig.leaseAll();
  REQUIRE(later.size() == 1);
  CHECK_FALSE(later[0].clockSkewMs.has_value());
}

TEST_CASE("A device clock is never set from an unsynchronized hub, and no skew is recorded",
          "[integration][ble-profiles][device-clock]") {
  Rig rig(scenario({meterOneHourBehind(true)}));
  rig.clock.setSynchronized(false);
  rig.enrol(kMeter, std::nullopt);
  CHECK(rig.visit() == 1);
  CHECK(rig.emulator->counters(kMeter)["CurrentTimeWritten"] == 0);
  CHECK(rig.intake->counters().clockNotSetHubUnsynchronized == 1);
  CHECK(rig.intake->counters().deviceClocksSet == 0);
  auto stored = rig.leaseAll();
  REQUIRE(stored.size() == 2);
  for (const auto& r : stored) CHECK_FALSE(r.clockSkewMs.has_value());
}

TEST_CASE("A read-only device clock is left alone, but its skew still corrects the records",
          "[integration][ble-profiles][device-clock]") {
  Rig rig(scenario({meterOneHourBehind(false)}));
  rig.enrol(kMeter, std::nullopt);
  CHECK(rig.visit() == 1);
  CHECK(rig.emulator->counters(kMeter)["WriteValue"] == 1);  // the RACP request only
  CHECK(rig.intake->counters().clockNotSetReadOnly == 1);
  for (const auto& r : rig.leaseAll()) CHECK(r.clockSkewMs == std::optional<std::int64_t>(3600000));
}

TEST_CASE("The unsynchronized-hub test catches a planted bug that sets the device clock anyway",
          "[integration][ble-profiles][device-clock]") {
  auto options = Rig::fastOptions();
  options.plantIgnoreHubSynchronizationForTest = true;
  Rig rig(scenario({meterOneHourBehind(true)}), options);
  rig.clock.setSynchronized(false);
  rig.enrol(kMeter, std::nullopt);
  CHECK(rig.visit() == 1);
  // The assertion the guard test makes (no write) fails with the bug planted.
  CHECK(rig.emulator->counters(kMeter)["CurrentTimeWritten"] == 1);
}

TEST_CASE("Current Time encodes the hub's wall clock with its day of week and the manual-update reason",
          "[integration][ble-profiles][device-clock]") {
  auto t = LocalDateTime::parse("2023-11-14T22:13:20");
  REQUIRE(t.has_value());
  // 2023-11-14 was a Tuesday (2).
  CHECK(ble::encodeCurrentTime(*t) == std::vector<std::uint8_t>{0xE7, 0x07, 11, 14, 22, 13, 20, 2, 0, 0x01});
}

TEST_CASE("Readings from the heart-rate monitor, oximeter, thermometer, scale and a clock-corrected meter become "
          "valid Observations at the FHIR test server", "[.][ble-profiles-fhir]") {
  const char* base = std::getenv("RPM_TEST_FHIR_BASE_URL");
  REQUIRE(base != nullptr);
  Rig rig(scenario({heartRateMonitor(), oximeter(true, false), thermometer(), scale(), meterOneHourBehind(true)}));
  for (const auto& a : {kOximeter, kThermometer, kMeter}) rig.enrol(a, std::nullopt);
  rig.enrol(kScale, std::uint8_t{1});
  CHECK(rig.visit() == 4);
  rig.enrol(kHeartRate, std::nullopt);
  rig.streamThenStall(kHeartRate, [&] { return rig.intake->counters().heartRateNotifications; });

  fhir::CurlTransportOptions transportOptions;
  transportOptions.requestTimeoutMs = 20000;
  fhir::CurlHttpTransport transport(transportOptions);
  auto auth = fhir::makeNoAuthorization();
  fhir::FhirUplinkOptions options;
  options.baseUrl = base;
  options.hub = fhir::HubRecord{"hub-test", "DC:A6:32:00:00:01", "0.1.0"};
  buffer::SqliteBuffer* store = rig.buffer.get();
  fhir::FhirUplink uplink(
      options, transport, *auth, *store, rig.zone, rig.clock,
      [](const Reading& r) {
        fhir::DeviceRecord d;
        d.key = r.device;
        d.kinds = {r.kind};
        d.source = fhir::DeviceInfoSource::kBleDeviceInformation;
        d.manufacturer = "Emulated Health Inc.";
        d.modelNumber = "E-1";
        return d;
      },
      [store](const std::string& id) { return store->find(id); });

  auto readings = rig.leaseAll();
  std::set<ReadingKind> kinds;
  for (const auto& r : readings) kinds.insert(r.kind);
  CHECK(kinds == std::set<ReadingKind>{ReadingKind::kHeartRate, ReadingKind::kRrIntervals, ReadingKind::kPulseOximetry,
                                       ReadingKind::kBodyTemperature, ReadingKind::kBodyWeight, ReadingKind::kGlucose});
  // One Bundle: the corrected glucose records share one Coincident Time Stamp Observation (decision 0045).
  auto outcomes = uplink.deliver(readings);
  REQUIRE(outcomes.size() == readings.size());
  std::size_t observations = 0;
  std::map<std::string, int> glucoseIds;  // resource id -> glucose readings naming it
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    INFO(readingKindName(readings[i].kind) << ": " << outcomes[i].reason.toString() << " "
                                            << outcomes[i].rejection.reason);
    CHECK(outcomes[i].verdict == DeliveryVerdict::kDelivered);
    observations += outcomes[i].receipt.resourceIds.size();
    if (readings[i].kind == ReadingKind::kGlucose) {
      for (const auto& id : outcomes[i].receipt.resourceIds) ++glucoseIds[id];
    }
  }
  // Exactly one Observation, the time stamp, is shared by both corrected records.
  CHECK(std::count_if(glucoseIds.begin(), glucoseIds.end(), [](const auto& e) { return e.second == 2; }) == 1);
  CHECK(observations > readings.size());
}
