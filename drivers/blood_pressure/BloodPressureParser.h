// Blood Pressure Service (0x1810): Blood Pressure Measurement (0x2A35),
// Intermediate Cuff Pressure (0x2A36), Blood Pressure Feature (0x2A49).
// Layouts: shared health-devices-to-fhir.md §3.2.
#pragma once

#include <cstdint>
#include <vector>

#include "gateway/ports/Driver.h"

namespace rpm::drivers::blood_pressure {

inline constexpr std::uint16_t kBloodPressureMeasurement = 0x2A35;
inline constexpr std::uint16_t kIntermediateCuffPressure = 0x2A36;
inline constexpr std::uint16_t kBloodPressureFeature = 0x2A49;

// StatusWord name of the Measurement Status (u16 exactly as received).
inline constexpr const char* kMeasurementStatusName = "bp-measurement-status";

// 0x2A35: one kBloodPressure reading (systolic, diastolic, mean, optional
// pulse rate, all mm[Hg] / "/min"; kPa values are converted to mm[Hg] at the
// device's exponent and kept in Component.original). 0x2A36: fields only
// (live cuff pressure, never a reading). 0x2A49: fields only.
Result<DecodedPayload> decode(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                              const DecodeContext& context);

}  // namespace rpm::drivers::blood_pressure
