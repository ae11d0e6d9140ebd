#include "drivers/blood_pressure/BloodPressureParser.h"
#include "gateway/model/Time.h"
#include "tests/unit/drivers/DecoderTestSupport.h"

using namespace rpm;
using namespace rpm::test;
using namespace rpm::drivers::blood_pressure;

namespace {
Reading one(const std::string& payload) {
  auto r = decode(kBloodPressureMeasurement, hex(payload), decoderContext());
  REQUIRE(r.isOk());
  REQUIRE(r->readings.size() == 1);
  return r->readings[0];
}
}  // namespace

TEST_CASE("Blood pressure with every field decodes to exact values", "[unit][blood_pressure]") {
  // flags 0x1E: mmHg, time stamp, pulse, user id, status; 121/79/93 mmHg,
  // 2024-05-06 08:09:10, pulse 68, user 1, status irregular pulse + below range.
  const std::string payload = "1E 79 00 4F 00 5D 00 E8 07 05 06 08 09 0A 44 00 01 14 00";
  auto r = decode(kBloodPressureMeasurement, hex(payload), decoderContext());
  REQUIRE(r.isOk());
  REQUIRE(r->readings.size() == 1);
  const Reading& reading = r->readings[0];
  CHECK(reading.kind == ReadingKind::kBloodPressure);
  const auto& c = reading.components();
  REQUIRE(c.size() == 4);
  CHECK(c[0].measure == Measure::kSystolic);
  CHECK(c[0].quantity.value.toString() == "121");
  CHECK(c[0].quantity.unit == "mm[Hg]");
  CHECK_FALSE(c[0].original);
  CHECK(c[1].measure == Measure::kDiastolic);
  CHECK(c[1].quantity.value.toString() == "79");
  CHECK(c[2].measure == Measure::kMeanArterialPressure);
  CHECK(c[2].quantity.value.toString() == "93");
  CHECK(c[3].measure == Measure::kPulseRate);
  CHECK(c[3].quantity.value.toString() == "68");
  CHECK(c[3].quantity.unit == "/min");
  REQUIRE(reading.deviceTime);
  CHECK(reading.deviceTime->toString() == "2024-05-06T08:09:10");
  CHECK(formatDateTime(reading.effectiveStart, 60) == "2024-05-06T08:09:10+01:00");
  CHECK(reading.userSlot == std::optional<std::uint8_t>(1));
  REQUIRE(reading.status.size() == 1);
  CHECK(reading.status[0] == StatusWord{"bp-measurement-status", 0x0014});
  CHECK(reading.raw.format == "gatt:2A35");
  CHECK(reading.raw.bytes == hex(payload));
  CHECK(reading.priority == Priority::kLive);
  CHECK(reading.id.empty());  // ingest computes the reading id
  CHECK(fieldValue(*r, "pulse-rate-range") == "below-lower-limit");
  CHECK(fieldValue(*r, "measurement-status-flags") == "irregular-pulse");
  CHECK(fieldValue(*r, "systolic") == "121 mm[Hg]");
  CHECK(fieldValue(*r, "user-id") == "1");
}

TEST_CASE("Minimal blood pressure uses the receive time and keeps a NaN mean", "[unit][blood_pressure]") {
  Reading reading = one("00 79 00 4F 00 FF 07");
  REQUIRE(reading.components().size() == 3);
  CHECK(reading.components()[2].quantity.special == SpecialValue::kNaN);
  CHECK(reading.components()[2].quantity.unit == "mm[Hg]");
  CHECK_FALSE(reading.deviceTime);
  CHECK(reading.effectiveStart == decoderContext().receivedAt);
  CHECK_FALSE(reading.userSlot);
  CHECK(reading.status.empty());
}

TEST_CASE("Blood pressure in kPa is converted to mm[Hg] at the device's precision", "[unit][blood_pressure]") {
  // 16.0 / 10.5 / 16.00 kPa -> the golden strings of DecimalTest.
  Reading reading = one("01 A0 F0 69 F0 40 E6");
  const auto& c = reading.components();
  REQUIRE(c.size() == 3);
  CHECK(c[0].quantity.value.toString() == "120.0");
  CHECK(c[1].quantity.value.toString() == "78.8");
  CHECK(c[2].quantity.value.toString() == "120.01");
  for (const Component& x : c) {
    CHECK(x.quantity.unit == "mm[Hg]");
    REQUIRE(x.original);
    CHECK(x.original->unit == "kPa");
  }
  CHECK(c[0].original->value.toString() == "16.0");
  CHECK(c[1].original->value.toString() == "10.5");
  CHECK(c[2].original->value.toString() == "16.00");
}

TEST_CASE("A kPa special value stays special in both units", "[unit][blood_pressure]") {
  Reading reading = one("01 A0 F0 69 F0 00 08");
  const Component& mean = reading.components()[2];
  CHECK(mean.quantity.special == SpecialValue::kNRes);
  CHECK(mean.quantity.unit == "mm[Hg]");
  REQUIRE(mean.original);
  CHECK(mean.original->special == SpecialValue::kNRes);
}

TEST_CASE("Every SFLOAT special value maps to Quantity.special", "[unit][blood_pressure]") {
  struct Case { const char* bytes; SpecialValue special; };
  for (const Case& k : {Case{"FF 07", SpecialValue::kNaN}, Case{"00 08", SpecialValue::kNRes},
                        Case{"FE 07", SpecialValue::kPositiveInfinity},
                        Case{"02 08", SpecialValue::kNegativeInfinity}, Case{"01 08", SpecialValue::kReserved}}) {
    Reading reading = one(std::string("04 79 00 4F 00 5D 00 ") + k.bytes);
    CHECK(reading.components()[3].quantity.special == k.special);
  }
}

