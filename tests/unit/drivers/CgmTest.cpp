#include "drivers/cgm/CgmParser.h"
#include "tests/unit/drivers/DecoderTestSupport.h"

using namespace rpm;
using namespace rpm::test;
using namespace rpm::drivers::cgm;

namespace {
DecodeContext withSession() {
  DecodeContext c = decoderContext();
  c.sessionStart = LocalDateTime{2024, 1, 1, 22, 0, 0, 0};
  return c;
}
// size 15, flags 0xE3 (trend, quality, warning, cal/temp, status), 120 mg/dL
// at offset 5; status 0x02, cal/temp 0x04, warning 0x80; trend -0.2,
// quality 95; CRC-16/MCRF4XX 0x225E.
const char* kFullRecord = "0F E3 78 00 05 00 02 04 80 FE FF 5F 00 5E 22";
const char* kMinimalRecord = "06 00 64 00 0A 00";
}  // namespace

TEST_CASE("CRC-16/MCRF4XX matches the published check values", "[unit][cgm]") {
  const std::string text = "123456789";
  CHECK(crc16Mcrf4xx(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()) == 0x6F91);
  auto bytes = hex("3E 01 02 03 04 05 06 07 08 09");
  CHECK(crc16Mcrf4xx(bytes.data(), bytes.size()) == 0x2F01);
}

TEST_CASE("A CGM record with every field and a valid CRC decodes", "[unit][cgm]") {
  auto r = decode(kCgmMeasurement, hex(kFullRecord), withSession());
  REQUIRE(r.isOk());
  REQUIRE(r->readings.size() == 1);
  const Reading& reading = r->readings[0];
  CHECK(reading.kind == ReadingKind::kCgmGlucose);
  const auto& c = reading.components();
  REQUIRE(c.size() == 3);
  CHECK(c[0].measure == Measure::kGlucoseConcentration);
  CHECK(c[0].quantity.value.toString() == "120");
  CHECK(c[0].quantity.unit == "mg/dL");
  CHECK(c[0].code == "interstitial-fluid");
  CHECK(c[1].measure == Measure::kCgmTrend);
  CHECK(c[1].quantity.value.toString() == "-0.2");
  CHECK(c[1].quantity.unit == "mg/dL/min");
  CHECK(c[2].measure == Measure::kCgmQuality);
  CHECK(c[2].quantity.value.toString() == "95");
  CHECK(c[2].quantity.unit == "%");
  CHECK(reading.status.at(0) == StatusWord{"cgm-sensor-status", 0x800402});
  CHECK(reading.sequence == std::optional<std::uint32_t>(5));
  CHECK(reading.deviceTimeOffsetMinutes == std::optional<int>(5));
  CHECK(reading.deviceTime->toString() == "2024-01-01T22:00:00");
  CHECK(formatDateTime(reading.effectiveStart, 60) == "2024-01-01T22:05:00+01:00");
  CHECK(reading.raw.format == "gatt:2AA7");
  CHECK(reading.raw.bytes == hex(kFullRecord));
  CHECK(fieldValue(*r, "record-1-e2e-crc") == "valid");
  CHECK(fieldValue(*r, "record-1-sensor-status-flags") ==
        "device-battery-low, calibration-recommended, above-device-range");
}

TEST_CASE("Several CGM records in one notification yield one reading each", "[unit][cgm]") {
  auto r = decode(kCgmMeasurement, hex(std::string(kMinimalRecord) + " " + kFullRecord + " 06 00 FF 07 0F 00"),
                  withSession());
  REQUIRE(r.isOk());
  REQUIRE(r->readings.size() == 3);
  CHECK(r->readings[0].components().at(0).quantity.value.toString() == "100");
  CHECK(r->readings[0].components().size() == 1);
  CHECK(r->readings[0].status.empty());
  CHECK(formatDateTime(r->readings[0].effectiveStart, 60) == "2024-01-01T22:10:00+01:00");
  CHECK(r->readings[0].raw.bytes == hex(kMinimalRecord));  // each record decodes alone
  CHECK(r->readings[1].sequence == std::optional<std::uint32_t>(5));
  CHECK(r->readings[2].components()[0].quantity.special == SpecialValue::kNaN);
  CHECK(r->readings[2].sequence == std::optional<std::uint32_t>(15));
}

