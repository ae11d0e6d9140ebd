#include "drivers/weight_scale/WeightScaleParser.h"
#include "tests/unit/drivers/DecoderTestSupport.h"

using namespace rpm;
using namespace rpm::test;
using namespace rpm::drivers::weight_scale;

namespace {
Reading one(const std::string& payload) {
  auto r = decode(kWeightMeasurement, hex(payload), decoderContext());
  REQUIRE(r.isOk());
  REQUIRE(r->readings.size() == 1);
  return r->readings[0];
}
std::string text(const Component& c) { return c.quantity.value.toString() + " " + c.quantity.unit; }
}  // namespace

TEST_CASE("Weight in kg with every field decodes with the fixed 0.005 kg factor", "[unit][weight_scale]") {
  // flags 0x0E: SI, time stamp, user 2, BMI 22.9 and height 1.750 m.
  const std::string payload = "0E B0 36 E8 07 05 06 08 09 0A 02 E5 00 D6 06";
  Reading reading = one(payload);
  CHECK(reading.kind == ReadingKind::kBodyWeight);
  const auto& c = reading.components();
  REQUIRE(c.size() == 3);
  CHECK(c[0].measure == Measure::kBodyWeight);
  CHECK(text(c[0]) == "70.000 kg");
  CHECK(c[1].measure == Measure::kBmi);
  CHECK(text(c[1]) == "22.9 kg/m2");
  CHECK(c[2].measure == Measure::kBodyHeight);
  CHECK(text(c[2]) == "175.0 cm");
  REQUIRE(c[2].original);
  CHECK(c[2].original->value.toString() == "1.750");
  CHECK(c[2].original->unit == "m");
  CHECK(reading.userSlot == std::optional<std::uint8_t>(2));
  CHECK(reading.deviceTime->toString() == "2024-05-06T08:09:10");
  CHECK(reading.raw.format == "gatt:2A9D");
  CHECK(reading.raw.bytes == hex(payload));
}

TEST_CASE("Minimal weight is the weight alone at the receive time", "[unit][weight_scale]") {
  Reading reading = one("00 B0 36");
  REQUIRE(reading.components().size() == 1);
  CHECK(text(reading.components()[0]) == "70.000 kg");
  CHECK(reading.effectiveStart == decoderContext().receivedAt);
  CHECK(text(one("00 01 00").components()[0]) == "0.005 kg");
  CHECK(text(one("00 FE FF").components()[0]) == "327.670 kg");
}

TEST_CASE("Imperial weight is in pounds and inches", "[unit][weight_scale]") {
  Reading reading = one("0F 48 3C E8 07 05 06 08 09 0A FF E5 00 B1 02");
  const auto& c = reading.components();
  CHECK(text(c[0]) == "154.32 [lb_av]");
  CHECK(text(c[1]) == "22.9 kg/m2");
  CHECK(text(c[2]) == "68.9 [in_i]");
  CHECK_FALSE(c[2].original);
  CHECK(reading.userSlot == std::optional<std::uint8_t>(255));
}

TEST_CASE("An unsuccessful weight measurement yields fields and no reading", "[unit][weight_scale]") {
  auto r = decode(kWeightMeasurement, hex("06 FF FF E8 07 05 06 08 09 0A 01"), decoderContext());
  REQUIRE(r.isOk());
  CHECK(r->readings.empty());
  CHECK(fieldValue(*r, "weight") == "measurement unsuccessful");
  CHECK(fieldValue(*r, "user-id") == "1");
  CHECK_FALSE(r->note.empty());
}

TEST_CASE("Weight scale features list the bits and resolutions", "[unit][weight_scale]") {
  auto r = decode(kWeightScaleFeature, hex("BF 01 00 00"), decoderContext());
  REQUIRE(r.isOk());
  CHECK(r->readings.empty());
  CHECK(fieldValue(*r, "time-stamp") == "yes");
  CHECK(fieldValue(*r, "multiple-users") == "yes");
  CHECK(fieldValue(*r, "bmi") == "yes");
  CHECK(fieldValue(*r, "weight-resolution") == "0.005 kg / 0.01 lb");
  CHECK(fieldValue(*r, "height-resolution") == "0.001 m / 0.1 in");
  auto none = decode(kWeightScaleFeature, hex("00 00 00 00"), decoderContext());
  REQUIRE(none.isOk());
  CHECK(fieldValue(*none, "weight-resolution") == "unspecified / unspecified");
}

TEST_CASE("Malformed weight values are typed errors naming the problem", "[unit][weight_scale]") {
  const std::string m = "Weight Measurement (0x2A9D): ";
  const std::string f = "Weight Scale Feature (0x2A9E): ";
  requireMalformed(decode, kWeightMeasurement, "", m + "empty value");
  requireMalformed(decode, kWeightMeasurement, "10 B0 36", m + "reserved flag bits set");
  requireMalformed(decode, kWeightMeasurement, "00 B0", m + "too short for the weight");
  requireMalformed(decode, kWeightMeasurement, "02 B0 36 E8 07 05 06", m + "too short for the time stamp");
  requireMalformed(decode, kWeightMeasurement, "02 B0 36 E8 07 05 06 08 3C 0A",
                   m + "impossible date or time in the time stamp");
  requireMalformed(decode, kWeightMeasurement, "04 B0 36", m + "too short for the user id");
  requireMalformed(decode, kWeightMeasurement, "08 B0 36 E5 00 D6", m + "too short for the BMI and height");
  requireMalformed(decode, kWeightMeasurement, "00 B0 36 00", m + "unexpected trailing bytes");
  requireMalformed(decode, kWeightScaleFeature, "00 00 00", f + "too short for the feature bits");
  requireMalformed(decode, kWeightScaleFeature, "40 00 00 00", f + "reserved weight resolution");
  requireMalformed(decode, kWeightScaleFeature, "00 02 00 00", f + "reserved height resolution");
  requireMalformed(decode, kWeightScaleFeature, "00 00 00 00 00", f + "unexpected trailing bytes");
}
