// The BlueZ client against the emulator on a private bus.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "BusFixture.h"
#include "drivers/bluez/BluezClient.h"
#include "tests/support/FakeClock.h"

using namespace rpm;
using namespace std::chrono_literals;
using ble::sigUuid;
using Bytes = std::vector<std::uint8_t>;

namespace {

const std::string kMeter = "C0:11:22:33:44:01";
const std::string kCuff = "C0:11:22:33:44:02";
const std::string kScale = "C0:11:22:33:44:03";

nlohmann::json scenario() {
  return {
      {"timing", {{"disconnect_delay_ms", 30}, {"advertising_interval_ms", 20}}},
      {"devices",
       {{{"address", kMeter}, {"address_type", "public"}, {"name", "Meter"}, {"kind", "glucose_meter"},
         {"paired", true},
         {"glucose",
          {{"records",
            {{{"seq", 1}, {"time", "2024-03-01T08:00:00"}, {"mg_dl", "95"}, {"meal", 1}},
             {{"seq", 2}, {"time", "2024-03-01T12:30:00"}, {"mg_dl", "101"}},
             {{"seq", 3}, {"time", "2024-03-02T07:45:10"}, {"mg_dl", "88"}, {"meal", 3}}}}}}},
        {{"address", kCuff}, {"name", "Cuff"}, {"kind", "bp_cuff"}, {"discoverable_flags", false},
         {"blood_pressure",
          {{"records",
            {{{"user", 1}, {"systolic", "120"}, {"diastolic", "80"}, {"map", "93"}, {"pulse", "70"},
              {"time", "2024-03-01T08:00:00"}},
             {{"user", 2}, {"systolic", "135"}, {"diastolic", "85"}, {"map", "101"}}}}}}},
        {{"address", kScale}, {"name", "Scale"}, {"kind", "generic"}, {"advertised_uuids", {"181d"}}}}}};
}

// Collects values and link events from the client's callbacks (loop thread).
struct Recorder {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<ble::CharacteristicValue> values;
  std::vector<bool> links;

  ble::ValueHandler valueHandler() {
    return [this](const ble::CharacteristicValue& v) {
      std::lock_guard<std::mutex> lock(mutex);
      values.push_back(v);
      cv.notify_all();
    };
  }
  ble::LinkHandler linkHandler() {
    return [this](bool up) {
      std::lock_guard<std::mutex> lock(mutex);
      links.push_back(up);
      cv.notify_all();
    };
  }
  template <typename Pred>
  bool waitUntil(Pred pred, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> lock(mutex);
    return cv.wait_for(lock, timeout, [&] { return pred(); });
  }
  std::vector<Bytes> bytesOf(const std::string& charUuid) {
    std::lock_guard<std::mutex> lock(mutex);
    std::vector<Bytes> out;
    for (const auto& v : values) {
      if (v.characteristicUuid == charUuid) out.push_back(v.bytes);
    }
    return out;
  }
  bool racpDone() {
    std::lock_guard<std::mutex> lock(mutex);
    return racpDoneLocked();
  }
  bool racpDoneLocked() const {
    for (const auto& v : values) {
      if (v.characteristicUuid == sigUuid(0x2A52) && !v.bytes.empty() && (v.bytes[0] == 0x06 || v.bytes[0] == 0x05)) return true;
    }
    return false;
  }
};

struct Rig {
  test::PrivateBus bus;
  test::Emulator emulator;
  test::FakeClock clock;
  std::shared_ptr<bluez::BluezClient> client;
  Recorder recorder;

  explicit Rig(const nlohmann::json& s = scenario()) : emulator(bus, s) {
    bluez::BluezClientOptions options;
    options.callTimeout = 5000ms;
    auto c = bluez::BluezClient::connectSystemBus(options, clock);
    REQUIRE(c.isOk());
    client = *c;
    REQUIRE(client->waitReady(5s).isOk());
  }

  std::shared_ptr<ble::BleDevice> connected(const std::string& address) {
    auto dev = client->adapter()->device(address);
    REQUIRE(dev.isOk());
    (*dev)->setValueHandler(recorder.valueHandler());
    (*dev)->setLinkHandler(recorder.linkHandler());
    REQUIRE((*dev)->connect().isOk());
    REQUIRE((*dev)->waitServicesResolved(5s).isOk());
    return *dev;
  }

