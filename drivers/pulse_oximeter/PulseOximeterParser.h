// Pulse Oximeter Service (0x1822): PLX Spot-check Measurement (0x2A5E),
// PLX Continuous Measurement (0x2A5F), PLX Features (0x2A60).
// Layouts: shared health-devices-to-fhir.md §3.4.
#pragma once

#include <cstdint>
#include <vector>

#include "gateway/ports/Driver.h"

namespace rpm::drivers::pulse_oximeter {

inline constexpr std::uint16_t kSpotCheckMeasurement = 0x2A5E;
inline constexpr std::uint16_t kContinuousMeasurement = 0x2A5F;
inline constexpr std::uint16_t kPlxFeatures = 0x2A60;

// StatusWord names (bits exactly as received).
inline constexpr const char* kMeasurementStatusName = "plx-measurement-status";        // u16
inline constexpr const char* kDeviceSensorStatusName = "plx-device-sensor-status";     // u24
inline constexpr const char* kSpotCheckFlagsName = "plx-spot-check-flags";             // flags octet, bit4 = clock not set

// Component.code of the SpO2 / pulse-rate pairs: "spot-check" (0x2A5E),
// "normal", "fast", "slow" (0x2A5F). Pulse amplitude index: kPerfusionIndex.
// Measurement Status bit 9 (data from storage) makes the reading kStored.
Result<DecodedPayload> decode(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                              const DecodeContext& context);

}  // namespace rpm::drivers::pulse_oximeter