TEST_CASE("Each flag bit adds exactly its field", "[unit][blood_pressure]") {
  CHECK(one("02 79 00 4F 00 5D 00 E8 07 01 02 03 04 05").deviceTime->toString() == "2024-01-02T03:04:05");
  CHECK(one("04 79 00 4F 00 5D 00 48 00").components().size() == 4);
  CHECK(one("08 79 00 4F 00 5D 00 FF").userSlot == std::optional<std::uint8_t>(255));
  CHECK(one("10 79 00 4F 00 5D 00 23 00").status.at(0).bits == 0x0023);
  // Unknown date (year 0): kept as received, the receive time stands in.
  Reading unknown = one("02 79 00 4F 00 5D 00 00 00 00 00 00 00 00");
  REQUIRE(unknown.deviceTime);
  CHECK_FALSE(unknown.deviceTime->isKnown());
  CHECK(unknown.effectiveStart == decoderContext().receivedAt);
}

TEST_CASE("The pulse rate range is a two-bit enum", "[unit][blood_pressure]") {
  auto range = [](const char* status) {
    auto r = decode(kBloodPressureMeasurement, hex(std::string("10 79 00 4F 00 5D 00 ") + status), decoderContext());
    REQUIRE(r.isOk());
    return fieldValue(*r, "pulse-rate-range");
  };
  CHECK(range("00 00") == "within-range");
  CHECK(range("08 00") == "above-upper-limit");
  CHECK(range("10 00") == "below-lower-limit");
  CHECK(range("27 00") == "within-range");
}

TEST_CASE("Intermediate cuff pressure is decoded but never a reading", "[unit][blood_pressure]") {
  auto r = decode(kIntermediateCuffPressure, hex("00 28 00 FF 07 FF 07"), decoderContext());
  REQUIRE(r.isOk());
  CHECK(r->readings.empty());
  CHECK(fieldValue(*r, "cuff-pressure") == "40 mm[Hg]");
  CHECK_FALSE(r->note.empty());
  auto kPa = decode(kIntermediateCuffPressure, hex("01 A0 F0 00 00 00 00"), decoderContext());
  REQUIRE(kPa.isOk());
  CHECK(fieldValue(*kPa, "cuff-pressure") == "120.0 mm[Hg] (from 16.0 kPa)");
}

TEST_CASE("Blood pressure feature bits are listed", "[unit][blood_pressure]") {
  auto r = decode(kBloodPressureFeature, hex("25 01"), decoderContext());
  REQUIRE(r.isOk());
  CHECK(r->readings.empty());
  CHECK(fieldValue(*r, "features") == "0x0125");
  CHECK(fieldValue(*r, "body-movement-detection") == "yes");
  CHECK(fieldValue(*r, "cuff-fit-detection") == "no");
  CHECK(fieldValue(*r, "irregular-pulse-detection") == "yes");
  CHECK(fieldValue(*r, "multiple-bonds") == "yes");
  CHECK(fieldValue(*r, "user-facing-time") == "yes");
}

TEST_CASE("Malformed blood pressure values are typed errors naming the problem", "[unit][blood_pressure]") {
  const std::string m = "Blood Pressure Measurement (0x2A35): ";
  requireMalformed(decode, kBloodPressureMeasurement, "", m + "empty value");
  requireMalformed(decode, kBloodPressureMeasurement, "20 79 00 4F 00 5D 00", m + "reserved flag bits set");
  requireMalformed(decode, kBloodPressureMeasurement, "00 79 00 4F 00 5D", m + "too short for the pressure values");
  requireMalformed(decode, kBloodPressureMeasurement, "02 79 00 4F 00 5D 00 E8 07 05",
                   m + "too short for the time stamp");
  requireMalformed(decode, kBloodPressureMeasurement, "02 79 00 4F 00 5D 00 E8 07 0D 06 08 09 0A",
                   m + "impossible date or time in the time stamp");
  requireMalformed(decode, kBloodPressureMeasurement, "02 79 00 4F 00 5D 00 E8 07 02 1E 08 09 0A",
                   m + "impossible date or time in the time stamp");
  requireMalformed(decode, kBloodPressureMeasurement, "04 79 00 4F 00 5D 00 44", m + "too short for the pulse rate");
  requireMalformed(decode, kBloodPressureMeasurement, "08 79 00 4F 00 5D 00", m + "too short for the user id");
  requireMalformed(decode, kBloodPressureMeasurement, "10 79 00 4F 00 5D 00 01",
                   m + "too short for the measurement status");
  requireMalformed(decode, kBloodPressureMeasurement, "10 79 00 4F 00 5D 00 18 00",
                   m + "reserved pulse rate range value in the measurement status");
  requireMalformed(decode, kBloodPressureMeasurement, "00 79 00 4F 00 5D 00 00", m + "unexpected trailing bytes");
  requireMalformed(decode, kIntermediateCuffPressure, "00 28 00",
                   "Intermediate Cuff Pressure (0x2A36): too short for the pressure values");
  requireMalformed(decode, kBloodPressureFeature, "01", "Blood Pressure Feature (0x2A49): too short for the feature bits");
  requireMalformed(decode, kBloodPressureFeature, "01 00 00", "Blood Pressure Feature (0x2A49): unexpected trailing bytes");
}