  std::shared_ptr<ble::GattCharacteristic> characteristic(ble::BleDevice& dev, std::uint16_t svc, std::uint16_t ch) {
    auto c = dev.characteristic(sigUuid(svc), sigUuid(ch));
    REQUIRE(c.isOk());
    return *c;
  }

  // Subscribes to measurement, context and RACP, then writes the RACP request.
  void racp(ble::BleDevice& dev, const Bytes& request) {
    REQUIRE(characteristic(dev, 0x1808, 0x2A18)->startNotify().isOk());
    REQUIRE(characteristic(dev, 0x1808, 0x2A34)->startNotify().isOk());
    auto cp = characteristic(dev, 0x1808, 0x2A52);
    REQUIRE(cp->startNotify().isOk());
    REQUIRE(cp->write(request, ble::WriteType::kRequest).isOk());
  }
};

// Glucose Measurement bytes the emulator must send for the scenario's records
// (flags 0x02|0x10 context, seq, date-time, SFLOAT kg/L, type/location 0x11).
const Bytes kRecord1{0x12, 0x01, 0x00, 0xE8, 0x07, 0x03, 0x01, 0x08, 0x00, 0x00, 0x5F, 0xB0, 0x11};
const Bytes kRecord2{0x02, 0x02, 0x00, 0xE8, 0x07, 0x03, 0x01, 0x0C, 0x1E, 0x00, 0x65, 0xB0, 0x11};
const Bytes kRecord3{0x12, 0x03, 0x00, 0xE8, 0x07, 0x03, 0x02, 0x07, 0x2D, 0x0A, 0x58, 0xB0, 0x11};

}  // namespace

TEST_CASE("Discovery with the LE health filter finds advertisers without discoverable flags", "[integration]") {
  Rig rig;
  auto adapter = rig.client->adapter();
  REQUIRE(adapter->startDiscovery({{sigUuid(0x1808), sigUuid(0x1810)}}).isOk());
  auto cuff = adapter->waitForDevice(kCuff, 5s);
  REQUIRE(cuff.isOk());
  CHECK(cuff->rssi.has_value());
  CHECK(cuff->addressType == "public");
  // The scale advertises only 0x181D: outside the filter, never reported.
  auto scale = adapter->waitForDevice(kScale, 200ms);
  CHECK(scale.status().kind() == ErrorKind::kTimeout);
  REQUIRE(adapter->stopDiscovery().isOk());
  // RSSI is invalidated when discovery ends (§2.3).
  auto* client = rig.client.get();
  bool invalidated = false;
  for (int i = 0; i < 200 && !invalidated; ++i) {
    for (const auto& d : client->adapter()->devices()) {
      if (d.address == kCuff && !d.rssi) invalidated = true;
    }
    if (!invalidated) std::this_thread::sleep_for(5ms);  // bounded poll of the mirror
  }
  CHECK(invalidated);
}

TEST_CASE("A second StartDiscovery from the same client is absorbed instead of failing InProgress", "[integration]") {
  Rig rig;
  auto adapter = rig.client->adapter();
  REQUIRE(adapter->startDiscovery({{sigUuid(0x1808)}}).isOk());
  REQUIRE(adapter->startDiscovery({{sigUuid(0x1808)}}).isOk());
  REQUIRE(adapter->stopDiscovery().isOk());
  CHECK(adapter->stopDiscovery().isOk());  // no session left: nothing to stop
}

TEST_CASE("Connect returns before services resolve and the GATT tree is complete once resolved", "[integration]") {
  Rig rig;
  rig.emulator.setResponseDelay(kMeter, 0);
  auto dev = rig.client->adapter()->device(kMeter);
  REQUIRE(dev.isOk());
  REQUIRE((*dev)->connect().isOk());
  // Right after Connect() the tree of a first connection is not exported yet (§3.3).
  bool resolvedAtReply = (*dev)->snapshot().servicesResolved;
  CHECK_FALSE(resolvedAtReply);
  REQUIRE((*dev)->waitServicesResolved(5s).isOk());
  auto snap = (*dev)->snapshot();
  CHECK(snap.connected);
  CHECK(std::find(snap.uuids.begin(), snap.uuids.end(), sigUuid(0x1808)) != snap.uuids.end());
  CHECK((*dev)->characteristic(sigUuid(0x1808), sigUuid(0x2A52)).isOk());
  CHECK((*dev)->characteristic(sigUuid(0x180A), sigUuid(0x2A29)).isOk());
  // GAP is claimed by bluetoothd and never exported.
  CHECK((*dev)->characteristic(sigUuid(0x1800), sigUuid(0x2A00)).status().kind() == ErrorKind::kNotFound);
  REQUIRE((*dev)->disconnect().isOk());
  CHECK_FALSE((*dev)->snapshot().connected);
}

