#include <catch2/catch.hpp>

#include "drivers/ble_session/BleSession.h"
#include "tests/support/FakeBle.h"

using namespace rpm;
using namespace std::chrono_literals;
using ble::sigUuid;
using Bytes = std::vector<std::uint8_t>;

namespace {

const std::string kMeter = "C0:11:22:33:44:01";

struct Bench {
  test::FakeClock clock;
  test::FakeBleAdapter adapter{clock};
  std::shared_ptr<test::FakeBleDevice> meter = adapter.addDevice(kMeter);
  std::vector<ble::CharacteristicValue> received;

  Bench() {
    meter->addCharacteristic(0x180A, 0x2A29, {"read"}, {'A', 'c', 'm', 'e', 0});
    meter->addCharacteristic(0x180A, 0x2A25, {"read"}, {'S', '1'});
    meter->addCharacteristic(0x180F, 0x2A19, {"read", "notify"}, {77});
    // Current Time: 2024-03-01 12:00:05, then day of week, fractions, reason.
    meter->addCharacteristic(0x1805, 0x2A2B, {"read", "notify"}, {0xE8, 0x07, 3, 1, 12, 0, 5, 5, 0, 0});
    meter->addCharacteristic(0x1808, 0x2A18, {"notify"});
    auto racp = meter->addCharacteristic(0x1808, 0x2A52, {"write", "indicate"});
    // A scripted meter: "report all" sends one record, then success.
    racp->onWrite = [this](const Bytes& request) {
      if (request == Bytes{0x01, 0x01}) {
        meter->send(0x1808, 0x2A18, {0x02, 0x01, 0x00});
        meter->send(0x1808, 0x2A52, {0x06, 0x00, 0x01, 0x01});
      }
    };
  }

  ble::SessionProfile glucoseProfile() {
    ble::SessionProfile p;
    p.name = "glucose";
    p.subscriptions = {{sigUuid(0x1808), sigUuid(0x2A18)}, {sigUuid(0x1808), sigUuid(0x2A52)}};
    p.procedure = [](ble::ProcedureContext& ctx) -> Status {
      auto racp = ctx.device().characteristic(sigUuid(0x1808), sigUuid(0x2A52));
      if (!racp) return racp.status();
      Status s = (*racp)->write({0x01, 0x01}, ble::WriteType::kRequest);
      if (!s.isOk()) return s;
      for (;;) {
        auto v = ctx.nextValue(1s);
        if (!v) return v.status();
        if (v->characteristicUuid == sigUuid(0x2A52)) return Status::ok();
      }
    };
    return p;
  }

  std::unique_ptr<ble::BleSession> session(ble::SessionProfile profile) {
    auto dev = adapter.device(kMeter);
    REQUIRE(dev.isOk());
    ble::SessionTiming timing;
    timing.firstRetry = 2s;
    timing.maxRetry = 10s;
    timing.afterSuccess = 60s;
    return std::make_unique<ble::BleSession>(
        *dev, std::move(profile), clock,
        [this](const std::string&, const ble::CharacteristicValue& v) { received.push_back(v); }, timing);
  }
};

}  // namespace

TEST_CASE("A session connects, reads device facts, subscribes, runs the procedure and disconnects", "[unit]") {
  Bench b;
  auto s = b.session(b.glucoseProfile());
  REQUIRE(s->due());
  REQUIRE(s->runAttempt().isOk());
  CHECK_FALSE(b.meter->connected());
  REQUIRE(s->deviceInformation());
  CHECK(s->deviceInformation()->manufacturer == std::string("Acme"));  // trailing NUL stripped
  CHECK(s->deviceInformation()->serial == std::string("S1"));
  CHECK_FALSE(s->deviceInformation()->model.has_value());
  CHECK(s->batteryPercent() == std::optional<std::uint8_t>(77));
  REQUIRE(s->currentTime());
  REQUIRE(s->currentTime()->deviceTime);
  CHECK(s->currentTime()->deviceTime->toString() == "2024-03-01T12:00:05");
  CHECK(s->currentTime()->readAt == b.clock.now());
  // Subscriptions precede the RACP write (§3.1.4 step 3).
  CHECK(b.meter->get(0x1808, 0x2A18)->notifying());
  CHECK(b.meter->get(0x1808, 0x2A52)->writes() == std::vector<Bytes>{{0x01, 0x01}});
  REQUIRE(b.received.size() == 2);
  CHECK(b.received[0].characteristicUuid == sigUuid(0x2A18));
  CHECK(b.received[0].bytes == Bytes{0x02, 0x01, 0x00});
  CHECK_FALSE(s->due());
}

TEST_CASE("Device Information is read once and cached across sessions; battery every time", "[unit]") {
  Bench b;
  auto s = b.session(b.glucoseProfile());
  REQUIRE(s->runAttempt().isOk());
  int readsAfterFirst = b.meter->calls["ReadValue"];
  b.meter->get(0x180F, 0x2A19)->value = {55};
  b.clock.advance(60s);
  REQUIRE(s->due());
  REQUIRE(s->runAttempt().isOk());
  // Second run: battery + current time only (2 reads), no DIS strings.
  CHECK(b.meter->calls["ReadValue"] - readsAfterFirst == 2);
  CHECK(s->batteryPercent() == std::optional<std::uint8_t>(55));
}

