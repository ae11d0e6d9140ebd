// BleIntake: the gateway's Bluetooth LE intake. It connects only the enrolled
// BLE devices (EnrolmentStore, transport ble), runs each device's profile
// procedure through a BleSession (glucose meter: RACP download with the record
// cursor; blood-pressure cuff: stored measurements), hands every decoded
// reading to the ReadingSink, and records the device's Device Information
// into its enrolment metadata for the FHIR Device builder.
//
// It sits above the profile drivers (it picks one per device), so it has its
// own dependency rule (docs/architecture.md, .ci/check-includes): model,
// ports, identity (reading ids, aliases), log, nlohmann/json (the metadata
// JSON) and the BLE driver folders. No sdbus-c++: the adapter is the port.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <optional>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "drivers/ble_session/BleSession.h"
#include "drivers/common/BleProcedureIo.h"
#include "gateway/identity/Identifiers.h"
#include "gateway/model/Status.h"
#include "gateway/ports/BleAdapter.h"
#include "gateway/ports/Clock.h"
#include "gateway/ports/DeviceStateStore.h"
#include "gateway/ports/EnrolmentStore.h"
#include "gateway/ports/ReadingSink.h"
#include "gateway/ports/TimeZoneRules.h"

namespace rpm::ble {

struct BleIntakeOptions {
  std::chrono::milliseconds connectTimeout{20000};   // ble.connect_timeout_ms
  std::chrono::milliseconds revisitInterval{60000};  // ble.revisit_interval_ms
  std::chrono::milliseconds firstRetry{2000};
  std::chrono::milliseconds maxRetry{300000};        // ble.retry_max_ms
  std::chrono::milliseconds recordTimeout{10000};    // ble.record_timeout_ms
  std::chrono::milliseconds cuffQuietTimeout{3000};  // ble.cuff_quiet_ms
  // How often the worker re-reads enrolments and runs due sessions.
  std::chrono::milliseconds pollInterval{1000};
  // LE discovery filtered to the health services while enrolled devices are
  // expected: devices BlueZ does not know yet (temporary objects) become
  // reachable, and an advert brings a device's next visit forward.
  bool discovery = true;
  // An advertising device is visited again at most this soon after its last attempt.
  std::chrono::milliseconds advertVisitGap{10000};
  // Continuous streams (heart rate, PLX continuous): BleIntakeProfiles.cpp.
  std::chrono::milliseconds streamStallTimeout{15000};  // ble.stream_stall_ms: no sample this long = stopped
  std::chrono::milliseconds streamSessionMax{600000};   // ble.stream_session_max_ms: then yield to other devices
  // Device clocks (DeviceClock.h, decision 0045): off by more than this = recorded and corrected.
  std::chrono::milliseconds clockSkewThreshold{5000};   // ble.clock_skew_threshold_ms
  // Planted bug for the harness check only: sets device clocks from an unsynchronized hub.
  bool plantIgnoreHubSynchronizationForTest = false;
};

// A continuous stream's state for status (no values, device by alias).
struct BleStreamStatus {
  std::string device;   // DeviceAlias text
  std::string profile;  // "heart_rate", "pulse_oximeter"
  std::string state;    // "streaming", "stopped" (stalled while linked), "disconnected", "paused"
  std::optional<UtcInstant> lastSampleAt;
};

// Monotonic counts for status and metrics (no values, no addresses).
struct BleIntakeCounters {
  std::uint64_t attempts = 0, failedAttempts = 0;  // connection attempts (any cause: BlueZ errors too)
  std::uint64_t sessions = 0, failedSessions = 0;  // procedures run / interrupted
  std::uint64_t glucoseRecords = 0, cuffMeasurements = 0;
  std::uint64_t stored = 0, held = 0, duplicates = 0, invalid = 0;
  std::uint64_t malformed = 0, orphanContexts = 0, intermediateIgnored = 0;
  std::uint64_t operatorFallbacks = 0, counterResets = 0, wraps = 0;
  std::uint64_t deviceInformationUpdates = 0;
  std::uint64_t unsupportedDevices = 0;  // enrolled devices with no supported profile (once each)
  // Heart rate, pulse oximeter, thermometer, weight scale (BleIntakeProfiles.cpp).
  std::uint64_t heartRateNotifications = 0, plxSpotChecks = 0, plxContinuous = 0;
  std::uint64_t temperatures = 0, weights = 0, streamStalls = 0;
  // Device clocks (DeviceClock.h).
  std::uint64_t clockSkewsRecorded = 0, deviceClocksSet = 0, deviceClockWriteFailures = 0;
  std::uint64_t clockNotSetHubUnsynchronized = 0, clockNotSetReadOnly = 0;
  std::uint64_t discoveryStarts = 0, discoveryFailures = 0;  // our LE discovery session (re)started / refused
  std::uint64_t advertVisits = 0;  // visits brought forward because the device advertised
};

class BleIntake {
 public:
  static Result<std::unique_ptr<BleIntake>> create(BleIntakeOptions options, ReadingSink& sink,
                                                    EnrolmentStore& enrolments, DeviceStateStore& states,
                                                    const Clock& clock, std::shared_ptr<BleAdapter> adapter,
                                                    const TimeZoneRules& timeZone, const DeviceAliaser& aliaser);
  ~BleIntake();
  BleIntake(const BleIntake&) = delete;
  BleIntake& operator=(const BleIntake&) = delete;

