#include <catch2/catch.hpp>

#include "drivers/thermometer/TemperatureMeasurementParser.h"

using namespace rpm;
using namespace rpm::drivers::thermometer;

namespace {
DecodeContext context() {
  DecodeContext c;
  c.device = *DeviceKey::parse("bt:B0495F001071");
  c.receivedAt = UtcInstant(std::chrono::seconds(1704164645));  // 2024-01-02T03:04:05Z
  c.utcOffsetMinutes = 60;
  return c;
}
}  // namespace

TEST_CASE("Temperature Measurement with all fields decodes exactly", "[unit][thermometer]") {
  // flags 0x06 (Cel, time stamp, type); 37.60 Cel; 2024-01-02 04:00:30; type 6 mouth
  std::vector<std::uint8_t> bytes{0x06, 0xB0, 0x0E, 0x00, 0xFE, 0xE8, 0x07, 0x01, 0x02, 0x04, 0x00, 0x1E, 0x06};
  auto r = decodeTemperature(kTemperatureMeasurement, bytes, context());
  REQUIRE(r.isOk());
  REQUIRE(r->readings.size() == 1);
  const Reading& reading = r->readings[0];
  CHECK(reading.kind == ReadingKind::kBodyTemperature);
  REQUIRE(reading.components().size() == 1);
  CHECK(reading.components()[0].quantity.value.toString() == "37.60");
  CHECK(reading.components()[0].quantity.unit == "Cel");
  CHECK(reading.components()[0].code == "mouth");
  REQUIRE(reading.deviceTime);
  CHECK(reading.deviceTime->toString() == "2024-01-02T04:00:30");
  CHECK(formatDateTime(reading.effectiveStart, 60) == "2024-01-02T04:00:30+01:00");
  CHECK(reading.raw.bytes == bytes);
}

TEST_CASE("Minimal Fahrenheit measurement uses the receive time", "[unit][thermometer]") {
  std::vector<std::uint8_t> bytes{0x01, 0xDD, 0x03, 0x00, 0xFF};  // 98.9 [degF]
  auto r = decodeTemperature(kTemperatureMeasurement, bytes, context());
  REQUIRE(r.isOk());
  const Reading& reading = r->readings.at(0);
  CHECK(reading.components()[0].quantity.value.toString() == "98.9");
  CHECK(reading.components()[0].quantity.unit == "[degF]");
  CHECK_FALSE(reading.deviceTime);
  CHECK(reading.effectiveStart == context().receivedAt);
}

TEST_CASE("Intermediate temperature is decoded but yields nothing to upload", "[unit][thermometer]") {
  auto r = decodeTemperature(kIntermediateTemperature, {0x00, 0x72, 0x01, 0x00, 0xFF}, context());
  REQUIRE(r.isOk());
  CHECK(r->readings.empty());
  CHECK_FALSE(r->note.empty());
}

TEST_CASE("Malformed temperature values are typed errors naming the characteristic", "[unit][thermometer]") {
  struct Bad { std::vector<std::uint8_t> bytes; const char* problem; };
  for (const Bad& b : {Bad{{}, "empty value"},
                       Bad{{0x00, 0x72, 0x01}, "too short for the temperature field"},
                       Bad{{0x08, 0x72, 0x01, 0x00, 0xFF}, "reserved flag bits set"},
                       Bad{{0x02, 0x72, 0x01, 0x00, 0xFF, 0xE8, 0x07}, "too short for the time stamp"},
                       Bad{{0x02, 0x72, 0x01, 0x00, 0xFF, 0xE8, 0x07, 0x0D, 0x01, 0, 0, 0},
                           "impossible date or time in the time stamp"},
                       Bad{{0x04, 0x72, 0x01, 0x00, 0xFF, 0x0A}, "reserved temperature type"},
                       Bad{{0x00, 0x72, 0x01, 0x00, 0xFF, 0x00}, "unexpected trailing bytes"}}) {
    auto r = decodeTemperature(kTemperatureMeasurement, b.bytes, context());
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().kind() == ErrorKind::kMalformedPayload);
    CHECK(r.status().message() == std::string("Temperature Measurement (0x2A1C): ") + b.problem);
  }
}

