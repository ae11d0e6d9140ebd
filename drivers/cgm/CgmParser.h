// Continuous Glucose Monitoring Service (0x181F): CGM Measurement (0x2AA7),
// one or more records per notification, optional E2E-CRC.
// Layout: shared health-devices-to-fhir.md §3.7 and §2.4.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "gateway/ports/Driver.h"

namespace rpm::drivers::cgm {

inline constexpr std::uint16_t kCgmMeasurement = 0x2AA7;

// StatusWord name: status | cal-temp << 8 | warning << 16 (octets absent
// from the record are 0), the CGM Status 0x2AA9 layout.
inline constexpr const char* kSensorStatusName = "cgm-sensor-status";

// CRC-16/MCRF4XX: reflected poly 0x1021 (0x8408), init 0xFFFF, no final XOR.
std::uint16_t crc16Mcrf4xx(const std::uint8_t* data, std::size_t size);

// One kCgmGlucose reading per record: kGlucoseConcentration "mg/dL",
// optional kCgmTrend "mg/dL/min" and kCgmQuality "%". deviceTime = the
// session start, deviceTimeOffsetMinutes = sequence = the Time Offset,
// effectiveStart = session start + offset at the hub's offset. Without
// DecodeContext::sessionStart the records are decoded to fields only.
// Reading.raw holds the bytes of its own record (each decodes alone).
Result<DecodedPayload> decode(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                              const DecodeContext& context);

}  // namespace rpm::drivers::cgm
