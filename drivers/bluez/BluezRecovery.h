// BluezRecovery (internal): the client's self-healing, on its own thread.
// The loop thread (BluezCore) reconnects the bus and counts what happened to
// bluetoothd and the adapter; this thread acts on it with blocking calls:
//   * our discovery session died (bus lost, bluetoothd restarted, adapter
//     removed or powered off): once the adapter is ready again, re-arm it
//     and call the owner's restored handler (§8 item 11);
//   * the adapter stays unpowered while devices are expected: power it on,
//     backing off when bluetoothd refuses (rfkill: Blocked);
//   * the scan watchdog (ScanWatchdog) restarts discovery, then power-cycles.
// Every timer is on the injected Clock; the thread wakes on every mirror
// change and at least every `recoveryPoll` to look at the clock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "drivers/bluez/BluezClient.h"
#include "drivers/bluez/ScanWatchdog.h"

namespace rpm::bluez {

class BluezCore;
class BluezDiscovery;

class BluezRecovery {
 public:
  BluezRecovery(std::shared_ptr<BluezCore> core, std::shared_ptr<BluezDiscovery> discovery,
                const BluezClientOptions& options);
  ~BluezRecovery();
  void start();
  void stop();

  void setDevicesExpected(std::function<bool()> expected);
  void setRestoredHandler(std::function<void()> handler);
  // "off", "ok" or "silent" (see BluezHealth).
  std::string scannerState() const;
  std::uint64_t passes() const { return passes_.load(); }

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  void run();
  void step();
  bool expected();
  bool adapterReady(bool& presentUnpowered) const;

  std::shared_ptr<BluezCore> core_;
  std::shared_ptr<BluezDiscovery> discovery_;
  BluezClientOptions options_;
  std::thread thread_;
  std::atomic<std::uint64_t> passes_{0};
  std::mutex mutex_;  // guards the handlers, stopping_ and the state below read by scannerState()
  std::condition_variable stopCv_;
  bool stopping_ = false;
  std::function<bool()> expected_;
  std::function<void()> restored_;

  // Recovery thread only.
  ScanWatchdog watchdog_;
  std::uint64_t seenEpoch_ = 0;
  bool restorePending_ = false;
  TimePoint rearmAt_{};
  std::chrono::milliseconds rearmBackoff_{0};
  std::optional<TimePoint> unpoweredSince_;
  TimePoint powerOnAt_{};
  std::chrono::milliseconds powerOnBackoff_{0};
  // Shared with scannerState().
  mutable std::mutex stateMutex_;
  std::string scanner_ = "off";
};

}  // namespace rpm::bluez
