// The session state machine over the real client, against the emulator.
#include <catch2/catch.hpp>

#include <mutex>

#include "BusFixture.h"
#include "drivers/ble_session/BleSession.h"
#include "drivers/bluez/BluezClient.h"
#include "tests/support/FakeClock.h"

using namespace rpm;
using namespace std::chrono_literals;
using ble::sigUuid;
using Bytes = std::vector<std::uint8_t>;

namespace {

const std::string kMeter = "C0:11:22:33:44:01";
const std::string kCuff = "C0:11:22:33:44:02";
const std::string kOther = "C0:11:22:33:44:05";

nlohmann::json scenario() {
  return {{"timing", {{"disconnect_delay_ms", 30}, {"advertising_interval_ms", 20}}},
          {"devices",
           {{{"address", kMeter}, {"kind", "glucose_meter"}, {"paired", true}, {"device_time", "2024-03-05T10:11:12"},
             {"glucose", {{"records", {{{"seq", 1}, {"mg_dl", "95"}, {"meal", 1}}, {{"seq", 2}, {"mg_dl", "101"}}}}}}},
            {{"address", kCuff}, {"kind", "bp_cuff"}, {"paired", true},
             {"blood_pressure", {{"records", {{{"user", 1}, {"systolic", "120"}, {"diastolic", "80"}, {"map", "93"}}}}}}},
            {{"address", kOther}, {"kind", "glucose_meter"}, {"paired", true}}}}};
}

// A minimal RACP "report all" procedure: enough to drive the session; the
// glucose driver's real procedure (cursor, fallback) lands with the decoders.
Status reportAll(ble::ProcedureContext& ctx) {
  auto racp = ctx.device().characteristic(sigUuid(0x1808), sigUuid(0x2A52));
  if (!racp) return racp.status();
  Status s = (*racp)->write({0x01, 0x01}, ble::WriteType::kRequest);
  if (!s.isOk()) return s;
  for (;;) {
    auto v = ctx.nextValue(5s);
    if (!v) return v.status();
    if (v->characteristicUuid == sigUuid(0x2A52)) {
      return v->bytes == Bytes{0x06, 0x00, 0x01, 0x01} ? Status::ok() : Status(ErrorKind::kRejected, "RACP failed");
    }
  }
}

// A cuff session ends when the cuff drops the link after indicating.
Status untilDeviceDisconnects(ble::ProcedureContext& ctx) {
  for (;;) {
    auto v = ctx.nextValue(5s);
    if (!v) return v.status().kind() == ErrorKind::kUnavailable ? Status::ok() : v.status();
  }
}

struct Sink {
  std::mutex mutex;
  std::vector<std::pair<std::string, ble::CharacteristicValue>> values;
  ble::ValueSink fn() {
    return [this](const std::string& a, const ble::CharacteristicValue& v) {
      std::lock_guard<std::mutex> lock(mutex);
      values.emplace_back(a, v);
    };
  }
  std::size_t count(const std::string& address, std::uint16_t ch) {
    std::lock_guard<std::mutex> lock(mutex);
    std::size_t n = 0;
    for (const auto& [a, v] : values) n += a == address && v.characteristicUuid == sigUuid(ch);
    return n;
  }
};

}  // namespace

TEST_CASE("Sessions download a meter and a cuff end to end and never touch a non-enrolled device", "[integration]") {
  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario());
  test::FakeClock clock;
  auto client = bluez::BluezClient::connectSystemBus({}, clock);
  REQUIRE(client.isOk());
  REQUIRE((*client)->waitReady(5s).isOk());
  auto adapter = (*client)->adapter();
  Sink sink;
  ble::BleSessionScheduler scheduler([&](const std::string& address) -> std::unique_ptr<ble::BleSession> {
    auto dev = adapter->device(address);
    if (!dev) return nullptr;
    ble::SessionProfile profile;
    if (address == kCuff) {
      profile.name = "blood_pressure";
      profile.subscriptions = {{sigUuid(0x1810), sigUuid(0x2A35)}};
      profile.procedure = untilDeviceDisconnects;
    } else {
      profile.name = "glucose";
      profile.subscriptions = {{sigUuid(0x1808), sigUuid(0x2A18)}, {sigUuid(0x1808), sigUuid(0x2A34)},
                               {sigUuid(0x1808), sigUuid(0x2A52)}};
      profile.procedure = reportAll;
    }
    return std::make_unique<ble::BleSession>(*dev, profile, clock, sink.fn());
  });
  scheduler.setEnrolled({kMeter, kCuff});
  CHECK(scheduler.tick() == 2);
  auto* meter = scheduler.session(kMeter);
  auto* cuff = scheduler.session(kCuff);
  REQUIRE(meter);
  REQUIRE(cuff);
  CHECK(meter->consecutiveFailures() == 0);
  CHECK(cuff->consecutiveFailures() == 0);
  CHECK(sink.count(kMeter, 0x2A18) == 2);
  CHECK(sink.count(kMeter, 0x2A34) == 1);
  CHECK(sink.count(kCuff, 0x2A35) == 1);
  REQUIRE(meter->deviceInformation());
  CHECK(meter->deviceInformation()->manufacturer == std::string("Emulated Health Inc."));
  CHECK(meter->batteryPercent() == std::optional<std::uint8_t>(90));
  REQUIRE(meter->currentTime());
  CHECK(meter->currentTime()->deviceTime->toString() == "2024-03-05T10:11:12");
  CHECK(emulator.counters(kOther).count("ConnectCalls") == 0);
  CHECK_FALSE(adapter->device(kMeter).value()->snapshot().connected);
}

TEST_CASE("A session interrupted mid-download fails, backs off on the clock, and the retry completes", "[integration]") {
  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario());
  test::FakeClock clock;
  auto client = bluez::BluezClient::connectSystemBus({}, clock);
  REQUIRE(client.isOk());
  REQUIRE((*client)->waitReady(5s).isOk());
  auto dev = (*client)->adapter()->device(kMeter);
  REQUIRE(dev.isOk());
  Sink sink;
  ble::SessionProfile profile{"glucose",
                              {{sigUuid(0x1808), sigUuid(0x2A18)}, {sigUuid(0x1808), sigUuid(0x2A52)}},
                              reportAll};
  ble::BleSession session(*dev, profile, clock, sink.fn());
  emulator.setDisconnectAfterRecords(kMeter, 1);
  CHECK(session.runAttempt().kind() == ErrorKind::kUnavailable);
  CHECK(session.consecutiveFailures() == 1);
  CHECK_FALSE(session.due());
  clock.advance(2s);
  REQUIRE(session.due());
  CHECK(session.runAttempt().isOk());
  CHECK(sink.count(kMeter, 0x2A18) == 3);  // 1 before the drop + 2 on the retry
}
