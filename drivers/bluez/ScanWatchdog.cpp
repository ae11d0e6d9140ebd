#include "drivers/bluez/ScanWatchdog.h"

#include <algorithm>

namespace rpm::bluez {

ScanWatchdog::ScanWatchdog(std::chrono::milliseconds silence, std::chrono::milliseconds maxInterval)
    : silence_(silence), maxInterval_(std::max(maxInterval, silence)), interval_(silence) {}

ScanWatchdogStep ScanWatchdog::poll(TimePoint now, bool armed, std::uint64_t activity) {
  ScanWatchdogStep step;
  if (!started_ || activity != lastActivity_) {
    step.recovered = started_ && stage_ > 0;
    started_ = true;
    lastActivity_ = activity;
    lastActivityAt_ = now;
    stage_ = 0;
    interval_ = silence_;
    return step;
  }
  if (!armed || !enabled()) {
    // Not scanning (or nothing expected): silence is normal. The interval
    // starts again once armed; the escalation stage is kept, so a scanner
    // that stays dead after a power cycle is not restarted from scratch.
    lastActivityAt_ = now;
    return step;
  }
  if (now - lastActivityAt_ < interval_) return step;
  lastActivityAt_ = now;
  if (stage_ == 0) {
    step.action = ScanWatchdogAction::kRestartDiscovery;
  } else {
    step.action = ScanWatchdogAction::kPowerCycle;
    interval_ = std::min(interval_ * 2, maxInterval_);  // the next power cycle waits twice as long
  }
  ++stage_;
  return step;
}

void ScanWatchdog::reset(TimePoint now) {
  stage_ = 0;
  interval_ = silence_;
  lastActivityAt_ = now;
}

}  // namespace rpm::bluez