TEST_CASE("Reads return device bytes and are not mistaken for notifications", "[integration]") {
  Rig rig;
  auto dev = rig.connected(kMeter);
  auto manufacturer = rig.characteristic(*dev, 0x180A, 0x2A29)->read();
  REQUIRE(manufacturer.isOk());
  CHECK(std::string(manufacturer->begin(), manufacturer->end()) == "Emulated Health Inc.");
  auto battery = rig.characteristic(*dev, 0x180F, 0x2A19);
  REQUIRE(battery->startNotify().isOk());
  auto level = battery->read();
  REQUIRE(level.isOk());
  CHECK(*level == Bytes{90});
  // A real notification with the same bytes still arrives, once.
  rig.emulator.sendValue(kMeter, "2a19", {90});
  REQUIRE(rig.recorder.waitUntil([&] { return rig.recorder.values.size() >= 1; }));
  CHECK(rig.recorder.bytesOf(sigUuid(0x2A19)) == std::vector<Bytes>{{90}});
}

TEST_CASE("RACP report-all delivers every stored record, contexts after their measurement, then success", "[integration]") {
  Rig rig;
  auto dev = rig.connected(kMeter);
  rig.racp(*dev, {0x01, 0x01});
  REQUIRE(rig.recorder.waitUntil([&] { return rig.recorder.racpDoneLocked(); }));
  CHECK(rig.recorder.bytesOf(sigUuid(0x2A18)) == std::vector<Bytes>{kRecord1, kRecord2, kRecord3});
  CHECK(rig.recorder.bytesOf(sigUuid(0x2A34)) == std::vector<Bytes>{{0x02, 0x01, 0x00, 0x01}, {0x02, 0x03, 0x00, 0x03}});
  CHECK(rig.recorder.bytesOf(sigUuid(0x2A52)) == std::vector<Bytes>{{0x06, 0x00, 0x01, 0x01}});
  // Order on the wire: measurement 1, its context, measurement 2, ...
  std::lock_guard<std::mutex> lock(rig.recorder.mutex);
  REQUIRE(rig.recorder.values.size() == 6);
  CHECK(rig.recorder.values[1].characteristicUuid == sigUuid(0x2A34));
}

TEST_CASE("RACP greater-or-equal sends only records from the cursor on", "[integration]") {
  Rig rig;
  auto dev = rig.connected(kMeter);
  rig.racp(*dev, {0x01, 0x03, 0x01, 0x02, 0x00});
  REQUIRE(rig.recorder.waitUntil([&] { return rig.recorder.racpDoneLocked(); }));
  CHECK(rig.recorder.bytesOf(sigUuid(0x2A18)) == std::vector<Bytes>{kRecord2, kRecord3});
}

TEST_CASE("RACP answers unsupported operators, empty results and record counts with the GLS codes", "[integration]") {
  Rig rig;
  auto dev = rig.connected(kMeter);
  SECTION("no records at or above the cursor") {
    rig.racp(*dev, {0x01, 0x03, 0x01, 0x09, 0x00});
    REQUIRE(rig.recorder.waitUntil([&] { return rig.recorder.racpDoneLocked(); }));
    CHECK(rig.recorder.bytesOf(sigUuid(0x2A52)) == std::vector<Bytes>{{0x06, 0x00, 0x01, 0x06}});
  }
  SECTION("user-facing-time filter: operand not supported") {
    rig.racp(*dev, {0x01, 0x03, 0x02, 0xE8, 0x07, 0x03, 0x01, 0x00, 0x00, 0x00});
    REQUIRE(rig.recorder.waitUntil([&] { return rig.recorder.racpDoneLocked(); }));
    CHECK(rig.recorder.bytesOf(sigUuid(0x2A52)) == std::vector<Bytes>{{0x06, 0x00, 0x01, 0x09}});
  }
  SECTION("invalid operator") {
    rig.racp(*dev, {0x01, 0x07});
    REQUIRE(rig.recorder.waitUntil([&] { return rig.recorder.racpDoneLocked(); }));
    CHECK(rig.recorder.bytesOf(sigUuid(0x2A52)) == std::vector<Bytes>{{0x06, 0x00, 0x01, 0x03}});
  }
  SECTION("delete is not offered") {
    rig.racp(*dev, {0x02, 0x01});
    REQUIRE(rig.recorder.waitUntil([&] { return rig.recorder.racpDoneLocked(); }));
    CHECK(rig.recorder.bytesOf(sigUuid(0x2A52)) == std::vector<Bytes>{{0x06, 0x00, 0x02, 0x02}});
  }
  SECTION("number of stored records") {
    rig.racp(*dev, {0x04, 0x01});
    REQUIRE(rig.recorder.waitUntil([&] { return rig.recorder.racpDoneLocked(); }));
    CHECK(rig.recorder.bytesOf(sigUuid(0x2A52)) == std::vector<Bytes>{{0x05, 0x00, 0x03, 0x00}});
  }
}

