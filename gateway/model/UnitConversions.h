// UnitConversions: the only conversions that are not powers of ten, each
// with the one rounding rule (docs/decisions/0003-rounding.md). Decoders and
// the FHIR mapper both call these, so a value converts the same way
// whichever path it takes.
#pragma once

#include <cstdint>
#include <optional>

#include "gateway/model/Decimal.h"

namespace rpm {

// kPa to mm[Hg]: UCUM defines m[Hg] as 133.3220 kPa, so x 10000000/1333220;
// the device's number of decimals is kept. nullopt on overflow.
inline std::optional<Decimal> kilopascalToMillimetreMercury(const Decimal& kPa) {
  return kPa.convert(10000000, 1333220, kPa.exponent());
}

// RR interval ticks of 1/1024 s to whole milliseconds.
inline std::optional<Decimal> rrTicksToMilliseconds(std::int64_t ticks) {
  return Decimal(ticks, 0).convert(1000, 1024, 0);
}

}  // namespace rpm
