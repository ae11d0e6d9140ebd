// The BlueZ client heals itself: bluetoothd restarting, the bus itself
// restarting, adapter power loss and removal, a silent scanner (the watchdog),
// and a glucose download interrupted by each of these. A private bus, the
// emulator's faults (tests/bluez-emulator/Faults.cpp), the real client; every
// recovery timer moves only with the FakeClock, every wait is bounded.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "BusFixture.h"
#include "FaultFixture.h"
#include "buffer/SqliteBuffer.h"
#include "drivers/ble_intake/BleIntake.h"
#include "drivers/bluez/BluezClient.h"
#include "gateway/engine/IngestPipeline.h"
#include "gateway/engine/StreamAggregator.h"
#include "gateway/identity/Identifiers.h"
#include "tests/support/FakeClock.h"

using namespace rpm;
using namespace std::chrono_literals;
using ble::sigUuid;
using nlohmann::json;

namespace {

const std::string kMeter = "C0:11:22:33:44:01";
const std::string kShy = "C0:11:22:33:44:07";  // unpaired: known only while discovery reports it

json record(int seq) {
  return {{"seq", seq}, {"mg_dl", std::to_string(80 + seq)}, {"time", "2024-03-01T0" + std::to_string(seq) + ":00:00"}};
}

json scenario(int records = 3) {
  json recs = json::array();
  for (int i = 1; i <= records; ++i) recs.push_back(record(i));
  return {{"timing", {{"disconnect_delay_ms", 20}, {"advertising_interval_ms", 20}}},
          {"devices",
           {{{"address", kMeter}, {"kind", "glucose_meter"}, {"paired", true}, {"glucose", {{"records", recs}}}},
            {{"address", kShy}, {"kind", "glucose_meter"}, {"advertising", true}}}}};
}

// A bounded poll of state the client or the emulator reports (readiness, not a sleep).
template <typename Pred>
bool waitUntil(Pred pred, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

struct Values {
  std::mutex mutex;
  std::vector<ble::CharacteristicValue> values;
  std::atomic<int> drops{0};
  bool racpSuccess() {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& v : values) {
      if (v.characteristicUuid == sigUuid(0x2A52) && v.bytes == std::vector<std::uint8_t>{0x06, 0x00, 0x01, 0x01}) {
        return true;
      }
    }
    return false;
  }
  std::size_t measurements() {
    std::lock_guard<std::mutex> lock(mutex);
    return std::count_if(values.begin(), values.end(),
                         [](const auto& v) { return v.characteristicUuid == sigUuid(0x2A18); });
  }
};

struct Rig {
  test::PrivateBus bus;
  std::unique_ptr<test::Emulator> emulator;
  std::unique_ptr<test::EmulatorFaults> faults;
  test::FakeClock clock;
  std::shared_ptr<bluez::BluezClient> client;
  std::shared_ptr<std::atomic<bool>> expected = std::make_shared<std::atomic<bool>>(true);
  Values values;

  static bluez::BluezClientOptions fastOptions() {
    bluez::BluezClientOptions o;
    o.callTimeout = 3000ms;
    o.recoveryPoll = 5ms;
    o.scanSilence = 60s;
    o.powerOnGrace = 10s;
    return o;
  }

  explicit Rig(const json& s = scenario(), bluez::BluezClientOptions options = fastOptions()) {
    emulator = std::make_unique<test::Emulator>(bus, s);
    faults = std::make_unique<test::EmulatorFaults>();
    auto c = bluez::BluezClient::connectSystemBus(options, clock);
    REQUIRE(c.isOk());
    client = *c;
    REQUIRE(client->waitReady(5s).isOk());
    auto flag = expected;
    client->setDevicesExpected([flag] { return flag->load(); });
  }

  bluez::BluezRecoveryCounters counters() { return client->health().counters; }
  bool adapterReady() { return client->adapter()->ready().isOk(); }

  // Two more recovery passes: the recovery has seen what the test just set up.
  void settle() {
    auto seen = client->recoveryPassesForTest();
    REQUIRE(waitUntil([&] { return client->recoveryPassesForTest() >= seen + 2; }));
  }

