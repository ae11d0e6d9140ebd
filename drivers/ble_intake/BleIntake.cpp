#include "drivers/ble_intake/BleIntake.h"

#include <algorithm>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "drivers/blood_pressure/BloodPressureCollector.h"
#include "drivers/device_information/DeviceInformationParser.h"
#include "drivers/glucose/GlucoseRecordDownloader.h"
#include "gateway/log/Log.h"

namespace rpm::ble {
namespace {

constexpr std::uint16_t kGlucoseService = 0x1808;
constexpr std::uint16_t kBloodPressureService = 0x1810;
constexpr std::uint16_t kDeviceInformationService = 0x180A;

// "C01122334401" -> "C0:11:22:33:44:01", the form BlueZ uses.
std::string addressOf(const DeviceKey& key) {
  std::string out;
  for (std::size_t i = 0; i < key.value().size(); i += 2) {
    if (!out.empty()) out += ':';
    out += key.value().substr(i, 2);
  }
  return out;
}

bool hasService(const DeviceSnapshot& snapshot, std::uint16_t service) {
  return std::find(snapshot.uuids.begin(), snapshot.uuids.end(), sigUuid(service)) != snapshot.uuids.end();
}

}  // namespace

Result<std::unique_ptr<BleIntake>> BleIntake::create(BleIntakeOptions options, ReadingSink& sink,
                                                      EnrolmentStore& enrolments, DeviceStateStore& states,
                                                      const Clock& clock, std::shared_ptr<BleAdapter> adapter,
                                                      const TimeZoneRules& timeZone, const DeviceAliaser& aliaser) {
  if (!adapter) return Status(ErrorKind::kInvalidArgument, "BLE intake: no adapter");
  if (options.pollInterval.count() <= 0 || options.recordTimeout.count() <= 0 ||
      options.cuffQuietTimeout.count() <= 0 || options.firstRetry.count() <= 0 ||
      options.maxRetry < options.firstRetry) {
    return Status(ErrorKind::kInvalidArgument, "BLE intake: timeouts must be positive and retry_max >= first retry");
  }
  return std::unique_ptr<BleIntake>(
      new BleIntake(options, sink, enrolments, states, clock, std::move(adapter), timeZone, aliaser));
}

BleIntake::BleIntake(BleIntakeOptions options, ReadingSink& sink, EnrolmentStore& enrolments,
                     DeviceStateStore& states, const Clock& clock, std::shared_ptr<BleAdapter> adapter,
                     const TimeZoneRules& timeZone, const DeviceAliaser& aliaser)
    : options_(options),
      sink_(sink),
      enrolments_(enrolments),
      states_(states),
      clock_(clock),
      adapter_(std::move(adapter)),
      timeZone_(timeZone),
      aliaser_(aliaser),
      scheduler_([this](const std::string& address) { return makeSession(address); },
                 [this](const std::string& address, const Status& outcome) {
                   auto key = DeviceKey::bluetooth(address);
                   std::lock_guard<std::mutex> lock(countersMutex_);
                   ++counters_.attempts;
                   if (outcome.isOk()) return;
                   ++counters_.failedAttempts;
                   // The attempt backs off on the clock; the alias, never the address.
                   log::warning("ble", "connection attempt failed",
                                {log::Field("device", key ? aliaser_.aliasFor(*key) : DeviceAlias("unknown")),
                                 log::Field("error", outcome)});
                 }) {}

BleIntake::~BleIntake() { stop(); }

Status BleIntake::start() {
  if (thread_.joinable()) return Status(ErrorKind::kConflict, "BLE intake already started");
  stopRequested_ = false;
  thread_ = std::thread([this] { worker(); });
  return Status::ok();
}

void BleIntake::stop() {
  {
    std::lock_guard<std::mutex> lock(wakeMutex_);
    stopRequested_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(runMutex_);
  setDiscovery(false);  // our session ends with the intake
}

void BleIntake::worker() {
  log::info("ble", "intake started");
  while (!stopRequested_) {
    runDueSessions();
    std::unique_lock<std::mutex> lock(wakeMutex_);
    wake_.wait_for(lock, options_.pollInterval, [this] { return stopRequested_.load(); });
  }
  log::info("ble", "intake stopped");
}

BleIntakeCounters BleIntake::counters() const {
  std::lock_guard<std::mutex> lock(countersMutex_);
  return counters_;
}

std::size_t BleIntake::runDueSessions() {
  std::lock_guard<std::mutex> lock(runMutex_);
  auto enrolled = enrolments_.listEnrolments();
  if (!enrolled) {
    log::warning("ble", "enrolments unreadable", {log::Field("error", enrolled.status())});
    return 0;
  }
  // Only enrolled BLE devices are ever connected; a multi-user cuff has one
  // enrolment per slot but one session.
  std::vector<std::string> addresses;
  for (const auto& e : *enrolled) {
    if (e.transport != Transport::kBle || e.device.scheme() != DeviceKeyScheme::kBluetoothAddress) continue;
    std::string address = addressOf(e.device);
    if (std::find(addresses.begin(), addresses.end(), address) == addresses.end()) addresses.push_back(address);
  }
  scheduler_.setEnrolled(addresses);
  if (!options_.discovery) return scheduler_.tick();
  // Discovery runs while enrolled devices are expected and pauses while we
  // connect (scan and connection initiation contend, §8 item 2).
  expediteAdvertising(addresses);
  if (addresses.empty() || !anyAttemptDue(addresses)) {
    setDiscovery(!addresses.empty());
    return 0;
  }
  setDiscovery(false);
  std::size_t ran = scheduler_.tick();
  setDiscovery(!stopRequested_);
  return ran;
}

std::unique_ptr<BleSession> BleIntake::makeSession(const std::string& address) {
  auto device = adapter_->device(address);
  if (!device) return nullptr;  // not known to the adapter yet: asked again next pass
  auto key = DeviceKey::bluetooth(address);
  if (!key) return nullptr;
  DeviceSnapshot snapshot = (*device)->snapshot();
  bool glucose = hasService(snapshot, kGlucoseService);
  bool cuff = hasService(snapshot, kBloodPressureService);
  if (!glucose && !cuff) {
    if (auto other = makeProfileSession(*key, *device, snapshot)) return other;
    // Asked again next pass: UUIDs may arrive with the first resolution.
    if (unsupported_.insert(address).second) {
      std::lock_guard<std::mutex> lock(countersMutex_);
      ++counters_.unsupportedDevices;
      log::notice("ble", "enrolled device has no supported profile", {log::Field("device", aliaser_.aliasFor(*key))});
    }
    return nullptr;
  }
  SessionProfile profile;
  if (glucose) {
    profile.name = "glucose";
    // Measurement and context CCCs before the RACP's (§3.1.4 step 3).
    profile.subscriptions = {{sigUuid(kGlucoseService), sigUuid(0x2A18)},
                             {sigUuid(kGlucoseService), sigUuid(0x2A34)},
                             {sigUuid(kGlucoseService), sigUuid(0x2A52)}};
  } else {
    profile.name = "blood_pressure";
    // 0x2A36 (intermediate cuff pressure) is not subscribed: never uploaded.
    profile.subscriptions = {{sigUuid(kBloodPressureService), sigUuid(0x2A35)}};
  }
  DeviceKey deviceKey = *key;
  profile.procedure = [this, address, deviceKey, glucose](ProcedureContext& context) {
    return withDeviceClock(deviceKey, context, [&](ReadingSink& sink) {
      return runProcedure(address, deviceKey, glucose, context, sink);
    });
  };
  SessionTiming timing;
  timing.resolveTimeout = options_.connectTimeout;
  timing.firstRetry = options_.firstRetry;
  timing.maxRetry = options_.maxRetry;
  timing.afterSuccess = options_.revisitInterval;
  return std::make_unique<BleSession>(*device, std::move(profile), clock_, nullptr, timing);
}

Status BleIntake::runProcedure(const std::string& address, const DeviceKey& key, bool glucose,
                               ProcedureContext& context, ReadingSink& sink) {
  DeviceAlias alias = aliaser_.aliasFor(key);
  if (informationRecorded_.count(address) == 0) recordDeviceInformation(key, context.device());

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

  if (glucose) {
    drivers::glucose::GlucoseDownloadOptions options;
    options.valueTimeout = options_.recordTimeout;
    auto report = drivers::glucose::downloadGlucoseRecords(
        key, io, sink, states_, [](const Reading& r) { return computeReadingId(r); }, options);
    if (!report) {
      std::lock_guard<std::mutex> lock(countersMutex_);
      ++counters_.sessions;
      ++counters_.failedSessions;
      log::warning("ble", "glucose download interrupted",
                   {log::Field("device", alias), log::Field("error", report.status())});
      return report.status();
    }
    {
      std::lock_guard<std::mutex> lock(countersMutex_);
      ++counters_.sessions;
      counters_.glucoseRecords += report->records;
      counters_.stored += report->stored;
      counters_.held += report->held;
      counters_.duplicates += report->duplicates;
      counters_.invalid += report->invalid;
      counters_.malformed += report->malformed;
      counters_.orphanContexts += report->orphanContexts;
      counters_.operatorFallbacks += report->operatorFallback;
      counters_.counterResets += report->counterReset;
      counters_.wraps += report->wrapped;
    }
    log::info("ble", "glucose download done",
              {log::Field("device", alias), log::Field("records", report->records),
               log::Field("stored", report->stored), log::Field("duplicates", report->duplicates),
               log::Field("malformed", report->malformed), log::Field("fallback", report->operatorFallback),
               log::Field("reset", report->counterReset), log::Field("wrapped", report->wrapped)});
    return Status::ok();
  }

  drivers::blood_pressure::CuffCollectOptions options;
  options.quietTimeout = options_.cuffQuietTimeout;
  auto report = drivers::blood_pressure::collectCuffMeasurements(key, io, sink, options);
  std::lock_guard<std::mutex> lock(countersMutex_);
  ++counters_.sessions;
  if (!report) {
    ++counters_.failedSessions;
    log::warning("ble", "cuff collection failed", {log::Field("device", alias), log::Field("error", report.status())});
    return report.status();
  }
  counters_.cuffMeasurements += report->measurements;
  counters_.stored += report->stored;
  counters_.held += report->held;
  counters_.duplicates += report->duplicates;
  counters_.invalid += report->invalid;
  counters_.malformed += report->malformed;
  counters_.intermediateIgnored += report->intermediateIgnored;
  log::info("ble", "cuff measurements collected",
            {log::Field("device", alias), log::Field("measurements", report->measurements),
             log::Field("stored", report->stored), log::Field("held", report->held),
             log::Field("malformed", report->malformed)});
  return Status::ok();
}

// Device Information into every enrolment of the device, under the keys the
// daemon's FHIR Device builder reads. Values are never logged.
void BleIntake::recordDeviceInformation(const DeviceKey& key, BleDevice& device) {
  namespace dis = drivers::device_information;
  nlohmann::json found = nlohmann::json::object();
  const std::pair<const char*, std::uint16_t> strings[] = {
      {"manufacturer", dis::kManufacturerName}, {"model", dis::kModelNumber},
      {"serial", dis::kSerialNumber},           {"firmware", dis::kFirmwareRevision},
      {"software", dis::kSoftwareRevision},     {"hardware", dis::kHardwareRevision}};
  std::uint32_t malformed = 0;
  for (const auto& [name, uuid] : strings) {
    auto ch = device.characteristic(sigUuid(kDeviceInformationService), sigUuid(uuid));
    if (!ch) continue;
    auto raw = (*ch)->read();
    if (!raw) return;  // try again next session rather than record half a set
    auto text = dis::parseDisString(uuid, *raw);
    if (!text) {
      ++malformed;
      continue;
    }
    found[name] = *text;
  }
  if (auto ch = device.characteristic(sigUuid(kDeviceInformationService), sigUuid(dis::kSystemId))) {
    auto raw = (*ch)->read();
    if (!raw) return;
    auto id = dis::parseSystemId(*raw);
    if (id) {
      // 16 upper-case hex digits in over-the-air order: fhir::DeviceRecord::systemIdHex.
      static const char kHex[] = "0123456789ABCDEF";
      std::string hex;
      for (std::uint8_t b : *id) {
        hex.push_back(kHex[b >> 4]);
        hex.push_back(kHex[b & 0x0F]);
      }
      found["system_id"] = hex;
    }
    else ++malformed;
  }
  auto enrolled = enrolments_.listEnrolments();
  if (!enrolled) return;
  bool allWritten = true;
  std::uint32_t updated = 0;
  for (auto e : *enrolled) {
    if (e.device != key) continue;
    nlohmann::json metadata = nlohmann::json::parse(e.metadata, nullptr, false);
    if (!metadata.is_object()) metadata = nlohmann::json::object();
    nlohmann::json merged = metadata;
    for (auto it = found.begin(); it != found.end(); ++it) merged[it.key()] = it.value();
    if (merged == metadata) continue;
    e.metadata = merged.dump();
    Status s = enrolments_.putEnrolment(e);
    if (!s.isOk()) {
      allWritten = false;
      log::warning("ble", "device information not recorded",
                   {log::Field("device", aliaser_.aliasFor(key)), log::Field("error", s)});
      continue;
    }
    ++updated;
  }
  std::lock_guard<std::mutex> lock(countersMutex_);
  counters_.malformed += malformed;
  counters_.deviceInformationUpdates += updated;
  if (allWritten) informationRecorded_.insert(addressOf(key));
}

}  // namespace rpm::ble
