// Health Thermometer: Temperature Measurement (0x2A1C) and Intermediate
// Temperature (0x2A1E). Layout: shared health-devices-to-fhir.md §3.5.
#pragma once

#include <cstdint>
#include <vector>

#include "gateway/ports/Driver.h"

namespace rpm::drivers::thermometer {

inline constexpr std::uint16_t kTemperatureMeasurement = 0x2A1C;
inline constexpr std::uint16_t kIntermediateTemperature = 0x2A1E;
inline constexpr std::uint16_t kTemperatureType = 0x2A1D;     // static site, u8
inline constexpr std::uint16_t kMeasurementInterval = 0x2A21;  // u16 seconds, 0 = no periodic measurement

// Decodes either characteristic. Intermediate Temperature yields no reading
// (live display value, never uploaded) but its fields are still decoded.
Result<DecodedPayload> decodeTemperature(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                                         const DecodeContext& context);

// Every Health Thermometer characteristic: the two above, and Temperature
// Type / Measurement Interval (fields only, no reading).
Result<DecodedPayload> decodeThermometer(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                                         const DecodeContext& context);

}  // namespace rpm::drivers::thermometer