  std::shared_ptr<ble::BleDevice> meter() {
    auto dev = client->adapter()->device(kMeter);
    REQUIRE(dev.isOk());
    return *dev;
  }

  void connect(ble::BleDevice& dev) {
    dev.setValueHandler([this](const ble::CharacteristicValue& v) {
      std::lock_guard<std::mutex> lock(values.mutex);
      values.values.push_back(v);
    });
    dev.setLinkHandler([this](bool up) {
      if (!up) values.drops++;
    });
    REQUIRE(dev.connect().isOk());
    REQUIRE(dev.waitServicesResolved(5s).isOk());
  }

  // Subscribes measurement, context and RACP, then asks for all records.
  void download(ble::BleDevice& dev) {
    for (std::uint16_t ch : {0x2A18, 0x2A34, 0x2A52}) {
      auto c = dev.characteristic(sigUuid(0x1808), sigUuid(ch));
      REQUIRE(c.isOk());
      REQUIRE((*c)->startNotify().isOk());
    }
    auto racp = dev.characteristic(sigUuid(0x1808), sigUuid(0x2A52));
    REQUIRE((*racp)->write({0x01, 0x01}, ble::WriteType::kRequest).isOk());
  }

  void startDiscovery() {
    REQUIRE(client->adapter()->startDiscovery({{sigUuid(0x1808)}}).isOk());
    REQUIRE(client->adapter()->waitForDevice(kShy, 5s).isOk());
  }
};

}  // namespace

TEST_CASE("bluetoothd restarting is survived: new owner, devices back without GATT, discovery re-armed, "
          "notifications flow again",
          "[integration][recovery]") {
  Rig rig;
  rig.startDiscovery();
  auto dev = rig.meter();
  rig.connect(*dev);
  std::string before = rig.faults->bluezOwner();
  REQUIRE_FALSE(before.empty());

  rig.faults->restartDaemon(100);
  REQUIRE(waitUntil([&] { return rig.values.drops.load() == 1; }));  // the link went with bluetoothd
  REQUIRE(waitUntil([&] {
    auto now = rig.faults->bluezOwner();
    return !now.empty() && now != before;  // a new process: a new unique name (§9 item 1)
  }));
  REQUIRE(waitUntil([&] { return rig.adapterReady(); }));
  // Stored devices are announced again, not connected and without GATT children (§1).
  auto again = rig.client->adapter()->device(kMeter);
  REQUIRE(again.isOk());
  CHECK_FALSE((*again)->snapshot().connected);
  CHECK((*again)->characteristic(sigUuid(0x1808), sigUuid(0x2A52)).status().kind() == ErrorKind::kNotFound);
  // The unpaired advertiser was forgotten; the re-armed discovery finds it again.
  REQUIRE(rig.client->adapter()->waitForDevice(kShy, 5s).isOk());
  REQUIRE(waitUntil([&] { return rig.counters().discoveryRearms == 1; }));
  auto c = rig.counters();
  CHECK(c.bluezDepartures == 1);
  CHECK(c.bluezReturns == 1);
  CHECK(c.busLosses == 0);
  CHECK(rig.client->health().adapter == "ready");
  CHECK(rig.faults->counters()["Restarts"] == 1);

  // The old device handle works again and a fresh subscription delivers every record.
  REQUIRE(dev->connect().isOk());
  REQUIRE(dev->waitServicesResolved(5s).isOk());
  rig.download(*dev);
  REQUIRE(waitUntil([&] { return rig.values.racpSuccess(); }));
  CHECK(rig.values.measurements() == 3);
}

