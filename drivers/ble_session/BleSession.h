// BleSession: the per-device connection state machine over the BLE ports.
//
// One attempt: connect -> wait for ServicesResolved -> read Device
// Information (once, then cached) and Battery -> read Current Time and record
// it next to the gateway's clock -> subscribe to the profile's
// characteristics -> run the profile procedure -> disconnect. Every value the
// device sends is handed to the sink unchanged with its receive time
// (decoders deal with malformed bytes). Failed attempts are retried with
// exponential backoff on the injected Clock. Reference:
// bluez-dbus-api.md §3.3, §8; health-devices-to-fhir.md §3.1.4 steps 1-3.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/model/Status.h"
#include "gateway/model/Time.h"
#include "gateway/ports/BleDevice.h"
#include "gateway/ports/Clock.h"

namespace rpm::ble {

// What the procedure hook may do during an attempt.
class ProcedureContext {
 public:
  virtual ~ProcedureContext() = default;
  virtual BleDevice& device() = 0;
  virtual const Clock& clock() const = 0;
  // The next value received since subscription, waiting at most `timeout`;
  // kUnavailable once the link has dropped, kTimeout when nothing came.
  virtual Result<CharacteristicValue> nextValue(std::chrono::milliseconds timeout) = 0;
};

using ProcedureHook = std::function<Status(ProcedureContext&)>;

struct SessionProfile {
  std::string name;  // "glucose", "blood_pressure" (logs and metrics)
  // (service uuid, characteristic uuid) to StartNotify, in this order; all are
  // required (a meter must accept RACP only after its measurement CCCs, §3.1.4 step 3).
  std::vector<std::pair<std::string, std::string>> subscriptions;
  ProcedureHook procedure;  // may be empty: just collect until the device disconnects
};

struct SessionTiming {
  std::chrono::milliseconds resolveTimeout{20000};  // ble.connect_timeout_ms
  std::chrono::milliseconds firstRetry{2000};
  std::chrono::milliseconds maxRetry{300000};
  std::chrono::milliseconds afterSuccess{60000};     // next visit after a good session
};

// Device Information 0x180A strings, read once per device (cached).
struct DeviceInformation {
  std::optional<std::string> manufacturer, model, serial, firmware;
};

// Current Time 0x2A2B as read, with the gateway's time of the read.
struct CurrentTimeSample {
  std::vector<std::uint8_t> raw;
  std::optional<LocalDateTime> deviceTime;  // nullopt if malformed or unknown
  UtcInstant readAt;
};

using ValueSink = std::function<void(const std::string& address, const CharacteristicValue& value)>;

class BleSession {
 public:
  BleSession(std::shared_ptr<BleDevice> device, SessionProfile profile, const Clock& clock, ValueSink sink,
             SessionTiming timing = {});
  ~BleSession();
  BleSession(const BleSession&) = delete;
  BleSession& operator=(const BleSession&) = delete;

  // True when an attempt is due on the monotonic clock.
  bool due() const;
  // Runs one attempt now and schedules the next; returns its outcome.
  Status runAttempt();
  // The device was seen advertising: bring the next attempt forward to at
  // least `minGap` after the last one ended (a meter advertises after a
  // measurement; backoff and revisit timers would otherwise make it wait).
  void expedite(std::chrono::milliseconds minGap);

  std::uint32_t consecutiveFailures() const { return failures_; }
  std::chrono::steady_clock::time_point nextAttemptAt() const { return nextAttempt_; }
  const std::optional<DeviceInformation>& deviceInformation() const { return info_; }
  std::optional<std::uint8_t> batteryPercent() const { return battery_; }
  const std::optional<CurrentTimeSample>& currentTime() const { return currentTime_; }

 private:
  class Context;
  Status attempt();
  void onValue(const CharacteristicValue& value);
  void onLink(bool up);

  std::shared_ptr<BleDevice> device_;
  SessionProfile profile_;
  const Clock& clock_;
  ValueSink sink_;
  SessionTiming timing_;
  std::uint32_t failures_ = 0;
  std::chrono::steady_clock::time_point nextAttempt_;
  std::optional<std::chrono::steady_clock::time_point> lastAttemptEnded_;
  std::optional<DeviceInformation> info_;
  std::optional<std::uint8_t> battery_;
  std::optional<CurrentTimeSample> currentTime_;

  // Values for the procedure; shared with the client's callback thread.
  struct Inbox {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<CharacteristicValue> values;
    bool linkDropped = false;
    bool collecting = false;
  };
  std::shared_ptr<Inbox> inbox_;
};

// Sessions for the enrolled devices only: a device that is not enrolled is
// never connected. Enrolments come from the buffer later; here, a set.
class BleSessionScheduler {
 public:
  using SessionFactory = std::function<std::unique_ptr<BleSession>(const std::string& address)>;
  // Told the outcome of every attempt tick() runs (logs and counters).
  using AttemptObserver = std::function<void(const std::string& address, const Status& outcome)>;
  explicit BleSessionScheduler(SessionFactory factory, AttemptObserver observer = nullptr)
      : factory_(std::move(factory)), observer_(std::move(observer)) {}
  void setEnrolled(std::vector<std::string> addresses);
  // Runs every due attempt of enrolled devices; returns how many ran.
  std::size_t tick();
  BleSession* session(const std::string& address);

 private:
  SessionFactory factory_;
  AttemptObserver observer_;
  std::vector<std::string> enrolled_;
  std::vector<std::pair<std::string, std::unique_ptr<BleSession>>> sessions_;
};

}  // namespace rpm::ble
