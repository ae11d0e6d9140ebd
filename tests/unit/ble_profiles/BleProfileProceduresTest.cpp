// The profile procedures against a scripted device: values on air come from a
// queue; an empty queue is silence, and silence moves the FakeClock by the
// time waited, so stall and quiet rules run deterministically without a bus.
#include <catch2/catch.hpp>

#include <deque>

#include "drivers/ble_intake/DeviceClock.h"
#include "drivers/common/MeasurementCollector.h"
#include "drivers/heart_rate/HeartRateStreamCollector.h"
#include "drivers/pulse_oximeter/PulseOximeterCollector.h"
#include "drivers/thermometer/ThermometerCollector.h"
#include "tests/support/FakeClock.h"

using namespace rpm;
using namespace std::chrono_literals;

namespace {

struct ScriptedDevice {
  test::FakeClock clock;
  // nullopt entries: the link drops there.
  std::deque<std::optional<ble::CharacteristicValue>> air;
  std::vector<std::vector<std::uint8_t>> writes;
  std::function<void()> onWrite;
  drivers::BleProcedureIo io() {
    drivers::BleProcedureIo io;
    io.nextValue = [this](std::chrono::milliseconds timeout) -> Result<ble::CharacteristicValue> {
      if (air.empty()) {
        clock.advance(timeout);
        return Status(ErrorKind::kTimeout, "quiet");
      }
      auto v = air.front();
      air.pop_front();
      if (!v) return Status(ErrorKind::kUnavailable, "link dropped");
      return *v;
    };
    io.write = [this](std::uint16_t, std::uint16_t, const std::vector<std::uint8_t>& value) {
      writes.push_back(value);
      if (onWrite) onWrite();
      return Status::ok();
    };
    io.utcOffsetAt = [](UtcInstant) { return 0; };
    return io;
  }
  void send(std::uint16_t characteristic, std::vector<std::uint8_t> bytes) {
    air.push_back(ble::CharacteristicValue{ble::sigUuid(0x1800), ble::sigUuid(characteristic), std::move(bytes),
                                           clock.now()});
  }
};

class CountingSink final : public ReadingSink {
 public:
  Result<AppendReport> submit(std::vector<Reading> readings) override {
    AppendReport r;
    for (auto& reading : readings) {
      received.push_back(reading);
      r.outcomes.push_back(AppendOutcome::kStored);
    }
    return r;
  }
  std::vector<Reading> received;
};

const DeviceKey kDevice = *DeviceKey::bluetooth("C0:11:22:33:44:01");
const std::vector<std::uint8_t> kHeartRate72{0x16, 72, 0x52, 0x03};  // contact, RR 850/1024 s
const std::vector<std::uint8_t> kPlxContinuous{0x00, 0x60, 0x00, 0x47, 0x00};  // SpO2 96, PR 71

}  // namespace

TEST_CASE("A heart-rate stream that goes silent is reported stalled after the stall timeout on the injected clock",
          "[unit][ble-profiles]") {
  ScriptedDevice dev;
  for (int i = 0; i < 5; ++i) dev.send(0x2A37, kHeartRate72);
  CountingSink sink;
  drivers::StreamFollowOptions options;
  options.stallTimeout = 5s;
  int samples = 0;
  options.onSample = [&](UtcInstant) { ++samples; };
  auto io = dev.io();
  auto start = dev.clock.monotonicNow();
  auto report = drivers::heart_rate::HeartRateStreamCollector(options).run(kDevice, io, sink, dev.clock);
  REQUIRE(report.isOk());
  CHECK(report->end == drivers::StreamEnd::kStalled);
  CHECK(report->notifications == 5);
  CHECK(samples == 5);
  CHECK(sink.received.size() == 10);  // a heart-rate and an RR reading per notification
  CHECK(dev.clock.monotonicNow() - start == 5s);  // noticed exactly when the timeout passed, not before
}

TEST_CASE("A steady stream never stalls, and the session limit hands the worker back", "[unit][ble-profiles]") {
  ScriptedDevice dev;
  CountingSink sink;
  drivers::StreamFollowOptions options;
  options.stallTimeout = 2s;
  options.maxFollow = 60s;
  options.slice = 1000ms;
  auto io = dev.io();
  // One notification per second of silence: the stream is alive.
  auto inner = io.nextValue;
  io.nextValue = [&](std::chrono::milliseconds timeout) {
    if (dev.air.empty()) dev.send(0x2A37, kHeartRate72);
    auto v = inner(timeout);
    dev.clock.advance(1s);
    return v;
  };
  auto report = drivers::heart_rate::HeartRateStreamCollector(options).run(kDevice, io, sink, dev.clock);
  REQUIRE(report.isOk());
  CHECK(report->end == drivers::StreamEnd::kSessionLimit);
  CHECK(report->notifications == 60);
}

TEST_CASE("A link drop ends the stream as disconnected, and malformed notifications are counted",
          "[unit][ble-profiles]") {
  ScriptedDevice dev;
  dev.send(0x2A37, kHeartRate72);
  dev.send(0x2A37, {0x10});  // RR flag, no heart rate: truncated
  dev.air.push_back(std::nullopt);
  CountingSink sink;
  auto io = dev.io();
  auto report = drivers::heart_rate::HeartRateStreamCollector({}).run(kDevice, io, sink, dev.clock);
  REQUIRE(report.isOk());
  CHECK(report->end == drivers::StreamEnd::kLinkDropped);
  CHECK(report->notifications == 2);
  CHECK(report->malformed == 1);
}