TEST_CASE("Every FLOAT special value maps to Quantity.special", "[unit][thermometer]") {
  struct Case { std::uint32_t word; SpecialValue special; };
  for (const Case& k : {Case{0x007FFFFF, SpecialValue::kNaN}, Case{0x00800000, SpecialValue::kNRes},
                        Case{0x007FFFFE, SpecialValue::kPositiveInfinity},
                        Case{0x00800002, SpecialValue::kNegativeInfinity}, Case{0x00800001, SpecialValue::kReserved}}) {
    const std::vector<std::uint8_t> bytes{0x00, std::uint8_t(k.word), std::uint8_t(k.word >> 8),
                                          std::uint8_t(k.word >> 16), std::uint8_t(k.word >> 24)};
    auto r = decodeThermometer(kTemperatureMeasurement, bytes, context());
    REQUIRE(r.isOk());
    CHECK(r->readings.at(0).components()[0].quantity.special == k.special);
  }
}

TEST_CASE("Every temperature type has its site token; no type leaves the site empty", "[unit][thermometer]") {
  const char* sites[] = {"armpit", "body", "ear", "finger", "gastro-intestinal-tract", "mouth", "rectum", "toe",
                         "tympanum"};
  for (std::uint8_t t = 1; t <= 9; ++t) {
    auto r = decodeThermometer(kTemperatureMeasurement, {0x04, 0x72, 0x01, 0x00, 0xFF, t}, context());
    REQUIRE(r.isOk());
    CHECK(r->readings.at(0).components()[0].code == sites[t - 1]);
    auto type = decodeThermometer(kTemperatureType, {t}, context());
    REQUIRE(type.isOk());
    CHECK(type->readings.empty());
    CHECK(type->fields.at(0).value == sites[t - 1]);
  }
  auto none = decodeThermometer(kTemperatureMeasurement, {0x00, 0x72, 0x01, 0x00, 0xFF}, context());
  REQUIRE(none.isOk());
  CHECK(none->readings.at(0).components()[0].code.empty());
}

TEST_CASE("Temperature type and measurement interval decode to fields only", "[unit][thermometer]") {
  auto interval = decodeThermometer(kMeasurementInterval, {0x2C, 0x01}, context());
  REQUIRE(interval.isOk());
  CHECK(interval->readings.empty());
  CHECK(interval->fields.at(0).value == "300 s");
  auto off = decodeThermometer(kMeasurementInterval, {0x00, 0x00}, context());
  REQUIRE(off.isOk());
  CHECK(off->fields.at(0).value == "no periodic measurement");
  struct Bad { std::uint16_t c; std::vector<std::uint8_t> bytes; const char* message; };
  for (const Bad& b : {Bad{kTemperatureType, {}, "Temperature Type (0x2A1D): empty value"},
                       Bad{kTemperatureType, {0x00}, "Temperature Type (0x2A1D): reserved temperature type"},
                       Bad{kTemperatureType, {0x0A}, "Temperature Type (0x2A1D): reserved temperature type"},
                       Bad{kTemperatureType, {0x01, 0x00}, "Temperature Type (0x2A1D): unexpected trailing bytes"},
                       Bad{kMeasurementInterval, {0x01}, "Measurement Interval (0x2A21): too short for the interval"},
                       Bad{kMeasurementInterval, {0x01, 0x00, 0x00},
                           "Measurement Interval (0x2A21): unexpected trailing bytes"}}) {
    auto r = decodeThermometer(b.c, b.bytes, context());
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().kind() == ErrorKind::kMalformedPayload);
    CHECK(r.status().message() == b.message);
  }
}
