// ObservationMapper: a stored Reading to the FHIR Observations the care team
// receives (shared health-devices-to-fhir.md §4; PHD IG; R4 vital signs).
// Pure: time zone rules and the hub clock's state are passed in.
// What each kind expects in a Reading: docs/fhir-mapping.md.
#pragma once

#include <string>
#include <vector>

#include "fhir/FhirJson.h"
#include "gateway/model/Reading.h"
#include "gateway/model/Status.h"
#include "gateway/ports/TimeZoneRules.h"

namespace rpm::fhir {

struct MappingContext {
  const TimeZoneRules* zone = nullptr;  // hub.timezone; required
  // Whether the hub clock was synchronized (Clock::isSynchronized) when the
  // reading's clock skew was measured. Device times are corrected only then
  // (docs/decisions/0021-device-time.md).
  bool hubClockSynchronized = false;
  std::string phdDeviceReference;  // "Device/12" or "urn:uuid:..." of the measuring device
  std::string phgDeviceReference;  // the hub's Device
};

// One resource to upload and its conditional-create identifier.
struct MappedResource {
  Json resource;
  std::string identifierValue;  // PhdBaseObservation identifier value; "" if none
  // "identifier=<system>|<value>" for request.ifNoneExist; "" if none.
  std::string ifNoneExist() const;
};

struct MappedReading {
  std::vector<MappedResource> observations;  // empty: nothing to upload (note says why)
  std::string note;
};

// Maps one reading. related is the glucose reading a glucose context belongs
// to (required for kGlucoseContext, ignored otherwise). Errors:
// kNotBound (no subject), kInvalidArgument (missing zone/device references,
// a reading without its required components), kUnsupported (stored data
// whose device time is unknown: it cannot be placed on a timeline).
Result<MappedReading> mapReading(const Reading& reading, const MappingContext& context,
                                 const Reading* related = nullptr);

// The effective time of a reading after the clock rule: device time
// (+ offset) on the hub's zone, corrected by the measured skew only when the
// hub clock was synchronized. corrected tells whether the skew was applied.
struct EffectiveTime {
  UtcInstant start;
  std::optional<UtcInstant> end;
  bool corrected = false;
};
Result<EffectiveTime> resolveEffectiveTime(const Reading& reading, const MappingContext& context);

}  // namespace rpm::fhir
