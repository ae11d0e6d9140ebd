// IEEE 11073-20601 SFLOAT (16 bit) and FLOAT (32 bit), exponent kept.
// Reference: shared health-devices-to-fhir.md §2.1-2.2; PHD IG FLOATS.md.
#pragma once

#include <cstdint>

#include "gateway/model/Reading.h"

namespace rpm::drivers {

// Decodes an SFLOAT word (already assembled little-endian). Special words
// (0x07FF NaN, 0x0800 NRes, 0x07FE +INF, 0x0802 -INF, 0x0801 reserved) set
// quantity.special and leave the value 0.
Quantity decodeSfloat(std::uint16_t word, const char* ucumUnit);

// Decodes a FLOAT word (32 bit): int8 exponent, int24 mantissa.
Quantity decodeFloat(std::uint32_t word, const char* ucumUnit);

// Encodes an exact decimal as SFLOAT; false when it does not fit
// (simulators and tests).
bool encodeSfloat(const Decimal& value, std::uint16_t& word);
bool encodeFloat(const Decimal& value, std::uint32_t& word);

}  // namespace rpm::drivers
