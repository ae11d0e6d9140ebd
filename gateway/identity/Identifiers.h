// Frozen identifiers: reading ids, FHIR conditional-create identifiers,
// UUIDv5 logical ids, and device aliases for logs.
//
// Each rule is recorded in docs/decisions/ and changes only through an issue
// that asks for it: a changed identifier duplicates data at the care team.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/model/DeviceAlias.h"
#include "gateway/model/DeviceKey.h"
#include "gateway/model/Reading.h"

namespace rpm {

// docs/decisions/0002-reading-id.md. 32 lower-case hex digits.
// Discriminator, first that applies:
//   1. glucose, glucose context and CGM records with a sequence number:
//      sequence + base time + reset epoch;
//   2. a reading id the producer assigned (producerReadingId);
//   3. the device-reported time (+ user slot);
//   4. none of these: the gateway receive time and the raw payload
//      (re-sends of such readings cannot be recognised; counted by callers).
std::string computeReadingId(const Reading& reading);

// Which rule computeReadingId used (for tests and counters).
enum class ReadingIdRule : std::uint8_t { kSequence = 1, kProducerId = 2, kDeviceTime = 3, kReceiveTime = 4 };
ReadingIdRule readingIdRule(const Reading& reading);

// The PHD IG conditional-create identifier system.
inline constexpr std::string_view kPhdIdentifierSystem =
    "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBaseObservation";

// Parts of the conditional-create identifier (PHD IG, reference §4.3).
struct ConditionalIdParts {
  DeviceKey device;
  std::string patientId;             // provisioned logical id, "123"
  std::uint32_t mdcCode = 0;         // 32-bit MDC code of Observation.code
  std::int64_t timestampSeconds = 0; // device-reported time, seconds since 2000 (device wall clock)
  std::optional<int> deviceUtcOffsetQuarterHours;  // only when the device reports a zone
  std::optional<std::int64_t> durationSeconds;     // for periods
  std::vector<std::uint32_t> supplementalTypes;    // MDC codes, in order
};

// "B0495F001071-123-150020-768298150" (docs/decisions/0005-conditional-create-identifier.md).
std::string conditionalCreateIdentifier(const ConditionalIdParts& parts);

// The device part of the identifier: 12 hex digits for a Bluetooth address,
// 16 for a System ID (over-the-air order), 32 upper-case hex digits of the
// UUIDv5 of the canonical key for MQTT identities.
std::string deviceIdentifierPart(const DeviceKey& device);

// The timestamp seconds the identifier uses for a reading: the device time
// (the Base Time for glucose records; session start + Time Offset for CGM
// records), or, when the device sent no usable
// time, the gateway's effective time on the hub's wall clock.
std::int64_t identifierTimestampSeconds(const Reading& reading);

// RFC 4122 name-based UUID, SHA-1 (version 5), lower-case text.
using Uuid = std::array<std::uint8_t, 16>;
inline constexpr Uuid kUuidNamespaceUrl = {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
                                           0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
Uuid uuidV5(const Uuid& nameSpace, std::string_view name);
std::string uuidToString(const Uuid& uuid);

// Logical id for PUT mode: UUIDv5(URL namespace, "<system>|<value>").
std::string logicalIdForIdentifier(std::string_view system, std::string_view value);

// Opaque aliases for logs: "dev-" + 8 hex digits of HMAC-SHA256(hub secret,
// canonical device key). The secret is per hub, so aliases reveal nothing.
class DeviceAliaser {
 public:
  explicit DeviceAliaser(std::vector<std::uint8_t> hubSecret) : secret_(std::move(hubSecret)) {}
  DeviceAlias aliasFor(const DeviceKey& device) const;

 private:
  std::vector<std::uint8_t> secret_;
};

// Lower-case hex of SHA-256 (used by identifiers and tests).
std::string sha256Hex(std::string_view data);

}  // namespace rpm
