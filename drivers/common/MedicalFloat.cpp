#include "drivers/common/MedicalFloat.h"

namespace rpm::drivers {

Quantity decodeSfloat(std::uint16_t word, const char* ucumUnit) {
  Quantity q;
  q.unit = ucumUnit;
  switch (word) {
    case 0x07FF: q.special = SpecialValue::kNaN; return q;
    case 0x0800: q.special = SpecialValue::kNRes; return q;
    case 0x07FE: q.special = SpecialValue::kPositiveInfinity; return q;
    case 0x0802: q.special = SpecialValue::kNegativeInfinity; return q;
    case 0x0801: q.special = SpecialValue::kReserved; return q;
    default: break;
  }
  int mantissa = word & 0x0FFF;
  if (mantissa >= 0x0800) mantissa -= 0x1000;
  int exponent = word >> 12;
  if (exponent >= 8) exponent -= 16;
  q.value = Decimal(mantissa, exponent);
  return q;
}

Quantity decodeFloat(std::uint32_t word, const char* ucumUnit) {
  Quantity q;
  q.unit = ucumUnit;
  switch (word) {
    case 0x007FFFFF: q.special = SpecialValue::kNaN; return q;
    case 0x00800000: q.special = SpecialValue::kNRes; return q;
    case 0x007FFFFE: q.special = SpecialValue::kPositiveInfinity; return q;
    case 0x00800002: q.special = SpecialValue::kNegativeInfinity; return q;
    case 0x00800001: q.special = SpecialValue::kReserved; return q;
    default: break;
  }
  std::int32_t mantissa = static_cast<std::int32_t>(word & 0x00FFFFFF);
  if (mantissa >= 0x00800000) mantissa -= 0x01000000;
  std::int32_t exponent = static_cast<std::int8_t>(word >> 24);
  q.value = Decimal(mantissa, exponent);
  return q;
}

bool encodeSfloat(const Decimal& value, std::uint16_t& word) {
  std::int64_t m = value.mantissa();
  std::int32_t e = value.exponent();
  if (m < -2048 || m > 2047 || e < -8 || e > 7) return false;
  std::uint16_t w = static_cast<std::uint16_t>(((e & 0x0F) << 12) | (m & 0x0FFF));
  if (w == 0x07FF || w == 0x0800 || w == 0x07FE || w == 0x0802 || w == 0x0801) return false;
  word = w;
  return true;
}

bool encodeFloat(const Decimal& value, std::uint32_t& word) {
  std::int64_t m = value.mantissa();
  std::int32_t e = value.exponent();
  if (m < -0x800000 || m > 0x7FFFFF || e < -128 || e > 127) return false;
  std::uint32_t w = (std::uint32_t(e & 0xFF) << 24) | std::uint32_t(m & 0x00FFFFFF);
  if (w >= 0x007FFFFE && w <= 0x00800002) return false;
  word = w;
  return true;
}

}  // namespace rpm::drivers
