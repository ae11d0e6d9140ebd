// Heart Rate Service (0x180D): Heart Rate Measurement (0x2A37).
// Layout: shared health-devices-to-fhir.md §3.3.
#pragma once

#include <cstdint>
#include <vector>

#include "gateway/ports/Driver.h"

namespace rpm::drivers::heart_rate {

inline constexpr std::uint16_t kHeartRateMeasurement = 0x2A37;

// StatusWord name of the sensor contact value (flags bits 1-2 as 0..3).
inline constexpr const char* kSensorContactName = "hr-sensor-contact";

// One kHeartRate reading (heart rate "/min", energy expended "kJ") and, when
// RR intervals are present, one kRrIntervals reading with one kRrInterval
// component per interval (ms, rounded half away from zero; the 1/1024 s
// count kept in Component.original with unit "s/1024"). A notification whose
// sensor reports "no contact" (value 2) yields fields only.
Result<DecodedPayload> decode(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                              const DecodeContext& context);

}  // namespace rpm::drivers::heart_rate
