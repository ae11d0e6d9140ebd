// The BLE intake's heart-rate, pulse-oximeter, thermometer and weight-scale
// sessions, and the device-clock step every session runs (DeviceClock.h).
// BleIntake::makeSession hands a device here when it is neither a glucose
// meter nor a cuff.
#include <algorithm>
#include <optional>
#include <utility>

#include "drivers/ble_intake/BleIntake.h"
#include "drivers/ble_intake/DeviceClock.h"
#include "drivers/heart_rate/HeartRateStreamCollector.h"
#include "drivers/pulse_oximeter/PulseOximeterCollector.h"
#include "drivers/thermometer/ThermometerCollector.h"
#include "drivers/weight_scale/WeightScaleCollector.h"
#include "gateway/log/Log.h"

namespace rpm::ble {
namespace {

constexpr std::uint16_t kHeartRateService = 0x180D;
constexpr std::uint16_t kPulseOximeterService = 0x1822;
constexpr std::uint16_t kThermometerService = 0x1809;
constexpr std::uint16_t kWeightScaleService = 0x181D;

bool offers(const DeviceSnapshot& snapshot, std::uint16_t service) {
  return std::find(snapshot.uuids.begin(), snapshot.uuids.end(), sigUuid(service)) != snapshot.uuids.end();
}

// Subscribes an optional characteristic; false when the device lacks it.
Result<bool> subscribeIfPresent(BleDevice& device, std::uint16_t service, std::uint16_t characteristic) {
  auto ch = device.characteristic(sigUuid(service), sigUuid(characteristic));
  if (!ch) return false;
  Status s = (*ch)->startNotify();
  if (!s.isOk()) return s;
  return true;
}

}  // namespace

std::unique_ptr<BleSession> BleIntake::makeProfileSession(const DeviceKey& key, std::shared_ptr<BleDevice> device,
                                                          const DeviceSnapshot& snapshot) {
  SessionProfile profile;
  SessionTiming timing;
  timing.resolveTimeout = options_.connectTimeout;
  timing.firstRetry = options_.firstRetry;
  timing.maxRetry = options_.maxRetry;
  timing.afterSuccess = options_.revisitInterval;
  using Run = Status (BleIntake::*)(const DeviceKey&, ProcedureContext&, ReadingSink&);
  Run run = nullptr;
  if (offers(snapshot, kHeartRateService)) {
    profile.name = "heart_rate";
    profile.subscriptions = {{sigUuid(kHeartRateService), sigUuid(0x2A37)}};
    run = &BleIntake::runHeartRate;
    // A stream is followed again soon after it ends; a stopped one waits a revisit.
    timing.afterSuccess = options_.firstRetry;
  } else if (offers(snapshot, kPulseOximeterService)) {
    profile.name = "pulse_oximeter";  // every PLX characteristic is optional: the procedure subscribes
    run = &BleIntake::runPulseOximeter;
  } else if (offers(snapshot, kThermometerService)) {
    // The procedure subscribes: Intermediate Temperature (when present) before
    // the measurement, whose subscription makes the thermometer send.
    profile.name = "thermometer";
    run = &BleIntake::runThermometer;
  } else if (offers(snapshot, kWeightScaleService)) {
    profile.name = "weight_scale";
    profile.subscriptions = {{sigUuid(kWeightScaleService), sigUuid(0x2A9D)}};
    run = &BleIntake::runWeightScale;
  } else {
    return nullptr;
  }
  DeviceKey deviceKey = key;
  profile.procedure = [this, deviceKey, run](ProcedureContext& context) {
    return withDeviceClock(deviceKey, context,
                           [&](ReadingSink& sink) { return (this->*run)(deviceKey, context, sink); });
  };
  return std::make_unique<BleSession>(std::move(device), std::move(profile), clock_, nullptr, timing);
}

drivers::BleProcedureIo BleIntake::procedureIo(ProcedureContext& context) {
  drivers::BleProcedureIo io;
  // Waits in slices so a stop request is seen within a fraction of a second.
  io.nextValue = [this, &context](std::chrono::milliseconds timeout) -> Result<CharacteristicValue> {
    constexpr std::chrono::milliseconds kSlice{100};
    for (;;) {
      auto slice = std::min(timeout, kSlice);
      auto v = context.nextValue(slice);
      if (v || v.status().kind() != ErrorKind::kTimeout) return v;
      timeout -= slice;
      if (timeout.count() <= 0) return v;
      if (stopRequested_) return Status(ErrorKind::kUnavailable, "BLE intake stopping");
    }
  };
  io.write = [&context](std::uint16_t service, std::uint16_t characteristic, const std::vector<std::uint8_t>& value) {
    auto ch = context.device().characteristic(sigUuid(service), sigUuid(characteristic));
    if (!ch) return ch.status();
    return (*ch)->write(value, WriteType::kRequest);
  };
  io.utcOffsetAt = [this](UtcInstant t) { return timeZone_.offsetMinutesAt(t); };
  io.stopRequested = [this] { return stopRequested_.load(); };
  return io;
}

std::vector<BleStreamStatus> BleIntake::streams() const {
  std::lock_guard<std::mutex> lock(streamsMutex_);
  std::vector<BleStreamStatus> out;
  for (const auto& [address, s] : streams_) out.push_back(s);
  return out;
}

void BleIntake::setStreamState(const DeviceKey& key, const char* profile, const char* state,
                               std::optional<UtcInstant> lastSample) {
  std::lock_guard<std::mutex> lock(streamsMutex_);
  auto& s = streams_[key.value()];
  s.device = aliaser_.aliasFor(key).text();
  s.profile = profile;
  s.state = state;
  if (lastSample) s.lastSampleAt = lastSample;
}

namespace {

const char* stateAfter(drivers::StreamEnd end) {
  switch (end) {
    case drivers::StreamEnd::kStalled: return "stopped";
    case drivers::StreamEnd::kLinkDropped: return "disconnected";
    case drivers::StreamEnd::kSessionLimit:
    case drivers::StreamEnd::kStopRequested: return "paused";
  }
  return "paused";
}

}  // namespace

Status BleIntake::runHeartRate(const DeviceKey& key, ProcedureContext& context, ReadingSink& sink) {
  DeviceAlias alias = aliaser_.aliasFor(key);
  auto io = procedureIo(context);
  drivers::StreamFollowOptions options;
  options.stallTimeout = options_.streamStallTimeout;
  options.maxFollow = options_.streamSessionMax;
  // Counted as they come, so status shows a running stream.
  options.onSample = [this, &key](UtcInstant t) {
    setStreamState(key, "heart_rate", "streaming", t);
    std::lock_guard<std::mutex> lock(countersMutex_);
    ++counters_.heartRateNotifications;
  };
  auto report = drivers::heart_rate::HeartRateStreamCollector(options).run(key, io, sink, clock_);
  std::lock_guard<std::mutex> lock(countersMutex_);
  ++counters_.sessions;
  if (!report) {
    ++counters_.failedSessions;
    setStreamState(key, "heart_rate", "disconnected");
    log::warning("ble", "heart-rate stream failed", {log::Field("device", alias), log::Field("error", report.status())});
    return report.status();
  }
  counters_.malformed += report->malformed;
  counters_.held += report->held;
  counters_.invalid += report->invalid;
  if (report->end == drivers::StreamEnd::kStalled) ++counters_.streamStalls;
  setStreamState(key, "heart_rate", stateAfter(report->end));
  auto level = report->end == drivers::StreamEnd::kStalled ? log::Level::kWarning : log::Level::kInfo;
  log::write(level, "ble", "heart-rate stream ended",
             {log::Field("device", alias), log::Field::reviewed("end", std::string(drivers::streamEndName(report->end))),
              log::Field("notifications", report->notifications), log::Field("malformed", report->malformed)});
  return Status::ok();
}

Status BleIntake::runPulseOximeter(const DeviceKey& key, ProcedureContext& context, ReadingSink& sink) {
  DeviceAlias alias = aliaser_.aliasFor(key);
  drivers::pulse_oximeter::PlxCapabilities caps;
  // Measurements before the RACP, as for glucose (§3.1.4 step 3).
  auto spot = subscribeIfPresent(context.device(), kPulseOximeterService, 0x2A5E);
  if (!spot) return spot.status();
  caps.spotCheck = *spot;
  caps.continuous = context.device().characteristic(sigUuid(kPulseOximeterService), sigUuid(0x2A5F)).isOk();
  if (caps.spotCheck) {
    auto racp = subscribeIfPresent(context.device(), kPulseOximeterService, 0x2A52);
    if (!racp) return racp.status();
    caps.racp = *racp;
  }
  if (!caps.spotCheck && !caps.continuous) {
    return Status(ErrorKind::kUnsupported, "pulse oximeter without spot-check or continuous measurement");
  }
  auto io = procedureIo(context);
  drivers::pulse_oximeter::PulseOximeterOptions options;
  options.quietTimeout = options_.cuffQuietTimeout;
  options.recordTimeout = options_.recordTimeout;
  options.stream.stallTimeout = options_.streamStallTimeout;
  options.stream.maxFollow = options_.streamSessionMax;
  options.startContinuous = [&context] {
    auto ch = context.device().characteristic(sigUuid(kPulseOximeterService), sigUuid(0x2A5F));
    return ch ? (*ch)->startNotify() : ch.status();
  };
  options.stream.onSample = [this, &key](UtcInstant t) {
    setStreamState(key, "pulse_oximeter", "streaming", t);
    std::lock_guard<std::mutex> lock(countersMutex_);
    ++counters_.plxContinuous;
  };
  auto report = drivers::pulse_oximeter::PulseOximeterCollector(caps, options).run(key, io, sink, clock_);
  std::lock_guard<std::mutex> lock(countersMutex_);
  ++counters_.sessions;
  if (!report) {
    ++counters_.failedSessions;
    if (caps.continuous) setStreamState(key, "pulse_oximeter", "disconnected");
    log::warning("ble", "pulse oximeter session failed",
                 {log::Field("device", alias), log::Field("error", report.status())});
    return report.status();
  }
  const auto& s = report->spotChecks;
  counters_.plxSpotChecks += s.measurements;
  counters_.stored += s.stored;
  counters_.held += s.held + report->continuous.held;
  counters_.duplicates += s.duplicates;
  counters_.invalid += s.invalid + report->continuous.invalid;
  counters_.malformed += s.malformed + report->continuous.malformed;
  if (report->followedStream) {
    if (report->continuous.end == drivers::StreamEnd::kStalled) ++counters_.streamStalls;
    setStreamState(key, "pulse_oximeter", stateAfter(report->continuous.end));
  }
  log::info("ble", "pulse oximeter session done",
            {log::Field("device", alias), log::Field("spot_checks", s.measurements),
             log::Field("stored", s.stored), log::Field("racp_complete", report->racpCompleted),
             log::Field("continuous", report->continuous.notifications),
             log::Field::reviewed("end", std::string(report->followedStream ? drivers::streamEndName(report->continuous.end) : "none"))});
  return Status::ok();
}

Status BleIntake::runThermometer(const DeviceKey& key, ProcedureContext& context, ReadingSink& sink) {
  DeviceAlias alias = aliaser_.aliasFor(key);
  auto intermediate = subscribeIfPresent(context.device(), kThermometerService, 0x2A1E);
  if (!intermediate) return intermediate.status();
  auto measurement = subscribeIfPresent(context.device(), kThermometerService, 0x2A1C);
  if (!measurement) return measurement.status();
  if (!*measurement) return Status(ErrorKind::kUnsupported, "thermometer without Temperature Measurement");
  auto io = procedureIo(context);
  auto report = drivers::thermometer::ThermometerCollector(options_.cuffQuietTimeout).run(key, io, sink);
  std::lock_guard<std::mutex> lock(countersMutex_);
  ++counters_.sessions;
  if (!report) {
    ++counters_.failedSessions;
    log::warning("ble", "thermometer session failed", {log::Field("device", alias), log::Field("error", report.status())});
    return report.status();
  }
  counters_.temperatures += report->measurements;
  counters_.intermediateIgnored += report->ignored;
  counters_.stored += report->stored;
  counters_.held += report->held;
  counters_.duplicates += report->duplicates;
  counters_.invalid += report->invalid;
  counters_.malformed += report->malformed;
  log::info("ble", "temperatures collected",
            {log::Field("device", alias), log::Field("measurements", report->measurements),
             log::Field("intermediate_ignored", report->ignored), log::Field("stored", report->stored)});
  return Status::ok();
}

Status BleIntake::runWeightScale(const DeviceKey& key, ProcedureContext& context, ReadingSink& sink) {
  DeviceAlias alias = aliaser_.aliasFor(key);
  auto io = procedureIo(context);
  auto report = drivers::weight_scale::WeightScaleCollector(options_.cuffQuietTimeout).run(key, io, sink);
  std::lock_guard<std::mutex> lock(countersMutex_);
  ++counters_.sessions;
  if (!report) {
    ++counters_.failedSessions;
    log::warning("ble", "weight scale session failed", {log::Field("device", alias), log::Field("error", report.status())});
    return report.status();
  }
  counters_.weights += report->measurements;
  counters_.stored += report->stored;
  counters_.held += report->held;
  counters_.duplicates += report->duplicates;
  counters_.invalid += report->invalid;
  counters_.malformed += report->malformed;
  log::info("ble", "weights collected",
            {log::Field("device", alias), log::Field("measurements", report->measurements),
             log::Field("stored", report->stored), log::Field("held", report->held)});
  return Status::ok();
}

Status BleIntake::withDeviceClock(const DeviceKey& key, ProcedureContext& context,
                                  const std::function<Status(ReadingSink&)>& download) {
  auto sample = readDeviceClock(context.device(), clock_, timeZone_);
  std::int64_t magnitude = sample ? (sample->skewMs < 0 ? -sample->skewMs : sample->skewMs) : 0;
  bool off = sample && magnitude > options_.clockSkewThreshold.count();
  std::optional<SkewStampingSink> stamping;
  if (off) stamping.emplace(sink_, sample->skewMs);
  Status s = download(off ? static_cast<ReadingSink&>(*stamping) : sink_);
  if (!sample || !s.isOk()) return s;  // the clock is corrected only after a complete download
  DeviceAlias alias = aliaser_.aliasFor(key);
  ClockAction action = decideClockAction(*sample, options_.clockSkewThreshold,
                                         clock_.isSynchronized() || options_.plantIgnoreHubSynchronizationForTest);
  {
    std::lock_guard<std::mutex> lock(countersMutex_);
    if (off) ++counters_.clockSkewsRecorded;
    if (action == ClockAction::kHubUnsynchronized) ++counters_.clockNotSetHubUnsynchronized;
    if (action == ClockAction::kNotWritable) ++counters_.clockNotSetReadOnly;
  }
  if (action == ClockAction::kWithinThreshold) return s;
  if (action != ClockAction::kWrite) {
    log::notice("ble", "device clock off, not set",
                {log::Field("device", alias), log::Field("skew_ms", sample->skewMs),
                 log::Field::reviewed("reason", std::string(action == ClockAction::kHubUnsynchronized
                                                      ? "hub clock not synchronized"
                                                      : "current time read-only"))});
    return s;
  }
  UtcInstant now = clock_.now();
  LocalDateTime local = toLocal(now, timeZone_.offsetMinutesAt(now));
  auto ch = context.device().characteristic(sigUuid(kCurrentTimeService), sigUuid(kCurrentTime));
  Status written = ch ? (*ch)->write(encodeCurrentTime(local), WriteType::kRequest) : ch.status();
  std::lock_guard<std::mutex> lock(countersMutex_);
  if (!written.isOk()) {
    // The download is durable; the clock is tried again next session.
    ++counters_.deviceClockWriteFailures;
    log::warning("ble", "device clock not set", {log::Field("device", alias), log::Field("error", written)});
    return s;
  }
  ++counters_.deviceClocksSet;
  log::info("ble", "device clock set", {log::Field("device", alias), log::Field("skew_ms", sample->skewMs)});
  return s;
}

}  // namespace rpm::ble
