// Decimal: an exact clinical number, mantissa x 10^exponent.
//
// The exponent is part of the value's identity: 2, 2.0 and 2.00 are different
// precisions reported by a device and stay distinct from the wire to the bytes
// sent to the FHIR server (PHD IG FLOATS.md). Never round-trip through float.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rpm {

class Decimal {
 public:
  constexpr Decimal() = default;
  constexpr Decimal(std::int64_t mantissa, std::int32_t exponent) : mantissa_(mantissa), exponent_(exponent) {}

  // Parses JSON number text ("-0.20", "150", "1.5e2") keeping its precision:
  // "2.00" -> (200, -2). Returns nullopt for anything that is not a JSON
  // number or needs more than 18 significant digits.
  static std::optional<Decimal> parse(std::string_view text);

  std::int64_t mantissa() const { return mantissa_; }
  std::int32_t exponent() const { return exponent_; }
  // Number of digits after the decimal point when written (max(0, -exponent)).
  int decimals() const { return exponent_ < 0 ? -exponent_ : 0; }

  // Plain decimal notation with exactly decimals() fraction digits; a positive
  // exponent is written out with zeros ("2" x 10^2 -> "200").
  std::string toString() const;

  // Same number, exponent shifted by n (exact): (5, -3).shifted(5) = 500 (kg/L -> mg/dL).
  Decimal shifted(std::int32_t n) const { return Decimal(mantissa_, exponent_ + n); }

  // Multiplies by numerator/denominator and rounds to targetExponent with the
  // project's rounding rule (docs/decisions/0003-rounding.md): round half away
  // from zero. Returns nullopt on overflow or a zero denominator.
  std::optional<Decimal> convert(std::int64_t numerator, std::int64_t denominator,
                                 std::int32_t targetExponent) const;

  // Compares numeric values (2 and 2.00 compare equal here). -1, 0 or 1.
  int compareValue(const Decimal& other) const;

  // Representation equality: 2 != 2.00.
  bool operator==(const Decimal& other) const {
    return mantissa_ == other.mantissa_ && exponent_ == other.exponent_;
  }
  bool operator!=(const Decimal& other) const { return !(*this == other); }

 private:
  std::int64_t mantissa_ = 0;
  std::int32_t exponent_ = 0;
};

}  // namespace rpm
