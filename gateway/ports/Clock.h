// Clock: the only source of time. Every timer and timestamp takes one, so
// tests drive time with a fake and never sleep for real time.
#pragma once

#include <chrono>

#include "gateway/model/Time.h"

namespace rpm {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (UTC).
  virtual UtcInstant now() const = 0;
  // Monotonic time for timeouts and intervals.
  virtual std::chrono::steady_clock::time_point monotonicNow() const = 0;
  // True when the kernel reports the wall clock as synchronized (adjtimex);
  // device clocks are corrected only then.
  virtual bool isSynchronized() const = 0;
};

}  // namespace rpm
