// ScanWatchdog: decides when a silent scanner needs help (bluez-dbus-api.md
// §8 item 7: controllers that stop reporting, `Discovering` stuck true).
// Pure logic on the injected clock's time points, unit-tested without a bus;
// BluezRecovery feeds it and carries out what it returns.
//
// While armed (our discovery runs and devices are expected), no
// advertisement-driven update for `silence` means: restart discovery; still
// nothing one interval later: power-cycle the adapter; still nothing: power-
// cycle again, each interval doubled up to `maxInterval`. Any update resets it.
#pragma once

#include <chrono>
#include <cstdint>

namespace rpm::bluez {

enum class ScanWatchdogAction { kNone, kRestartDiscovery, kPowerCycle };

struct ScanWatchdogStep {
  ScanWatchdogAction action = ScanWatchdogAction::kNone;
  bool recovered = false;  // the scanner reported again after a watchdog action
};

class ScanWatchdog {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  ScanWatchdog(std::chrono::milliseconds silence, std::chrono::milliseconds maxInterval);

  // `activity` is a counter bumped by every advertisement-driven update.
  ScanWatchdogStep poll(TimePoint now, bool armed, std::uint64_t activity);
  // Nothing is expected any more: forget the escalation.
  void reset(TimePoint now);
  // 0: quiet or fine; 1: discovery was restarted; 2+: power cycles so far + 1.
  int stage() const { return stage_; }
  bool enabled() const { return silence_.count() > 0; }

 private:
  std::chrono::milliseconds silence_, maxInterval_, interval_;
  TimePoint lastActivityAt_{};
  std::uint64_t lastActivity_ = 0;
  bool started_ = false;
  int stage_ = 0;
};

}  // namespace rpm::bluez