TEST_CASE("A lost D-Bus connection is reconnected on the clock's schedule, the tree re-read and discovery re-armed",
          "[integration][recovery]") {
  Rig rig;
  rig.startDiscovery();
  auto dev = rig.meter();
  rig.connect(*dev);

  rig.faults.reset();
  rig.bus.kill();  // the emulator exits with its bus
  REQUIRE(waitUntil([&] { return !rig.client->busAlive(); }));
  CHECK(rig.client->health().adapter == "bus-lost");
  CHECK(dev->connect().kind() == ErrorKind::kUnavailable);
  rig.emulator.reset();
  rig.bus.restart();
  rig.emulator = std::make_unique<test::Emulator>(rig.bus, scenario());

  bool back = false;
  for (int i = 0; i < 30 && !back; ++i) {
    rig.clock.advance(1s);  // the reconnect backoff runs on the injected clock
    back = waitUntil([&] { return rig.client->busAlive(); }, 200ms);
  }
  REQUIRE(back);
  REQUIRE(waitUntil([&] { return rig.adapterReady(); }));
  REQUIRE(rig.client->adapter()->waitForDevice(kShy, 5s).isOk());
  auto c = rig.counters();
  CHECK(c.busLosses == 1);
  CHECK(c.busReconnects == 1);
  REQUIRE(waitUntil([&] { return rig.counters().discoveryRearms == 1; }));
  // The handle from before the loss is usable on the new connection.
  REQUIRE(dev->connect().isOk());
  REQUIRE(dev->waitServicesResolved(5s).isOk());
  rig.download(*dev);
  REQUIRE(waitUntil([&] { return rig.values.racpSuccess(); }));
}

TEST_CASE("The reconnect check catches a client that leaves a lost bus lost (planted bug)", "[integration][recovery]") {
  auto options = Rig::fastOptions();
  options.skipBusReconnectForTest = true;
  Rig rig(scenario(), options);
  rig.faults.reset();
  rig.bus.kill();
  REQUIRE(waitUntil([&] { return !rig.client->busAlive(); }));
  rig.emulator.reset();
  rig.bus.restart();
  rig.emulator = std::make_unique<test::Emulator>(rig.bus, scenario());
  bool back = false;
  for (int i = 0; i < 10 && !back; ++i) {
    rig.clock.advance(1s);
    back = waitUntil([&] { return rig.client->busAlive(); }, 100ms);
  }
  CHECK_FALSE(back);
}

TEST_CASE("Adapter power loss drops the links; the gateway powers the adapter on after the grace time and "
          "re-arms discovery",
          "[integration][recovery]") {
  Rig rig;
  rig.startDiscovery();
  auto dev = rig.meter();
  rig.connect(*dev);

  rig.faults->setAdapterPowerLoss(true, false);
  REQUIRE(waitUntil([&] { return rig.client->health().adapter == "unpowered"; }));
  REQUIRE(waitUntil([&] { return rig.values.drops.load() == 1; }));
  rig.settle();
  CHECK(rig.counters().powerOnAttempts == 0);  // bluetoothd may still power it itself: wait the grace time
  rig.clock.advance(11s);
  REQUIRE(waitUntil([&] { return rig.adapterReady(); }));
  REQUIRE(waitUntil([&] { return rig.counters().discoveryRearms == 1; }));
  auto c = rig.counters();
  CHECK(c.powerLosses == 1);
  CHECK(c.powerRestores == 1);
  CHECK(c.powerOnAttempts == 1);
  CHECK(rig.faults->counters()["PowerOnRequests"] == 1);
  REQUIRE(dev->connect().isOk());
  REQUIRE(dev->waitServicesResolved(5s).isOk());
}

TEST_CASE("An rfkill-blocked adapter is retried with backoff and recovers when unblocked", "[integration][recovery]") {
  Rig rig;
  rig.startDiscovery();
  rig.faults->setAdapterPowerLoss(true, true);
  REQUIRE(waitUntil([&] { return rig.client->health().adapter == "unpowered"; }));
  rig.settle();
  rig.clock.advance(11s);
  REQUIRE(waitUntil([&] { return rig.counters().powerOnAttempts == 1; }));
  rig.settle();
  CHECK(rig.client->health().adapter == "unpowered");  // Set(Powered) answered Blocked
  rig.clock.advance(11s);  // the backoff doubled: not yet
  rig.settle();
  CHECK(rig.counters().powerOnAttempts == 1);
  rig.faults->setAdapterPowerLoss(false, false);  // rfkill unblock: bluetoothd restores power
  REQUIRE(waitUntil([&] { return rig.adapterReady(); }));
  REQUIRE(waitUntil([&] { return rig.counters().discoveryRearms == 1; }));
  CHECK(rig.counters().powerRestores == 1);
}

