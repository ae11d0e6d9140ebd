// Notifier: how the daemon tells the service manager about its lifecycle.
// The only way code reaches systemd (sd_notify protocol, see sd_notify(3)).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace rpm {

class Notifier {
 public:
  virtual ~Notifier() = default;
  // READY=1: config valid, buffer open and checked, drivers and uplink started.
  virtual void ready() = 0;
  // STATUS=<line>: one line for `systemctl status`; counts and states only, never PHI.
  virtual void status(const std::string& line) = 0;
  // WATCHDOG=1: every worker showed progress or a healthy idle state.
  virtual void watchdog() = 0;
  // STOPPING=1 at the start of an orderly shutdown.
  virtual void stopping() = 0;
  // RELOADING=1 at the start of a reload; ready() again when it is done.
  virtual void reloading() = 0;
  // The service manager's watchdog interval, if it expects pings.
  virtual std::optional<std::chrono::microseconds> watchdogInterval() const = 0;
};

}  // namespace rpm
