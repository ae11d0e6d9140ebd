#include <catch2/catch.hpp>

#include "gateway/model/Decimal.h"

using rpm::Decimal;

TEST_CASE("Decimal keeps the precision a device reported", "[unit][decimal]") {
  CHECK(Decimal(2, 0).toString() == "2");
  CHECK(Decimal(20, -1).toString() == "2.0");
  CHECK(Decimal(200, -2).toString() == "2.00");
  CHECK(Decimal(2, 1).toString() == "20");
  CHECK(Decimal(2, 2).toString() == "200");
  CHECK(Decimal(-2, -1).toString() == "-0.2");
  CHECK(Decimal(95, -5).toString() == "0.00095");
  CHECK(Decimal(0, -2).toString() == "0.00");
  CHECK(Decimal(0, 3).toString() == "0");
  CHECK(Decimal(-1234, 0).toString() == "-1234");
  CHECK(Decimal(INT64_MIN, 0).toString() == "-9223372036854775808");
  CHECK(Decimal(2, 0) != Decimal(200, -2));
  CHECK(Decimal(2, 0).compareValue(Decimal(200, -2)) == 0);
}

TEST_CASE("Decimal parses JSON number text without losing digits", "[unit][decimal]") {
  auto d = Decimal::parse("2.00");
  REQUIRE(d);
  CHECK(d->mantissa() == 200);
  CHECK(d->exponent() == -2);
  CHECK(d->toString() == "2.00");
  CHECK(Decimal::parse("-0.20")->toString() == "-0.20");
  CHECK(Decimal::parse("0")->toString() == "0");
  CHECK(Decimal::parse("120")->toString() == "120");
  CHECK(Decimal::parse("1.5e2")->toString() == "150");
  CHECK(Decimal::parse("1.5E-2")->toString() == "0.015");
  CHECK(Decimal::parse("0.000")->toString() == "0.000");
  CHECK(Decimal::parse("123456789012345678")->mantissa() == 123456789012345678);
}

TEST_CASE("Decimal rejects text that is not a JSON number", "[unit][decimal]") {
  for (const char* bad : {"", "-", "+1", ".5", "5.", "01", "1e", "1e+", "abc", "1.2.3", "1 ", " 1", "NaN",
                          "1234567890123456789", "1e999999"}) {
    INFO(bad);
    CHECK_FALSE(Decimal::parse(bad));
  }
}

TEST_CASE("Decimal conversions follow the rounding rule with golden strings", "[unit][decimal]") {
  // kPa -> mm[Hg]: UCUM mm[Hg] = 133.3220 Pa, so x 10000000/1333220; the
  // source exponent is kept (docs/decisions/0003-rounding.md).
  auto kPa = [](const char* text) {
    return Decimal::parse(text)->convert(10000000, 1333220, Decimal::parse(text)->exponent())->toString();
  };
  CHECK(kPa("16.0") == "120.0");
  CHECK(kPa("16.00") == "120.01");
  CHECK(kPa("10.5") == "78.8");
  CHECK(kPa("21") == "158");
  // 1/1024 s -> ms, whole milliseconds, half away from zero.
  auto rr = [](std::int64_t ticks) { return Decimal(ticks, 0).convert(1000, 1024, 0)->toString(); };
  CHECK(rr(1024) == "1000");
  CHECK(rr(512) == "500");
  CHECK(rr(1) == "1");      // 0.9765625
  CHECK(rr(717) == "700");  // 700.1953125
  CHECK(rr(128) == "125");
  CHECK(rr(64) == "63");    // 62.5 rounds away from zero
  CHECK(Decimal(-5, -1).convert(1, 1, 0)->toString() == "-1");  // -0.5 -> -1
  CHECK(Decimal(5, -1).convert(1, 1, 0)->toString() == "1");
  CHECK(Decimal(25, -1).convert(1, 1, 0)->toString() == "3");   // not banker's rounding
  // Exact powers of ten keep every digit: kg/L -> mg/dL is x 10^5.
  CHECK(Decimal(95, -5).shifted(5).toString() == "95");
  CHECK(Decimal(62, -4).shifted(3).toString() == "6.2");
}

TEST_CASE("Decimal conversion reports overflow instead of wrapping", "[unit][decimal]") {
  CHECK_FALSE(Decimal(INT64_MAX, 0).convert(10, 1, 0));
  CHECK_FALSE(Decimal(1, 0).convert(1, 0, 0));
  CHECK_FALSE(Decimal(1, 0).convert(1, 1, -40));
}