TEST_CASE("Records after a counter wrap are missed by greater-or-equal, as on a real meter", "[integration]") {
  Rig rig;
  rig.emulator.setGlucoseRecords(kMeter, {{{"seq", 65534}, {"mg_dl", "90"}}, {{"seq", 65535}, {"mg_dl", "91"}},
                                          {{"seq", 0}, {"mg_dl", "92"}}, {{"seq", 1}, {"mg_dl", "93"}}});
  auto dev = rig.connected(kMeter);
  rig.racp(*dev, {0x01, 0x03, 0x01, 0xFF, 0xFF});
  REQUIRE(rig.recorder.waitUntil([&] { return rig.recorder.racpDoneLocked(); }));
  auto records = rig.recorder.bytesOf(sigUuid(0x2A18));
  REQUIRE(records.size() == 1);
  CHECK(records[0][1] == 0xFF);
  CHECK(records[0][2] == 0xFF);
}

TEST_CASE("A RACP write before its indications are enabled is refused by the meter", "[integration]") {
  Rig rig;
  auto dev = rig.connected(kMeter);
  auto s = rig.characteristic(*dev, 0x1808, 0x2A52)->write({0x01, 0x01}, ble::WriteType::kRequest);
  CHECK(s.kind() == ErrorKind::kRejected);
  CHECK(s.message().find("0x81") != std::string::npos);
}

TEST_CASE("A disconnect mid-download surfaces as a link drop and later calls fail", "[integration]") {
  Rig rig;
  rig.emulator.setDisconnectAfterRecords(kMeter, 1);
  auto dev = rig.connected(kMeter);
  rig.racp(*dev, {0x01, 0x01});
  REQUIRE(rig.recorder.waitUntil([&] {
    return std::find(rig.recorder.links.begin(), rig.recorder.links.end(), false) != rig.recorder.links.end();
  }));
  CHECK(rig.recorder.bytesOf(sigUuid(0x2A18)) == std::vector<Bytes>{kRecord1});
  CHECK_FALSE(rig.recorder.racpDone());
  auto s = rig.characteristic(*dev, 0x1808, 0x2A52)->write({0x01, 0x01}, ble::WriteType::kRequest);
  CHECK(s.kind() == ErrorKind::kUnavailable);
  // Reconnecting re-arms the notify sessions (§4.4): the next download needs no new StartNotify.
  REQUIRE(dev->connect().isOk());
  REQUIRE(dev->waitServicesResolved(5s).isOk());
  REQUIRE(rig.characteristic(*dev, 0x1808, 0x2A52)->write({0x01, 0x01}, ble::WriteType::kRequest).isOk());
  REQUIRE(rig.recorder.waitUntil([&] { return rig.recorder.racpDoneLocked(); }));
  CHECK(rig.recorder.bytesOf(sigUuid(0x2A18)).size() == 4);
}

