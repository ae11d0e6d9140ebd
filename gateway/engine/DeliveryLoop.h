// DeliveryLoop: drains the buffer into the uplink and owns every retry
// decision: backoff with full jitter for a failing destination, Retry-After
// as a floor, dead letters for rejected readings, a long pause (no busy loop)
// when the destination is misconfigured.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "gateway/engine/Backoff.h"
#include "gateway/ports/Clock.h"
#include "gateway/ports/ReadingStore.h"
#include "gateway/ports/Uplink.h"

namespace rpm::engine {

struct DeliveryLoopOptions {
  std::size_t batchSize = 50;
  std::chrono::milliseconds backoffBase{1000};
  std::chrono::milliseconds backoffCap{300000};
  std::chrono::milliseconds haltPause{300000};  // after a configuration error (403/404, credentials)
  std::chrono::milliseconds idlePoll{30000};    // recheck an empty queue (retries falling due)
};

// Health for status, metrics and the watchdog. No PHI.
struct DeliveryHealth {
  std::optional<UtcInstant> lastDeliveryAt;
  std::optional<UtcInstant> lastAttemptAt;
  ErrorKind lastErrorKind = ErrorKind::kOk;
  std::string lastError;  // a Status text: names the failure, never data
  bool halted = false;    // destination misconfigured
  std::uint32_t consecutiveFailures = 0;
  std::uint64_t delivered = 0;
  std::uint64_t retried = 0;
  std::uint64_t rejected = 0;
};

class DeliveryLoop {
 public:
  DeliveryLoop(ReadingStore& store, Uplink& uplink, const Clock& clock, DeliveryLoopOptions options,
               Backoff::Random random);

  // One pass: lease a batch, deliver it, record every outcome. Returns how
  // long to wait before the next pass (zero: more may be waiting now).
  std::chrono::milliseconds runOnce();

  DeliveryHealth health() const;

 private:
  void noteError(const Status& status);

  ReadingStore& store_;
  Uplink& uplink_;
  const Clock& clock_;
  DeliveryLoopOptions options_;
  Backoff::Random random_;
  Backoff destinationBackoff_;
  mutable std::mutex healthMutex_;
  DeliveryHealth health_;
};

}  // namespace rpm::engine