TEST_CASE("Failed attempts back off exponentially on the injected clock, capped, and reset on success", "[unit]") {
  Bench b;
  auto s = b.session(b.glucoseProfile());
  Status abort(ErrorKind::kUnavailable, "fake: le-connection-abort-by-local");
  b.meter->failures["Connect"] = {abort, abort, abort, abort};
  auto start = b.clock.monotonicNow();
  CHECK(s->runAttempt().kind() == ErrorKind::kUnavailable);
  CHECK(s->nextAttemptAt() - start == 2s);
  CHECK_FALSE(s->due());
  b.clock.advance(1999ms);
  CHECK_FALSE(s->due());
  b.clock.advance(1ms);
  CHECK(s->due());
  CHECK_FALSE(s->runAttempt().isOk());
  CHECK(s->nextAttemptAt() - b.clock.monotonicNow() == 4s);
  CHECK_FALSE(s->runAttempt().isOk());
  CHECK(s->nextAttemptAt() - b.clock.monotonicNow() == 8s);
  CHECK_FALSE(s->runAttempt().isOk());
  CHECK(s->nextAttemptAt() - b.clock.monotonicNow() == 10s);  // capped
  CHECK(s->consecutiveFailures() == 4);
  REQUIRE(s->runAttempt().isOk());
  CHECK(s->consecutiveFailures() == 0);
  CHECK(s->nextAttemptAt() - b.clock.monotonicNow() == 60s);
}

TEST_CASE("A link drop during the procedure fails the attempt and the next one completes", "[unit]") {
  Bench b;
  auto racp = b.meter->get(0x1808, 0x2A52);
  racp->onWrite = [&b](const Bytes&) {
    b.meter->send(0x1808, 0x2A18, {0x02, 0x01, 0x00});
    b.meter->dropLink();
  };
  auto s = b.session(b.glucoseProfile());
  auto first = s->runAttempt();
  CHECK(first.kind() == ErrorKind::kUnavailable);
  CHECK(b.received.size() == 1);  // the record that did arrive still reached the sink
  racp->onWrite = [&b](const Bytes&) { b.meter->send(0x1808, 0x2A52, {0x06, 0x00, 0x01, 0x01}); };
  b.clock.advance(2s);
  CHECK(s->runAttempt().isOk());
}

TEST_CASE("Authorization failures, slow devices and unresolved services surface as attempt failures", "[unit]") {
  Bench b;
  auto s = b.session(b.glucoseProfile());
  SECTION("not paired") {
    b.meter->authorized = false;
    // Reads of DIS fail quietly (and are not cached); the RACP write is refused.
    CHECK(s->runAttempt().kind() == ErrorKind::kForbidden);
    CHECK_FALSE(s->deviceInformation().has_value());
    b.meter->authorized = true;
    b.clock.advance(2s);
    CHECK(s->runAttempt().isOk());
    CHECK(s->deviceInformation()->manufacturer == std::string("Acme"));
  }
  SECTION("services never resolve") {
    b.meter->resolves = false;
    CHECK(s->runAttempt().kind() == ErrorKind::kTimeout);
  }
  SECTION("a slow device only costs clock time") {
    b.meter->latency = 300ms;
    auto before = b.clock.monotonicNow();
    CHECK(s->runAttempt().isOk());
    CHECK(b.clock.monotonicNow() - before >= 300ms * 8);
  }
  SECTION("a profile characteristic the device lacks") {
    auto p = b.glucoseProfile();
    p.subscriptions.push_back({sigUuid(0x1808), sigUuid(0x2A34)});
    auto s2 = b.session(p);
    CHECK(s2->runAttempt().kind() == ErrorKind::kUnsupported);
  }
}

TEST_CASE("Only enrolled devices are ever looked up or connected", "[unit]") {
  Bench b;
  auto stranger = b.adapter.addDevice("C0:11:22:33:44:99");
  ble::BleSessionScheduler scheduler([&b](const std::string& address) -> std::unique_ptr<ble::BleSession> {
    auto dev = b.adapter.device(address);
    if (!dev) return nullptr;
    return std::make_unique<ble::BleSession>(*dev, b.glucoseProfile(), b.clock, nullptr);
  });
  CHECK(scheduler.tick() == 0);
  scheduler.setEnrolled({kMeter});
  CHECK(scheduler.tick() == 1);
  CHECK(scheduler.tick() == 0);  // not due again yet
  CHECK(b.meter->calls["Connect"] == 1);
  CHECK(stranger->calls["Connect"] == 0);
  CHECK(b.adapter.deviceLookups.count("C0:11:22:33:44:99") == 0);
  scheduler.setEnrolled({});
  CHECK(scheduler.session(kMeter) == nullptr);
}