TEST_CASE("org.bluez errors map to our error kinds at the boundary", "[integration]") {
  Rig rig;
  auto dev = rig.client->adapter()->device(kMeter);
  REQUIRE(dev.isOk());
  rig.emulator.injectError(kMeter, "Connect", "org.bluez.Error.Failed", "le-connection-abort-by-local");
  CHECK((*dev)->connect().kind() == ErrorKind::kUnavailable);
  rig.emulator.injectError(kMeter, "Connect", "org.bluez.Error.NotReady", "Resource Not Ready");
  CHECK((*dev)->connect().kind() == ErrorKind::kUnavailable);
  rig.emulator.injectError(kMeter, "Connect", "org.bluez.Error.InProgress", "In Progress");
  CHECK((*dev)->connect().kind() == ErrorKind::kConflict);
  rig.emulator.injectError(kMeter, "Pair", "org.bluez.Error.AuthenticationFailed", "Authentication Failed");
  CHECK((*dev)->pair().kind() == ErrorKind::kUnauthorized);
  REQUIRE((*dev)->connect().isOk());
  REQUIRE((*dev)->waitServicesResolved(5s).isOk());
  auto manufacturer = rig.characteristic(**dev, 0x180A, 0x2A29);
  rig.emulator.injectError(kMeter, "ReadValue", "org.bluez.Error.Failed", "Operation failed with ATT error: 0x80");
  CHECK(manufacturer->read().status().kind() == ErrorKind::kRejected);
  rig.emulator.injectError(kMeter, "ReadValue", "org.bluez.Error.NotPermitted", "Not paired");
  CHECK(manufacturer->read().status().kind() == ErrorKind::kForbidden);
  // Writing to a read-only characteristic is refused by bluetoothd itself.
  CHECK(manufacturer->write({1}, ble::WriteType::kDefault).kind() == ErrorKind::kUnsupported);
  rig.emulator.injectError("adapter", "StartDiscovery", "org.bluez.Error.NotReady", "Resource Not Ready");
  CHECK(rig.client->adapter()->startDiscovery({}).kind() == ErrorKind::kUnavailable);
}

TEST_CASE("A slow device answer beyond the call timeout is a timeout, and the client stays usable", "[integration]") {
  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario());
  test::FakeClock clock;
  bluez::BluezClientOptions options;
  options.callTimeout = 300ms;
  auto client = bluez::BluezClient::connectSystemBus(options, clock);
  REQUIRE(client.isOk());
  REQUIRE((*client)->waitReady(5s).isOk());
  auto dev = (*client)->adapter()->device(kMeter);
  REQUIRE(dev.isOk());
  REQUIRE((*dev)->connect().isOk());
  REQUIRE((*dev)->waitServicesResolved(5s).isOk());
  emulator.setResponseDelay(kMeter, 1500);
  auto ch = (*dev)->characteristic(sigUuid(0x180A), sigUuid(0x2A29));
  REQUIRE(ch.isOk());
  CHECK((*ch)->read().status().kind() == ErrorKind::kTimeout);
  emulator.setResponseDelay(kMeter, 0);
  // Another characteristic: a second read of 2A29 would share the request
  // still in flight at BlueZ (same-offset reads are merged, §4.2).
  auto other = (*dev)->characteristic(sigUuid(0x180A), sigUuid(0x2A24));
  REQUIRE(other.isOk());
  CHECK((*other)->read().isOk());
}

TEST_CASE("A malformed value reaches the value handler unchanged", "[integration]") {
  Rig rig;
  auto dev = rig.connected(kMeter);
  REQUIRE(rig.characteristic(*dev, 0x1808, 0x2A18)->startNotify().isOk());
  const Bytes truncated{0x12, 0x05};
  rig.emulator.sendValue(kMeter, "2a18", truncated);
  rig.emulator.sendValue(kMeter, "2a18", {});
  REQUIRE(rig.recorder.waitUntil([&] { return rig.recorder.values.size() >= 2; }));
  CHECK(rig.recorder.bytesOf(sigUuid(0x2A18)) == std::vector<Bytes>{truncated, {}});
  std::lock_guard<std::mutex> lock(rig.recorder.mutex);
  CHECK(rig.recorder.values[0].serviceUuid == sigUuid(0x1808));
  CHECK(rig.recorder.values[0].receivedAt == rig.clock.now());
}

