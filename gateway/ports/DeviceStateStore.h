// DeviceStateStore: small per-device facts that must survive restarts: the
// glucose record cursor, the record-counter reset epoch, the device clock
// offset. Stored next to the readings so they commit with the same durability.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <optional>
#include <vector>

#include "gateway/model/DeviceKey.h"
#include "gateway/model/Status.h"
#include "gateway/model/Time.h"

namespace rpm {

struct DeviceState {
  std::uint32_t resetEpoch = 0;
  // Next record sequence to request: every record with a lower sequence of
  // this epoch is stored. 0 when nothing was downloaded yet.
  std::uint32_t glucoseCursor = 0;
  std::optional<std::int64_t> clockOffsetMs;  // hub minus device clock
  std::optional<UtcInstant> clockOffsetMeasuredAt;
  // The reset anchor (docs/decisions/0040): one stored record of this epoch
  // below the cursor (the highest known) and its fingerprint (Base Time and
  // Time Offset). A meter whose record with this sequence has another
  // fingerprint was reset, however many records it holds now.
  std::optional<std::uint32_t> glucoseAnchorSequence;
  std::string glucoseAnchorFingerprint;
};

// One glucose download (Record Access Control Point "records >= requestedFrom").
struct GlucoseDownload {
  std::uint32_t resetEpoch = 0;
  std::uint32_t requestedFrom = 0;
  // Sequences whose readings append() already returned as durable, any order.
  std::vector<std::uint32_t> storedSequences;
  // True only when the meter reported the procedure complete (RACP success):
  // then every record >= requestedFrom was sent, and gaps are the meter's own.
  bool complete = false;
  // Fingerprints of stored records by sequence (any subset of storedSequences);
  // the highest one below the new cursor becomes the reset anchor.
  std::map<std::uint32_t, std::string> fingerprints;
};

class DeviceStateStore {
 public:
  virtual ~DeviceStateStore() = default;

  // The state of a device; a default DeviceState when never seen.
  virtual Result<DeviceState> deviceState(const DeviceKey& device) = 0;

  // Advances the glucose cursor by the cursor rule (buffer/schema.md): after a
  // complete download past the highest stored sequence; after an interrupted
  // one only over the run stored without a gap from the cursor. Never moves
  // back within an epoch; a newer epoch restarts it. Returns the new state.
  virtual Result<DeviceState> recordGlucoseDownload(const DeviceKey& device, const GlucoseDownload& download) = 0;

  // Starts a new record-counter epoch (the device's counter was reset); the
  // cursor restarts at 0. Returns the new epoch.
  virtual Result<std::uint32_t> startNewResetEpoch(const DeviceKey& device) = 0;

  // Stores the latest measured device clock offset.
  virtual Status recordClockOffset(const DeviceKey& device, std::int64_t offsetMs, UtcInstant measuredAt) = 0;
};

}  // namespace rpm