TEST_CASE("With no devices expected an unpowered adapter is left alone", "[integration][recovery]") {
  Rig rig;
  rig.expected->store(false);
  rig.faults->setAdapterPowerLoss(true, false);
  REQUIRE(waitUntil([&] { return rig.client->health().adapter == "unpowered"; }));
  rig.settle();
  rig.clock.advance(60s);
  rig.settle();
  CHECK(rig.counters().powerOnAttempts == 0);
  CHECK(rig.client->health().adapter == "unpowered");
}

TEST_CASE("An adapter removed and plugged back is followed: links dropped, devices back, discovery re-armed",
          "[integration][recovery]") {
  Rig rig;
  rig.startDiscovery();
  auto dev = rig.meter();
  rig.connect(*dev);
  rig.faults->setAdapterPresent(false);
  REQUIRE(waitUntil([&] { return rig.client->health().adapter == "absent"; }));
  REQUIRE(waitUntil([&] { return rig.values.drops.load() == 1; }));
  CHECK(rig.client->adapter()->device(kMeter).status().kind() == ErrorKind::kNotFound);
  rig.faults->setAdapterPresent(true);
  REQUIRE(waitUntil([&] { return rig.adapterReady(); }));
  REQUIRE(rig.client->adapter()->waitForDevice(kShy, 5s).isOk());
  REQUIRE(waitUntil([&] { return rig.counters().discoveryRearms == 1; }));
  auto c = rig.counters();
  CHECK(c.adapterRemovals == 1);
  CHECK(c.adapterReturns == 1);
  REQUIRE(dev->connect().isOk());
  REQUIRE(dev->waitServicesResolved(5s).isOk());
}

TEST_CASE("The scan watchdog restarts discovery, then power-cycles the adapter, on the fake clock",
          "[integration][recovery][watchdog]") {
  Rig rig;
  rig.startDiscovery();
  rig.settle();
  CHECK(rig.client->health().scanner == "ok");
  rig.faults->setScannerSilent(true, "power_cycle");  // a wedged controller: only a power cycle helps
  rig.clock.advance(59s);
  rig.settle();
  CHECK(rig.counters().watchdogDiscoveryRestarts == 0);  // not silent for the whole interval yet

  rig.clock.advance(2s);
  REQUIRE(waitUntil([&] { return rig.counters().watchdogDiscoveryRestarts == 1; }));
  rig.settle();
  CHECK(rig.client->health().scanner == "silent");
  CHECK(rig.counters().watchdogPowerCycles == 0);

  rig.clock.advance(61s);
  REQUIRE(waitUntil([&] { return rig.counters().watchdogPowerCycles == 1; }));
  REQUIRE(waitUntil([&] { return rig.counters().scannerRecoveries == 1; }));
  REQUIRE(waitUntil([&] { return rig.client->health().scanner == "ok"; }));
  auto f = rig.faults->counters();
  CHECK(f["PowerOffRequests"] == 1);
  CHECK(f["PowerOnRequests"] == 1);
  CHECK(f["ScannerRevived"] == 1);
  CHECK(rig.counters().watchdogDiscoveryRestarts == 1);
}

TEST_CASE("A scanner revived by restarting discovery is not power-cycled", "[integration][recovery][watchdog]") {
  Rig rig;
  rig.startDiscovery();
  rig.settle();
  rig.faults->setScannerSilent(true, "restart_discovery");
  rig.clock.advance(61s);
  REQUIRE(waitUntil([&] { return rig.counters().scannerRecoveries == 1; }));
  auto c = rig.counters();
  CHECK(c.watchdogDiscoveryRestarts == 1);
  CHECK(c.watchdogPowerCycles == 0);
  CHECK(rig.faults->counters()["PowerOffRequests"] == 0);
}

TEST_CASE("With no devices expected the watchdog leaves a quiet scanner alone", "[integration][recovery][watchdog]") {
  Rig rig;
  rig.expected->store(false);
  rig.startDiscovery();
  rig.settle();
  rig.faults->setScannerSilent(true, "never");
  for (int i = 0; i < 3; ++i) {
    rig.clock.advance(61s);
    rig.settle();
  }
  CHECK(rig.counters().watchdogDiscoveryRestarts == 0);
  CHECK(rig.counters().watchdogPowerCycles == 0);
}