TEST_CASE("A blood-pressure cuff indicates its stored readings once subscribed and then drops the link", "[integration]") {
  Rig rig;
  auto adapter = rig.client->adapter();
  REQUIRE(adapter->startDiscovery({{sigUuid(0x1810)}}).isOk());
  REQUIRE(adapter->waitForDevice(kCuff, 5s).isOk());
  REQUIRE(adapter->stopDiscovery().isOk());
  auto dev = rig.connected(kCuff);
  REQUIRE(rig.characteristic(*dev, 0x1810, 0x2A35)->startNotify().isOk());
  REQUIRE(rig.recorder.waitUntil([&] {
    return std::find(rig.recorder.links.begin(), rig.recorder.links.end(), false) != rig.recorder.links.end();
  }));
  auto readings = rig.recorder.bytesOf(sigUuid(0x2A35));
  REQUIRE(readings.size() == 2);
  // flags 0x0E: time stamp, pulse, user id; 120/80/93 mmHg; 2024-03-01 08:00:00; pulse 70; user 1.
  CHECK(readings[0] == Bytes{0x0E, 0x78, 0x00, 0x50, 0x00, 0x5D, 0x00, 0xE8, 0x07, 0x03, 0x01, 0x08, 0x00, 0x00,
                             0x46, 0x00, 0x01});
  CHECK(readings[1] == Bytes{0x08, 0x87, 0x00, 0x55, 0x00, 0x65, 0x00, 0x02});
}

TEST_CASE("The client survives bluetoothd being killed and sees it come back", "[integration]") {
  test::PrivateBus bus;
  auto emulator = std::make_unique<test::Emulator>(bus, scenario());
  test::FakeClock clock;
  auto client = bluez::BluezClient::connectSystemBus({}, clock);
  REQUIRE(client.isOk());
  REQUIRE((*client)->waitReady(5s).isOk());
  auto dev = (*client)->adapter()->device(kMeter);
  REQUIRE(dev.isOk());
  REQUIRE((*dev)->connect().isOk());
  REQUIRE((*dev)->waitServicesResolved(5s).isOk());
  emulator->kill();
  REQUIRE(test::waitForName(bus.address(), "org.bluez", false, 5s));
  // The client learns of the departure from its own NameOwnerChanged signal,
  // which can trail the bus's answer above: a bounded wait for it.
  Status s = Status::ok();
  for (int i = 0; i < 500 && s.isOk(); ++i) {
    s = (*client)->adapter()->ready();
    if (s.isOk()) std::this_thread::sleep_for(10ms);
  }
  CHECK(s.kind() == ErrorKind::kUnavailable);
  CHECK(((*client)->waitReady(100ms).kind() == ErrorKind::kUnavailable));
  CHECK_FALSE((*dev)->connect().isOk());
  CHECK((*client)->busAlive());
  emulator = std::make_unique<test::Emulator>(bus, scenario());
  REQUIRE((*client)->waitReady(5s).isOk());
  CHECK((*client)->adapter()->device(kMeter).isOk());
}

