// Glucose Service (0x1808): Glucose Measurement (0x2A18), Glucose
// Measurement Context (0x2A34), Glucose Feature (0x2A51); the Record Access
// Control Point (0x2A52) is in RecordAccessControlPoint.h.
// Layouts: shared health-devices-to-fhir.md §3.1.
#pragma once

#include <cstdint>
#include <vector>

#include "gateway/ports/Driver.h"

namespace rpm::drivers::glucose {

inline constexpr std::uint16_t kGlucoseMeasurement = 0x2A18;
inline constexpr std::uint16_t kGlucoseMeasurementContext = 0x2A34;
inline constexpr std::uint16_t kGlucoseFeature = 0x2A51;
inline constexpr std::uint16_t kRecordAccessControlPoint = 0x2A52;

// StatusWord name of the Sensor Status Annunciation (u16 as received).
inline constexpr const char* kSensorStatusName = "glucose-sensor-status";

// 0x2A18: one kGlucose reading (priority kStored: GLS records only arrive
// through RACP). Component kGlucoseConcentration in "mg/dL" (from kg/L) or
// "mmol/L" (from mol/L), converted exactly by shifting the exponent
// (docs/decisions/0010-glucose-units.md), the device value in
// Component.original, Component.code = sample type token
// ("capillary-whole-blood" ... "control-solution"); result high/low sensor
// bits set comparator > / <. Component kSampleLocation (no quantity),
// code "finger", "alternate-site-test", "earlobe", "control-solution",
// "not-available". deviceTime = Base Time, deviceTimeOffsetMinutes = Time
// Offset, sequence = Sequence Number, effectiveStart = Base Time + Time
// Offset (Base Time alone when the offset says overrun/underrun).
// 0x2A34: one kGlucoseContext reading, sequence = its measurement's.
// 0x2A51, 0x2A52: fields only.
Result<DecodedPayload> decode(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                              const DecodeContext& context);

}  // namespace rpm::drivers::glucose
