#include "systemd/SdNotifier.h"

#include <systemd/sd-daemon.h>
#include <time.h>

namespace rpm {

void SdNotifier::ready() { sd_notify(0, "READY=1"); }

void SdNotifier::status(const std::string& line) {
  std::string clean = line;
  for (char& c : clean) {
    if (c == '\n' || c == '\r') c = ' ';  // one line: a newline would start a new assignment
  }
  sd_notify(0, ("STATUS=" + clean).c_str());
}

void SdNotifier::watchdog() { sd_notify(0, "WATCHDOG=1"); }

void SdNotifier::stopping() { sd_notify(0, "STOPPING=1"); }

void SdNotifier::reloading() {
  // systemd 253+ requires MONOTONIC_USEC with RELOADING=1 (Type=notify-reload); older ones ignore it.
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  long long usec = static_cast<long long>(ts.tv_sec) * 1000000LL + ts.tv_nsec / 1000;
  sd_notify(0, ("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec)).c_str());
}

std::optional<std::chrono::microseconds> SdNotifier::watchdogInterval() const {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::microseconds(usec);
  return std::nullopt;
}

}  // namespace rpm
