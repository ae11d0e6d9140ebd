// ReadingStore: the durable store-and-forward buffer between drivers and the
// uplink. Design and invariants: buffer/schema.md; delivery semantics:
// docs/buffer.md and docs/reliability-and-security.md §1.
//
// Every method returns Status/Result; no exception crosses this interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/model/Reading.h"
#include "gateway/model/Status.h"
#include "gateway/model/Time.h"

namespace rpm {

// What happened to one reading handed to append(), in input order.
enum class AppendOutcome : std::uint8_t {
  kStored = 1,     // durable and queued for delivery
  kHeld = 2,       // durable, but its device (or user slot) has no binding: never leased
  kDuplicate = 3,  // its id was already stored (or delivered, see tombstones); acknowledge it anyway
  kInvalid = 4,    // refused: impossible content (empty id, unknown device); other readings unaffected
};

struct AppendReport {
  std::vector<AppendOutcome> outcomes;  // one per input reading, same order
};

// A reading handed to the uplink under a lease. The lease expires at
// leaseExpiresAt; after that the reading may be leased again.
struct LeasedReading {
  Reading reading;
  std::int64_t leaseId = 0;    // presented back to ack/retryLater/reject
  std::uint32_t attempts = 0;  // delivery attempts before this lease
  UtcInstant leaseExpiresAt;
};

// The server's confirmation that a reading is delivered. One reading can
// become several resources; ack only when every one of them is stored.
struct DeliveryReceipt {
  std::vector<std::string> resourceIds;  // e.g. "Observation/123/_history/1"
  std::string receipt;                   // transport detail kept for audit (status line, ETag)
};

// One delivered reading: which lease it was under and the server's receipt.
struct Acknowledgement {
  std::string readingId;
  std::int64_t leaseId = 0;
  DeliveryReceipt receipt;
};

// Why the server refused a reading for good (a permanent 4xx).
struct Rejection {
  int httpStatus = 0;
  std::string reason;  // the server's OperationOutcome text; stored, never logged
};

// Status and metrics figures. "Since open" counters restart with the process;
// quarantines and salvaged are kept in the database.
struct StoreCounters {
  std::uint64_t backlog = 0;               // undelivered, bound readings (leasable or leased)
  std::uint64_t leased = 0;                // of which currently under an unexpired lease
  std::optional<std::int64_t> oldestUndeliveredAgeSeconds;  // by receivedAt; nullopt when none
  std::uint64_t deadLetters = 0;
  std::uint64_t held = 0;                  // readings of unbound devices
  std::uint64_t tombstones = 0;
  std::uint64_t duplicates = 0;            // since open
  std::uint64_t refusals = 0;              // since open: appends refused at the size cap or on a full disk
  std::uint64_t evictions = 0;             // since open: continuous-stream readings evicted at the cap (opt-in)
  std::uint64_t corruptBodies = 0;         // since open: stored readings that failed their checksum
  std::uint64_t quarantines = 0;           // corrupt databases moved aside, ever
  std::uint64_t salvaged = 0;              // readings recovered from quarantined databases, ever
  std::uint64_t diskBytes = 0;             // database + WAL on disk
  std::uint64_t capBytes = 0;              // configured size cap
};

class ReadingStore {
 public:
  virtual ~ReadingStore() = default;

  // Stores readings; returns only when they are durable (per the configured
  // durability). All or nothing: on failure (kStorageFull at the cap, kIo)
  // none of them is stored and the producer must not acknowledge them.
  virtual Result<AppendReport> append(const std::vector<Reading>& readings) = 0;

  // Leases up to maxReadings deliverable readings: live before stored, then
  // oldest first, in device-time order per patient. Held, dead-lettered,
  // delivered and not-yet-due readings are never returned.
  virtual Result<std::vector<LeasedReading>> lease(std::size_t maxReadings) = 0;

  // Records delivery of a batch in one durable commit. Accepted even when a
  // lease expired (the server has the reading); acknowledging an already
  // delivered reading is ok (idempotent). Unknown ids are skipped and
  // reported (kNotFound, or kConflict for held or dead-lettered ones) after
  // every other acknowledgement of the batch is recorded.
  virtual Status ack(const std::vector<Acknowledgement>& acknowledgements) = 0;

  // Returns a leased reading to the queue, not to be leased before notBefore;
  // counts an attempt. kConflict when the lease is no longer the current one.
  virtual Status retryLater(const std::string& readingId, std::int64_t leaseId, const Status& reason,
                            UtcInstant notBefore) = 0;

  // Moves a leased reading to the dead letters with the server's reason;
  // the rest of the queue is unaffected. kConflict on a stale lease.
  virtual Status reject(const std::string& readingId, std::int64_t leaseId, const Rejection& rejection) = 0;

  virtual Result<StoreCounters> counters() = 0;

  // A stored reading by id, in any state but pruned (the uplink maps a
  // glucose context with its glucose reading). nullopt when not stored.
  virtual Result<std::optional<Reading>> find(const std::string& readingId) = 0;
};

}  // namespace rpm
