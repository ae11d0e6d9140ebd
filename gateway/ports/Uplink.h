// Uplink: delivers readings to the care team's server. It reports once per
// reading and returns; retries, backoff and dead-lettering belong to the
// engine (architecture rule 7).
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "gateway/model/Reading.h"
#include "gateway/model/Status.h"
#include "gateway/ports/ReadingStore.h"

namespace rpm {

enum class DeliveryVerdict : std::uint8_t {
  kDelivered = 1,  // every resource of the reading is stored at the server
  kRetry = 2,      // not now: transient failure, or an outcome still uncertain
  kReject = 3,     // the server refused this reading for good (dead letter)
  kHalt = 4,       // the destination is misconfigured (403, 404, bad credentials): stop, report, no busy loop
};

struct DeliveryOutcome {
  DeliveryVerdict verdict = DeliveryVerdict::kRetry;
  DeliveryReceipt receipt;                           // kDelivered
  Rejection rejection;                               // kReject
  Status reason;                                     // kRetry, kHalt: what went wrong, PHI-free
  std::optional<std::chrono::seconds> serverDelay;   // kRetry: the server's Retry-After (never retry earlier)
};

class Uplink {
 public:
  virtual ~Uplink() = default;
  // Delivers a batch; outcome i belongs to readings[i]. Never throws.
  virtual std::vector<DeliveryOutcome> deliver(const std::vector<Reading>& readings) = 0;
};

}  // namespace rpm