namespace {

class UtcZone final : public TimeZoneRules {
 public:
  const std::string& name() const override { return name_; }
  int offsetMinutesAt(UtcInstant) const override { return 0; }
  UtcInstant toUtc(const LocalDateTime& local) const override { return fromLocal(local, 0); }

 private:
  std::string name_ = "Etc/UTC";
};

// Outcomes of every submit, for "stored exactly once".
class CountingSink final : public ReadingSink {
 public:
  explicit CountingSink(ReadingSink& next) : next_(next) {}
  Result<AppendReport> submit(std::vector<Reading> readings) override {
    std::vector<Reading> copy = readings;
    auto out = next_.submit(std::move(readings));
    std::lock_guard<std::mutex> lock(mutex_);
    if (out) {
      for (std::size_t i = 0; i < copy.size(); ++i) {
        if (copy[i].kind == ReadingKind::kGlucose) outcomes_.emplace_back(*copy[i].sequence, out->outcomes[i]);
      }
    }
    return out;
  }
  std::vector<std::uint32_t> sequences(AppendOutcome outcome) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::uint32_t> out;
    for (const auto& [seq, o] : outcomes_) {
      if (o == outcome) out.push_back(seq);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  ReadingSink& next_;
  std::mutex mutex_;
  std::vector<std::pair<std::uint32_t, AppendOutcome>> outcomes_;
};

}  // namespace

TEST_CASE("A glucose download interrupted by a bluetoothd or adapter fault stores every record exactly once",
          "[integration][recovery][ble-intake]") {
  std::string fault = GENERATE(std::string("restart"), std::string("power_loss"), std::string("adapter_removed"));
  CAPTURE(fault);
  Rig rig(scenario(8));
  UtcZone zone;
  DeviceAliaser aliaser{std::vector<std::uint8_t>{7, 7, 7}};
  buffer::BufferOptions bo;
  bo.path = rig.bus.dir() + "/buffer.db";
  auto buffer = std::move(buffer::SqliteBuffer::open(bo, rig.clock)).value();
  StreamAggregator aggregator(rig.clock, 60s);
  engine::IngestPipeline pipeline(*buffer, aggregator, rig.clock, [] {});
  CountingSink sink(pipeline);
  ble::BleIntakeOptions io;
  io.recordTimeout = 3000ms;
  io.pollInterval = 50ms;
  auto intake = std::move(ble::BleIntake::create(io, sink, *buffer, *buffer, rig.clock, rig.client->adapter(), zone,
                                                  aliaser))
                    .value();
  Enrolment e;
  e.device = *DeviceKey::bluetooth(kMeter);
  e.patient = "Patient/pt-recovery";
  e.transport = Transport::kBle;
  e.enrolledAt = rig.clock.now();
  REQUIRE(buffer->putEnrolment(e).isOk());

  rig.faults->setFaultAfterRecords(kMeter, 3, fault, 100);
  CHECK(intake->runDueSessions() == 1);
  CHECK(intake->counters().failedAttempts == 1);
  CHECK(sink.sequences(AppendOutcome::kStored) == std::vector<std::uint32_t>{1, 2, 3});
  // The client recovers by itself; the intake's next attempt (after its backoff) resumes.
  REQUIRE(waitUntil([&] { return rig.adapterReady(); }));
  REQUIRE(rig.client->adapter()->waitForDevice(kMeter, 5s).isOk());
  rig.clock.advance(3s);
  CHECK(intake->runDueSessions() == 1);
  // Stored once each; a record the meter sends again (the first download asks for all records
  // again, decision 0040) is absorbed as a duplicate, never stored twice.
  CHECK(sink.sequences(AppendOutcome::kStored) == std::vector<std::uint32_t>{1, 2, 3, 4, 5, 6, 7, 8});
  for (auto seq : sink.sequences(AppendOutcome::kDuplicate)) CHECK(seq <= 3);
  CHECK(intake->counters().failedAttempts == 1);
  CHECK(buffer->deviceState(*DeviceKey::bluetooth(kMeter)).value().glucoseCursor == 9);
}
