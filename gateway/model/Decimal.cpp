#include "gateway/model/Decimal.h"

#include <cstdlib>
#include <limits>

namespace rpm {
namespace {

__extension__ typedef __int128 Int128;  // exact intermediate products; GCC and clang both have it

constexpr int kMaxDigits = 18;

// 10^n as Int128 for 0 <= n <= 36; nullopt beyond.
std::optional<Int128> pow10(int n) {
  if (n < 0 || n > 36) return std::nullopt;
  Int128 r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

// Rounds num/den to the nearest integer, halves away from zero. den > 0.
Int128 divideRoundHalfAway(Int128 num, Int128 den) {
  bool negative = num < 0;
  Int128 a = negative ? -num : num;
  Int128 q = a / den;
  Int128 r = a % den;
  if (r * 2 >= den) ++q;
  return negative ? -q : q;
}

}  // namespace

std::optional<Decimal> Decimal::parse(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  bool negative = false;
  if (i < n && text[i] == '-') {
    negative = true;
    ++i;
  }
  if (i >= n || text[i] < '0' || text[i] > '9') return std::nullopt;
  // JSON forbids leading zeros such as "01".
  if (text[i] == '0' && i + 1 < n && text[i + 1] >= '0' && text[i + 1] <= '9') return std::nullopt;
  std::int64_t mantissa = 0;
  int digits = 0;
  int exponent = 0;
  auto take = [&](char c) {
    if (digits == 0 && c == '0') return true;  // leading zeros add no significant digit
    if (++digits > kMaxDigits) return false;
    mantissa = mantissa * 10 + (c - '0');
    return true;
  };
  while (i < n && text[i] >= '0' && text[i] <= '9') {
    if (!take(text[i])) return std::nullopt;
    ++i;
  }
  if (i < n && text[i] == '.') {
    ++i;
    if (i >= n || text[i] < '0' || text[i] > '9') return std::nullopt;
    while (i < n && text[i] >= '0' && text[i] <= '9') {
      if (!take(text[i])) return std::nullopt;
      --exponent;
      ++i;
    }
  }
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool expNegative = false;
    if (i < n && (text[i] == '+' || text[i] == '-')) {
      expNegative = text[i] == '-';
      ++i;
    }
    if (i >= n || text[i] < '0' || text[i] > '9') return std::nullopt;
    int e = 0;
    while (i < n && text[i] >= '0' && text[i] <= '9') {
      e = e * 10 + (text[i] - '0');
      if (e > 1000) return std::nullopt;
      ++i;
    }
    exponent += expNegative ? -e : e;
  }
  if (i != n) return std::nullopt;
  if (exponent < -300 || exponent > 300) return std::nullopt;
  return Decimal(negative ? -mantissa : mantissa, exponent);
}

std::string Decimal::toString() const {
  // Magnitude as unsigned so that INT64_MIN is handled.
  std::uint64_t magnitude = mantissa_ < 0 ? std::uint64_t(0) - static_cast<std::uint64_t>(mantissa_)
                                          : static_cast<std::uint64_t>(mantissa_);
  std::string digits = std::to_string(magnitude);
  std::string out;
  if (mantissa_ < 0) out.push_back('-');
  if (exponent_ >= 0) {
    out += digits;
    if (magnitude != 0) out.append(static_cast<size_t>(exponent_), '0');
    return out;
  }
  size_t frac = static_cast<size_t>(-static_cast<std::int64_t>(exponent_));
  if (digits.size() <= frac) digits.insert(0, frac - digits.size() + 1, '0');
  out.append(digits, 0, digits.size() - frac);
  out.push_back('.');
  out.append(digits, digits.size() - frac, std::string::npos);
  return out;
}

std::optional<Decimal> Decimal::convert(std::int64_t numerator, std::int64_t denominator,
                                        std::int32_t targetExponent) const {
  if (denominator == 0) return std::nullopt;
  if (denominator < 0) {
    numerator = -numerator;
    denominator = -denominator;
  }
  Int128 num = Int128(mantissa_) * numerator;
  Int128 den = denominator;
  int shift = exponent_ - targetExponent;
  auto p = pow10(shift < 0 ? -shift : shift);
  if (!p) return std::nullopt;
  if (shift >= 0) {
    Int128 limit = std::numeric_limits<Int128>::max() / *p;
    if (num > limit || num < -limit) return std::nullopt;
    num *= *p;
  } else {
    Int128 limit = std::numeric_limits<Int128>::max() / *p;
    if (den > limit) return std::nullopt;
    den *= *p;
  }
  Int128 q = divideRoundHalfAway(num, den);
  if (q > std::numeric_limits<std::int64_t>::max() || q < std::numeric_limits<std::int64_t>::min()) {
    return std::nullopt;
  }
  return Decimal(static_cast<std::int64_t>(q), targetExponent);
}

int Decimal::compareValue(const Decimal& other) const {
  int common = exponent_ < other.exponent_ ? exponent_ : other.exponent_;
  auto pa = pow10(exponent_ - common);
  auto pb = pow10(other.exponent_ - common);
  if (pa && pb) {
    Int128 a = Int128(mantissa_) * *pa;
    Int128 b = Int128(other.mantissa_) * *pb;
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  // Exponents far apart: signs decide, then magnitude order by exponent.
  auto sign = [](std::int64_t m) { return m < 0 ? -1 : (m > 0 ? 1 : 0); };
  int sa = sign(mantissa_), sb = sign(other.mantissa_);
  if (sa != sb) return sa < sb ? -1 : 1;
  if (sa == 0) return 0;
  bool aBigger = exponent_ > other.exponent_;
  return (aBigger == (sa > 0)) ? 1 : -1;
}

}  // namespace rpm
