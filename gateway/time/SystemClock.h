// SystemClock: the production Clock (system wall clock, steady clock, adjtimex).
#pragma once

#include "gateway/ports/Clock.h"

namespace rpm {

class SystemClock final : public Clock {
 public:
  UtcInstant now() const override;
  std::chrono::steady_clock::time_point monotonicNow() const override;
  // adjtimex(2): synchronized unless the kernel reports TIME_ERROR / STA_UNSYNC.
  bool isSynchronized() const override;
};

}  // namespace rpm
