// SdNotifier: Notifier over libsystemd's sd_notify(). Without NOTIFY_SOCKET
// (not started by systemd) every call is a no-op.
#pragma once

#include "gateway/ports/Notifier.h"

namespace rpm {

class SdNotifier final : public Notifier {
 public:
  void ready() override;
  void status(const std::string& line) override;
  void watchdog() override;
  void stopping() override;
  void reloading() override;
  std::optional<std::chrono::microseconds> watchdogInterval() const override;
};

}  // namespace rpm