TEST_CASE("The client survives the bus itself dying with errors, not a crash", "[integration]") {
  auto bus = std::make_unique<test::PrivateBus>();
  auto emulator = std::make_unique<test::Emulator>(*bus, scenario());
  test::FakeClock clock;
  auto client = bluez::BluezClient::connectSystemBus({}, clock);
  REQUIRE(client.isOk());
  REQUIRE((*client)->waitReady(5s).isOk());
  auto dev = (*client)->adapter()->device(kMeter);
  REQUIRE(dev.isOk());
  bus->kill();
  // The loop notices the hang-up and reports instead of terminating. (waitReady
  // alone could return at once, still "ready", before the loop saw the hang-up.)
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while ((*client)->busAlive() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  auto s = (*client)->waitReady(5s);
  CHECK(s.kind() == ErrorKind::kUnavailable);
  CHECK_FALSE((*client)->busAlive());
  CHECK((*dev)->connect().kind() == ErrorKind::kUnavailable);
  emulator.reset();
}

TEST_CASE("The client's D-Bus connection requires a bus: none gives an error", "[integration]") {
  setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/rpm-bus", 1);
  test::FakeClock clock;
  auto client = bluez::BluezClient::connectSystemBus({}, clock);
  CHECK(client.status().kind() == ErrorKind::kUnavailable);
}

TEST_CASE("A meter that advertises only after a measurement appears in discovery then, and expires when silent", "[integration]") {
  const std::string shy = "C0:11:22:33:44:07";
  auto s = scenario();
  s["timing"]["temporary_timeout_ms"] = 300;
  s["devices"].push_back({{"address", shy}, {"kind", "glucose_meter"}, {"advertising", false}});
  test::PrivateBus bus;
  test::Emulator emulator(bus, s);
  test::FakeClock clock;
  auto client = bluez::BluezClient::connectSystemBus({}, clock);
  REQUIRE(client.isOk());
  REQUIRE((*client)->waitReady(5s).isOk());
  auto adapter = (*client)->adapter();
  REQUIRE(adapter->startDiscovery({{sigUuid(0x1808)}}).isOk());
  CHECK(adapter->waitForDevice(shy, 300ms).status().kind() == ErrorKind::kTimeout);
  CHECK(adapter->device(shy).status().kind() == ErrorKind::kNotFound);
  emulator.addGlucoseRecords(shy, {{{"seq", 1}, {"mg_dl", "99"}}});
  REQUIRE(adapter->waitForDevice(shy, 5s).isOk());
  emulator.setAdvertising(shy, false);
  // Temporary (never connected) devices are removed after the timeout since the last advert (§3.5).
  bool expired = false;
  for (int i = 0; i < 400 && !expired; ++i) {
    expired = !adapter->device(shy).isOk();
    if (!expired) std::this_thread::sleep_for(10ms);  // bounded poll of the mirror
  }
  CHECK(expired);
  REQUIRE(adapter->stopDiscovery().isOk());
}

TEST_CASE("A meter without the greater-or-equal operator answers operator-not-supported", "[integration]") {
  auto s = scenario();
  s["devices"][0]["glucose"]["unsupported_operators"] = {3};
  Rig rig(s);
  auto dev = rig.connected(kMeter);
  rig.racp(*dev, {0x01, 0x03, 0x01, 0x02, 0x00});
  REQUIRE(rig.recorder.waitUntil([&] { return rig.recorder.racpDoneLocked(); }));
  CHECK(rig.recorder.bytesOf(sigUuid(0x2A52)) == std::vector<Bytes>{{0x06, 0x00, 0x01, 0x04}});
  CHECK(rig.recorder.bytesOf(sigUuid(0x2A18)).empty());
}

TEST_CASE("After a counter reset greater-or-equal finds nothing while the meter still holds records", "[integration]") {
  Rig rig;
  rig.emulator.setGlucoseRecords(kMeter, {{{"seq", 1}, {"mg_dl", "90"}}, {{"seq", 2}, {"mg_dl", "91"}}});
  auto dev = rig.connected(kMeter);
  rig.racp(*dev, {0x01, 0x03, 0x01, 0x04, 0x00});  // old cursor 3 + 1
  REQUIRE(rig.recorder.waitUntil([&] { return rig.recorder.racpDoneLocked(); }));
  CHECK(rig.recorder.bytesOf(sigUuid(0x2A52)) == std::vector<Bytes>{{0x06, 0x00, 0x01, 0x06}});
  auto cp = rig.characteristic(*dev, 0x1808, 0x2A52);
  REQUIRE(cp->write({0x04, 0x01}, ble::WriteType::kRequest).isOk());
  REQUIRE(rig.recorder.waitUntil([&] {  // the predicate runs under the recorder's lock
    return std::count_if(rig.recorder.values.begin(), rig.recorder.values.end(),
                         [](const ble::CharacteristicValue& v) { return v.characteristicUuid == sigUuid(0x2A52); }) == 2;
  }));
  CHECK(rig.recorder.bytesOf(sigUuid(0x2A52))[1] == Bytes{0x05, 0x00, 0x02, 0x00});
}

TEST_CASE("Records are reported in the meter's stored order, out of sequence order", "[integration]") {
  Rig rig;
  rig.emulator.setGlucoseRecords(kMeter, {{{"seq", 7}, {"mg_dl", "90"}}, {{"seq", 5}, {"mg_dl", "91"}},
                                          {{"seq", 6}, {"mg_dl", "92"}}});
  auto dev = rig.connected(kMeter);
  rig.racp(*dev, {0x01, 0x01});
  REQUIRE(rig.recorder.waitUntil([&] { return rig.recorder.racpDoneLocked(); }));
  std::vector<int> sequence;
  for (const auto& r : rig.recorder.bytesOf(sigUuid(0x2A18))) sequence.push_back(r[1] | (r[2] << 8));
  CHECK(sequence == std::vector<int>{7, 5, 6});
}
