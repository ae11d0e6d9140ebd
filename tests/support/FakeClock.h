// FakeClock: a Clock that moves only when a test says so.
#pragma once

#include <atomic>
#include <mutex>

#include "gateway/ports/Clock.h"

namespace rpm::test {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(UtcInstant start = UtcInstant(std::chrono::seconds(1700000000))) : now_(start) {}

  UtcInstant now() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return now_;
  }
  std::chrono::steady_clock::time_point monotonicNow() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::chrono::steady_clock::time_point(monotonic_);
  }
  bool isSynchronized() const override { return synchronized_.load(); }

  // Moves both clocks forward.
  void advance(std::chrono::microseconds d) {
    std::lock_guard<std::mutex> lock(mutex_);
    now_ += d;
    monotonic_ += d;
  }
  // Steps the wall clock only (NTP correction); monotonic time is unaffected.
  void setWallClock(UtcInstant t) {
    std::lock_guard<std::mutex> lock(mutex_);
    now_ = t;
  }
  void setSynchronized(bool s) { synchronized_.store(s); }

 private:
  mutable std::mutex mutex_;
  UtcInstant now_;
  std::chrono::microseconds monotonic_{std::chrono::hours(1)};
  std::atomic<bool> synchronized_{true};
};

}  // namespace rpm::test
