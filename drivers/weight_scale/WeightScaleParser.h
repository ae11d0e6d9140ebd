// Weight Scale Service (0x181D): Weight Measurement (0x2A9D) and Weight
// Scale Feature (0x2A9E). Layouts: shared health-devices-to-fhir.md §3.6.
#pragma once

#include <cstdint>
#include <vector>

#include "gateway/ports/Driver.h"

namespace rpm::drivers::weight_scale {

inline constexpr std::uint16_t kWeightMeasurement = 0x2A9D;
inline constexpr std::uint16_t kWeightScaleFeature = 0x2A9E;

// 0x2A9D: one kBodyWeight reading: kBodyWeight in "kg" (raw x 0.005, three
// decimals) or "[lb_av]" (raw x 0.01), and with the BMI flag kBmi "kg/m2"
// (raw x 0.1) and kBodyHeight in "cm" (raw x 0.1, the device's metres kept
// in Component.original) or "[in_i]" (raw x 0.1). The fixed factors apply
// whatever the feature resolution says (docs/decisions/0013-weight-scale-factors.md).
// Weight 0xFFFF ("measurement unsuccessful") yields fields only.
Result<DecodedPayload> decode(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                              const DecodeContext& context);

}  // namespace rpm::drivers::weight_scale