TEST_CASE("CGM annunciation octets follow the XML order status, cal/temp, warning", "[unit][cgm]") {
  auto status = [](const char* payload) {
    auto r = decode(kCgmMeasurement, hex(payload), withSession());
    REQUIRE(r.isOk());
    return r->readings.at(0).status.at(0).bits;
  };
  CHECK(status("07 20 64 00 0A 00 01") == 0x010000);  // warning only
  CHECK(status("07 40 64 00 0A 00 01") == 0x000100);  // cal/temp only
  CHECK(status("07 80 64 00 0A 00 01") == 0x000001);  // status only
  CHECK(status("08 A0 64 00 0A 00 01 02") == 0x020001);
}

TEST_CASE("An offset past midnight crosses the date", "[unit][cgm]") {
  auto r = decode(kCgmMeasurement, hex("06 00 64 00 B4 00"), withSession());  // 180 min
  REQUIRE(r.isOk());
  CHECK(formatDateTime(r->readings.at(0).effectiveStart, 60) == "2024-01-02T01:00:00+01:00");
}

TEST_CASE("Without a session start CGM records are decoded but not recorded", "[unit][cgm]") {
  auto r = decode(kCgmMeasurement, hex(kFullRecord), decoderContext());
  REQUIRE(r.isOk());
  CHECK(r->readings.empty());
  CHECK(fieldValue(*r, "record-1-glucose-concentration") == "120 mg/dL");
  CHECK(fieldValue(*r, "record-1-trend") == "-0.2 mg/dL/min");
  CHECK_FALSE(r->note.empty());
}

TEST_CASE("Malformed CGM values are typed errors naming the record and problem", "[unit][cgm]") {
  const std::string m = "CGM Measurement (0x2AA7): ";
  auto bad = [&](const std::string& payload, const std::string& problem) {
    INFO(payload);
    auto r = decode(kCgmMeasurement, hex(payload), withSession());
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().kind() == ErrorKind::kMalformedPayload);
    CHECK(r.status().message() == m + problem);
  };
  bad("", "empty value");
  bad("05 00 64 00 0A", "record 1: size below the minimum of 6");
  bad("07 00 64 00 0A 00", "record 1: size exceeds the value");
  bad("06 04 64 00 0A 00", "record 1: reserved flag bits set");
  bad("07 00 64 00 0A 00 00", "record 1: size does not match its flags");
  bad("08 00 64 00 0A 00 00 00", "record 1: E2E-CRC mismatch");
  bad("0F E3 78 00 05 00 02 04 80 FE FF 5F 00 5E 23", "record 1: E2E-CRC mismatch");
  bad("06 01 64 00 0A 00", "record 1: size does not match its flags");
  bad(std::string(kMinimalRecord) + " 05 00 64 00 0A", "record 2: size below the minimum of 6");
  bad(std::string(kMinimalRecord) + " 06", "record 2: size exceeds the value");
}

// Cross-check: the bytes NordicSemiconductor/Android-BLE-Common-Library
// ContinuousGlucoseMeasurementDataCallbackTest builds with setValue
// (onContinuousGlucoseMeasurementReceived_full and _crcError).
TEST_CASE("Nordic's full CGM vector decodes with a valid CRC; its CRC-error vector is refused", "[unit][cgm]") {
  auto r = decode(kCgmMeasurement, hex("0F E3 D2 E4 05 00 02 14 FF 02 F0 E5 F3 8E 3F"), withSession());
  REQUIRE(r.isOk());
  const Reading& reading = r->readings.at(0);
  CHECK(reading.components()[0].quantity.value.toString() == "12.34");
  CHECK(reading.components()[1].quantity.value.toString() == "0.2");
  CHECK(reading.components()[2].quantity.value.toString() == "99.7");
  CHECK(reading.sequence == std::optional<std::uint32_t>(5));
  // XML order: status 0x02 (battery low), cal/temp 0x14 (calibration
  // recommended, temperature too high), warning 0xFF.
  CHECK(reading.status.at(0).bits == 0xFF1402);
  auto crcError = decode(kCgmMeasurement, hex("08 00 0C 10 06 00 58 6F"), withSession());
  REQUIRE_FALSE(crcError.isOk());
  CHECK(crcError.status().message() == "CGM Measurement (0x2AA7): record 1: E2E-CRC mismatch");
  auto small = decode(kCgmMeasurement, hex("06 00 0C 10 06 00"), withSession());
  REQUIRE(small.isOk());
  CHECK(small->readings.at(0).components()[0].quantity.value.toString() == "120");
}
