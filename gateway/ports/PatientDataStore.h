// PatientDataStore: what `rpm-gateway decommission` needs from the buffer to
// hand the hub to the next patient (docs/installer-guide.md, decision
// docs/decisions/0033-decommission-export-and-erase.md): read out everything
// not delivered, then erase every trace of the previous patient at once.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gateway/model/Reading.h"
#include "gateway/model/Status.h"
#include "gateway/model/Time.h"

namespace rpm {

enum class UndeliveredState : std::uint8_t {
  kQueued = 1,      // bound to a patient, waiting for (or under) delivery
  kHeld = 2,        // its device had no binding when it arrived: no patient
  kDeadLetter = 3,  // the server refused it for good
};

// One stored reading that never reached the server.
struct UndeliveredReading {
  UndeliveredState state = UndeliveredState::kQueued;
  // Decoded when its stored body passed its checksum; otherwise only id is set.
  Reading reading;
  bool bodyIntact = true;
  std::vector<std::uint8_t> storedBody;  // the exact stored bytes (buffer/ReadingCodec)
  // Dead letters only.
  int httpStatus = 0;
  std::string reason;
  std::optional<UtcInstant> rejectedAt;
};

struct EraseRequest {
  // Erase even when undelivered readings (queued, held, dead letters) remain.
  bool discardUndelivered = false;
  // Alternatively: how many undelivered readings were exported. The erase goes
  // ahead only when exactly that many are stored (nothing arrived after the export).
  std::optional<std::uint64_t> exportedUndelivered;
};

// Counts only: never a value, a patient or a device.
struct EraseReport {
  std::uint64_t enrolments = 0;
  std::uint64_t queued = 0;
  std::uint64_t held = 0;
  std::uint64_t delivered = 0;      // delivered readings still kept with their receipt
  std::uint64_t deadLetters = 0;
  std::uint64_t deviceStates = 0;   // glucose cursors, reset epochs, clock offsets
  std::uint64_t logicalIds = 0;     // FHIR Device logical-id mappings
  std::uint64_t tombstonesAdded = 0;  // erased reading ids remembered so re-sends are recognised
  bool scrubbed = false;            // free pages rewritten (VACUUM) and the WAL truncated
};

class PatientDataStore {
 public:
  virtual ~PatientDataStore() = default;

  // Calls sink for every queued, held and dead-lettered reading, in that
  // order, oldest first. Stops at and returns the first failure of sink.
  virtual Status forEachUndelivered(const std::function<Status(const UndeliveredReading&)>& sink) = 0;

  // Erases enrolments, readings in every state, dead letters, device states
  // and logical-id mappings in ONE transaction: on any failure nothing is
  // erased. Every erased reading id becomes a tombstone (ids only), so a
  // device re-sending the previous patient's readings is recognised as a
  // duplicate and never bound to the next patient. kConflict when undelivered
  // readings remain and the request neither discards nor exported exactly
  // them. After the commit the file is scrubbed (free pages rewritten, WAL
  // truncated, quarantined copies removed); a failed scrub is reported as
  // scrubbed = false and a repeated call (nothing left to erase) retries it.
  virtual Result<EraseReport> erasePatientData(const EraseRequest& request) = 0;
};

}  // namespace rpm