  // Starts the worker thread; kConflict when already started.
  Status start();
  // Asks the procedure in progress to stop, lets it finish the submit in
  // flight and record what is durable, disconnects and joins. Idempotent.
  void stop();

  // One pass: re-reads the enrolments and runs every due session. The worker
  // calls it every pollInterval; tests call it directly (without start()).
  // Returns how many sessions ran.
  std::size_t runDueSessions();

  BleIntakeCounters counters() const;
  // The continuous streams seen since start, by device.
  std::vector<BleStreamStatus> streams() const;

 private:
  BleIntake(BleIntakeOptions options, ReadingSink& sink, EnrolmentStore& enrolments, DeviceStateStore& states,
            const Clock& clock, std::shared_ptr<BleAdapter> adapter, const TimeZoneRules& timeZone,
            const DeviceAliaser& aliaser);
  std::unique_ptr<BleSession> makeSession(const std::string& address);
  Status runProcedure(const std::string& address, const DeviceKey& key, bool glucose, ProcedureContext& context,
                      ReadingSink& sink);
  void recordDeviceInformation(const DeviceKey& key, BleDevice& device);
  // Heart rate, pulse oximeter, thermometer, weight scale (BleIntakeProfiles.cpp);
  // nullptr when the device has none of them.
  std::unique_ptr<BleSession> makeProfileSession(const DeviceKey& key, std::shared_ptr<BleDevice> device,
                                                 const DeviceSnapshot& snapshot);
  drivers::BleProcedureIo procedureIo(ProcedureContext& context);
  Status runHeartRate(const DeviceKey& key, ProcedureContext& context, ReadingSink& sink);
  Status runPulseOximeter(const DeviceKey& key, ProcedureContext& context, ReadingSink& sink);
  Status runThermometer(const DeviceKey& key, ProcedureContext& context, ReadingSink& sink);
  Status runWeightScale(const DeviceKey& key, ProcedureContext& context, ReadingSink& sink);
  void setStreamState(const DeviceKey& key, const char* profile, const char* state,
                      std::optional<UtcInstant> lastSample = std::nullopt);
  // Reads the device clock, runs `download` with the skew recorded on its
  // readings, then corrects the device clock (DeviceClock.h).
  Status withDeviceClock(const DeviceKey& key, ProcedureContext& context,
                         const std::function<Status(ReadingSink&)>& download);
  void worker();
  // Discovery-driven presence (BleIntakeDiscovery.cpp).
  void expediteAdvertising(const std::vector<std::string>& addresses);
  bool anyAttemptDue(const std::vector<std::string>& addresses);
  void setDiscovery(bool on);

  BleIntakeOptions options_;
  ReadingSink& sink_;
  EnrolmentStore& enrolments_;
  DeviceStateStore& states_;
  const Clock& clock_;
  std::shared_ptr<BleAdapter> adapter_;
  const TimeZoneRules& timeZone_;
  const DeviceAliaser& aliaser_;

  std::mutex runMutex_;  // one pass at a time
  BleSessionScheduler scheduler_;
  std::set<std::string> informationRecorded_;  // addresses whose DIS is in the metadata
  std::set<std::string> unsupported_;          // addresses counted in unsupportedDevices
  bool discovering_ = false;                   // our discovery session runs (pass thread only)
  std::map<std::string, std::uint64_t> advertsAtLastLook_;  // by address (pass thread only)
  mutable std::mutex streamsMutex_;
  std::map<std::string, BleStreamStatus> streams_;  // by address

  mutable std::mutex countersMutex_;
  BleIntakeCounters counters_;

  std::atomic<bool> stopRequested_{false};
  std::mutex wakeMutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace rpm::ble
