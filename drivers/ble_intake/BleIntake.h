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
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "drivers/ble_session/BleSession.h"
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
  std::uint64_t unsupportedDevices = 0;  // enrolled devices with neither glucose nor blood pressure (once each)
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

 private:
  BleIntake(BleIntakeOptions options, ReadingSink& sink, EnrolmentStore& enrolments, DeviceStateStore& states,
            const Clock& clock, std::shared_ptr<BleAdapter> adapter, const TimeZoneRules& timeZone,
            const DeviceAliaser& aliaser);
  std::unique_ptr<BleSession> makeSession(const std::string& address);
  Status runProcedure(const std::string& address, const DeviceKey& key, bool glucose, ProcedureContext& context);
  void recordDeviceInformation(const DeviceKey& key, BleDevice& device);
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

  mutable std::mutex countersMutex_;
  BleIntakeCounters counters_;

  std::atomic<bool> stopRequested_{false};
  std::mutex wakeMutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace rpm::ble