TEST_CASE("Intermediate temperatures are counted and never submitted", "[unit][ble-profiles]") {
  ScriptedDevice dev;
  // Celsius FLOAT 36.8 (368 x 10^-1) then final 37.2 with no time stamp.
  dev.send(0x2A1E, {0x00, 0x70, 0x01, 0x00, 0xFF});
  dev.send(0x2A1E, {0x00, 0x71, 0x01, 0x00, 0xFF});
  dev.send(0x2A1C, {0x00, 0x74, 0x01, 0x00, 0xFF});
  CountingSink sink;
  auto io = dev.io();
  auto report = drivers::thermometer::ThermometerCollector(1000ms).run(kDevice, io, sink);
  REQUIRE(report.isOk());
  CHECK(report->ignored == 2);
  CHECK(report->measurements == 1);
  REQUIRE(sink.received.size() == 1);
  CHECK(sink.received[0].components().at(0).quantity.value.toString() == "37.2");
}

TEST_CASE("An oximeter asks for its stored spot-checks through RACP and keeps stream samples that came meanwhile",
          "[unit][ble-profiles]") {
  ScriptedDevice dev;
  drivers::pulse_oximeter::PlxCapabilities caps{true, true, true};
  drivers::pulse_oximeter::PulseOximeterOptions options;
  options.stream.stallTimeout = 3s;
  bool continuousStarted = false;
  options.startContinuous = [&] {
    continuousStarted = true;
    return Status::ok();
  };
  dev.onWrite = [&] {
    // Flags 0x02 (status), SpO2 97, PR 64, Measurement Status 0x0200 (from storage).
    dev.send(0x2A5E, {0x02, 0x61, 0x00, 0x40, 0x00, 0x00, 0x02});
    dev.send(0x2A5F, kPlxContinuous);  // a re-armed stream, during the download
    dev.send(0x2A5E, {0x02, 0x5F, 0x00, 0x46, 0x00, 0x00, 0x02});
    dev.send(0x2A52, {0x06, 0x00, 0x01, 0x01});
    dev.send(0x2A5F, kPlxContinuous);
  };
  CountingSink sink;
  auto io = dev.io();
  auto report = drivers::pulse_oximeter::PulseOximeterCollector(caps, options).run(kDevice, io, sink, dev.clock);
  REQUIRE(report.isOk());
  CHECK(dev.writes == std::vector<std::vector<std::uint8_t>>{{0x01, 0x01}});
  CHECK(report->racpCompleted);
  CHECK(report->racpResponse == 0x01);
  CHECK(report->spotChecks.measurements == 2);
  CHECK(continuousStarted);
  CHECK(report->continuous.notifications == 2);  // the early sample was not lost
  CHECK(report->continuous.end == drivers::StreamEnd::kStalled);
  std::size_t stored = 0;
  for (const auto& r : sink.received) stored += r.priority == Priority::kStored ? 1 : 0;
  CHECK(stored == 2);
}

TEST_CASE("The device clock is written only when off by more than the threshold, writable and the hub synchronized",
          "[unit][ble-profiles][device-clock]") {
  ble::DeviceClockSample s;
  s.writable = true;
  s.skewMs = 5000;
  CHECK(ble::decideClockAction(s, 5000ms, true) == ble::ClockAction::kWithinThreshold);
  s.skewMs = -5001;
  CHECK(ble::decideClockAction(s, 5000ms, true) == ble::ClockAction::kWrite);
  CHECK(ble::decideClockAction(s, 5000ms, false) == ble::ClockAction::kHubUnsynchronized);
  s.writable = false;
  CHECK(ble::decideClockAction(s, 5000ms, true) == ble::ClockAction::kNotWritable);
  // 2024-03-03 was a Sunday (7); fractions kept.
  auto t = LocalDateTime::parse("2024-03-03T23:59:59");
  REQUIRE(t);
  t->fractions256 = 128;
  CHECK(ble::encodeCurrentTime(*t) == std::vector<std::uint8_t>{0xE8, 0x07, 3, 3, 23, 59, 59, 7, 128, 0x01});
}

TEST_CASE("The skew-stamping sink records the skew only on readings with a device time", "[unit][ble-profiles]") {
  CountingSink next;
  ble::SkewStampingSink sink(next, 3600000);
  Reading withTime, withoutTime, alreadyStamped;
  withTime.deviceTime = LocalDateTime::parse("2024-03-01T08:00:00");
  alreadyStamped.deviceTime = withTime.deviceTime;
  alreadyStamped.clockSkewMs = 7;
  REQUIRE(sink.submit({withTime, withoutTime, alreadyStamped}).isOk());
  CHECK(next.received[0].clockSkewMs == std::optional<std::int64_t>(3600000));
  CHECK_FALSE(next.received[1].clockSkewMs.has_value());
  CHECK(next.received[2].clockSkewMs == std::optional<std::int64_t>(7));
}
