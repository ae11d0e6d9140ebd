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
