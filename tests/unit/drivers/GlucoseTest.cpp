#include "drivers/glucose/GlucoseParser.h"
#include "tests/unit/drivers/DecoderTestSupport.h"

using namespace rpm;
using namespace rpm::test;
using namespace rpm::drivers::glucose;

namespace {
Reading one(std::uint16_t characteristic, const std::string& payload) {
  auto r = decode(characteristic, hex(payload), decoderContext());
  REQUIRE(r.isOk());
  REQUIRE(r->readings.size() == 1);
  return r->readings[0];
}
std::string text(const Component& c) {
  std::string s = c.quantity.value.toString() + " " + c.quantity.unit;
  if (c.original) s += " <- " + c.original->value.toString() + " " + c.original->unit;
  return s;
}
}  // namespace

TEST_CASE("Glucose measurement with every field converts kg/L to mg/dL exactly", "[unit][glucose]") {
  // flags 0x1B: time offset, concentration (kg/L), sensor status, context
  // follows; seq 1; base 2024-05-06 08:09:10; offset -60 min; 0.00095 kg/L;
  // capillary whole blood, finger; status battery low + result high.
  const std::string payload = "1B 01 00 E8 07 05 06 08 09 0A C4 FF 5F B0 11 21 00";
  auto r = decode(kGlucoseMeasurement, hex(payload), decoderContext());
  REQUIRE(r.isOk());
  REQUIRE(r->readings.size() == 1);
  const Reading& reading = r->readings[0];
  CHECK(reading.kind == ReadingKind::kGlucose);
  const auto& c = reading.components();
  REQUIRE(c.size() == 2);
  CHECK(c[0].measure == Measure::kGlucoseConcentration);
  CHECK(text(c[0]) == "95 mg/dL <- 0.00095 kg/L");
  CHECK(c[0].code == "capillary-whole-blood");
  CHECK(c[0].comparator == Comparator::kGreater);
  CHECK(c[1].measure == Measure::kSampleLocation);
  CHECK(c[1].code == "finger");
  CHECK(reading.sequence == std::optional<std::uint32_t>(1));
  CHECK(reading.deviceTime->toString() == "2024-05-06T08:09:10");
  CHECK(reading.deviceTimeOffsetMinutes == std::optional<int>(-60));
  CHECK(formatDateTime(reading.effectiveStart, 60) == "2024-05-06T07:09:10+01:00");
  CHECK(reading.status.at(0) == StatusWord{"glucose-sensor-status", 0x0021});
  CHECK(reading.priority == Priority::kStored);
  CHECK(reading.raw.format == "gatt:2A18");
  CHECK(reading.raw.bytes == hex(payload));
  CHECK(fieldValue(*r, "concentration") == "> 95 mg/dL (from 0.00095 kg/L)");
  CHECK(fieldValue(*r, "sensor-status-flags") == "device-battery-low, result-higher-than-device-can-process");
  CHECK(fieldValue(*r, "context-follows") == "yes");
  CHECK(fieldValue(*r, "time-offset") == "-60 min");
}

TEST_CASE("Minimal glucose record with a concentration uses the base time", "[unit][glucose]") {
  Reading reading = one(kGlucoseMeasurement, "02 02 00 E8 07 05 06 08 09 0A 5F B0 11");
  CHECK(text(reading.components()[0]) == "95 mg/dL <- 0.00095 kg/L");
  CHECK_FALSE(reading.deviceTimeOffsetMinutes);
  CHECK(formatDateTime(reading.effectiveStart, 60) == "2024-05-06T08:09:10+01:00");
  CHECK(reading.status.empty());
  CHECK(reading.components()[0].comparator == Comparator::kNone);
}

TEST_CASE("A glucose record without a concentration yields fields only", "[unit][glucose]") {
  auto r = decode(kGlucoseMeasurement, hex("00 02 00 E8 07 05 06 08 09 0A"), decoderContext());
  REQUIRE(r.isOk());
  CHECK(r->readings.empty());
  CHECK(fieldValue(*r, "sequence-number") == "2");
  CHECK_FALSE(r->note.empty());
}

TEST_CASE("Molar glucose converts mol/L to mmol/L exactly", "[unit][glucose]") {
  Reading reading = one(kGlucoseMeasurement, "06 03 00 E8 07 05 06 08 09 0A 3E C0 22");
  CHECK(text(reading.components()[0]) == "6.2 mmol/L <- 0.0062 mol/L");
  CHECK(reading.components()[0].code == "capillary-plasma");
  CHECK(reading.components()[1].code == "alternate-site-test");
  // 2.00 mmol/L keeps its two decimals: 200e-5 mol/L.
  CHECK(text(one(kGlucoseMeasurement, "06 03 00 E8 07 05 06 08 09 0A C8 B0 22").components()[0]) ==
        "2.00 mmol/L <- 0.00200 mol/L");
}

TEST_CASE("Every glucose sample type and location has its token", "[unit][glucose]") {
  const char* types[] = {"capillary-whole-blood", "capillary-plasma",  "venous-whole-blood",
                         "venous-plasma",         "arterial-whole-blood", "arterial-plasma",
                         "undetermined-whole-blood", "undetermined-plasma", "interstitial-fluid"};
  for (int t = 1; t <= 9; ++t) {
    char payload[64];
    std::snprintf(payload, sizeof payload, "02 02 00 E8 07 05 06 08 09 0A 5F B0 F%X", t);
    CHECK(one(kGlucoseMeasurement, payload).components()[0].code == types[t - 1]);
  }
  CHECK(one(kGlucoseMeasurement, "02 02 00 E8 07 05 06 08 09 0A 5F B0 31").components()[1].code == "earlobe");
  CHECK(one(kGlucoseMeasurement, "02 02 00 E8 07 05 06 08 09 0A 5F B0 F1").components()[1].code == "not-available");
}

TEST_CASE("Control solution records are decoded with a note that they are never uploaded", "[unit][glucose]") {
  for (const char* typeLocation : {"4A", "1A", "41"}) {
    auto r = decode(kGlucoseMeasurement, hex(std::string("02 02 00 E8 07 05 06 08 09 0A 5F B0 ") + typeLocation),
                    decoderContext());
    REQUIRE(r.isOk());
    CHECK(r->readings.size() == 1);
    CHECK(r->note.find("control solution") != std::string::npos);
  }
}

TEST_CASE("Result low sets the < comparator; special values stay special", "[unit][glucose]") {
  Reading low = one(kGlucoseMeasurement, "0A 02 00 E8 07 05 06 08 09 0A 14 B0 11 40 00");
  CHECK(low.components()[0].comparator == Comparator::kLess);
  CHECK(text(low.components()[0]) == "20 mg/dL <- 0.00020 kg/L");
  struct Case { const char* word; SpecialValue special; };
  for (const Case& k : {Case{"FF 07", SpecialValue::kNaN}, Case{"00 08", SpecialValue::kNRes},
                        Case{"FE 07", SpecialValue::kPositiveInfinity},
                        Case{"02 08", SpecialValue::kNegativeInfinity}, Case{"01 08", SpecialValue::kReserved}}) {
    Reading r = one(kGlucoseMeasurement, std::string("02 02 00 E8 07 05 06 08 09 0A ") + k.word + " 11");
    CHECK(r.components()[0].quantity.special == k.special);
    CHECK(r.components()[0].quantity.unit == "mg/dL");
    CHECK(r.components()[0].original->special == k.special);
  }
}

TEST_CASE("A time offset overrun leaves the base time as the user-facing time", "[unit][glucose]") {
  Reading reading = one(kGlucoseMeasurement, "03 02 00 E8 07 05 06 08 09 0A FF 7F 5F B0 11");
  CHECK(reading.deviceTimeOffsetMinutes == std::optional<int>(32767));
  CHECK(formatDateTime(reading.effectiveStart, 60) == "2024-05-06T08:09:10+01:00");
  auto r = decode(kGlucoseMeasurement, hex("03 02 00 E8 07 05 06 08 09 0A 00 80 5F B0 11"), decoderContext());
  REQUIRE(r.isOk());
  CHECK(fieldValue(*r, "time-offset") == "underrun");
}

TEST_CASE("Glucose context with every field decodes", "[unit][glucose]") {
  // flags 0xDF; seq 1; extended 0; breakfast 0.060 kg; preprandial; self /
  // no health issues; 3600 s at 50 %; rapid-acting insulin 4e-6 kg; HbA1c 6.5 %.
  const std::string payload = "DF 01 00 00 01 3C D0 01 51 10 0E 32 01 04 A0 41 F0";
  auto r = decode(kGlucoseMeasurementContext, hex(payload), decoderContext());
  REQUIRE(r.isOk());
  REQUIRE(r->readings.size() == 1);
  const Reading& reading = r->readings[0];
  CHECK(reading.kind == ReadingKind::kGlucoseContext);
  CHECK(reading.sequence == std::optional<std::uint32_t>(1));
  CHECK(reading.priority == Priority::kStored);
  CHECK(reading.raw.format == "gatt:2A34");
  std::vector<std::string> got;
  for (const Component& c : reading.components()) {
    std::string s = std::string(measureName(c.measure)) + "/" + c.code;
    if (!c.quantity.unit.empty()) s += "=" + text(c);
    got.push_back(s);
  }
  CHECK(got == std::vector<std::string>{"carbohydrate/breakfast=60 g <- 0.060 kg", "meal/preprandial",
                                        "tester/self", "health/no-health-issues", "exercise-duration/=3600 s",
                                        "exercise-intensity/=50 %", "medication/rapid-acting-insulin=4 mg <- 0.000004 kg",
                                        "hba1c/=6.5 %"});
}

TEST_CASE("Glucose context medication in litres converts to mL", "[unit][glucose]") {
  Reading reading = one(kGlucoseMeasurementContext, "30 02 00 04 0A D0");
  CHECK(text(reading.components().at(0)) == "10 mL <- 0.010 L");
  CHECK(reading.components()[0].code == "long-acting-insulin");
}

TEST_CASE("Glucose context minimal and unusual values", "[unit][glucose]") {
  auto empty = decode(kGlucoseMeasurementContext, hex("00 01 00"), decoderContext());
  REQUIRE(empty.isOk());
  CHECK(empty->readings.empty());
  Reading overrun = one(kGlucoseMeasurementContext, "08 01 00 FF FF 64");
  CHECK(overrun.components()[0].quantity.special == SpecialValue::kPositiveInfinity);
  CHECK(overrun.components()[1].quantity.value.toString() == "100");
  Reading meal = one(kGlucoseMeasurementContext, "02 01 00 05");
  CHECK(meal.components()[0].code == "bedtime");
  Reading tester = one(kGlucoseMeasurementContext, "04 01 00 FF");
  CHECK(tester.components()[0].code == "not-available");
  CHECK(tester.components()[1].code == "not-available");
  Reading hba1c = one(kGlucoseMeasurementContext, "40 01 00 FF 07");
  CHECK(hba1c.components()[0].quantity.special == SpecialValue::kNaN);
}

TEST_CASE("Glucose feature bits are listed", "[unit][glucose]") {
  auto r = decode(kGlucoseFeature, hex("FF 07"), decoderContext());
  REQUIRE(r.isOk());
  CHECK(r->readings.empty());
  CHECK(fieldValue(*r, "features") == "0x07FF");
  CHECK(fieldValue(*r, "multiple-bond") == "yes");
  auto none = decode(kGlucoseFeature, hex("00 00"), decoderContext());
  REQUIRE(none.isOk());
  CHECK(fieldValue(*none, "low-battery-detection") == "no");
}

TEST_CASE("Malformed glucose values are typed errors naming the problem", "[unit][glucose]") {
  const std::string m = "Glucose Measurement (0x2A18): ";
  requireMalformed(decode, kGlucoseMeasurement, "", m + "empty value");
  requireMalformed(decode, kGlucoseMeasurement, "20 01 00 E8 07 05 06 08 09 0A", m + "reserved flag bits set");
  requireMalformed(decode, kGlucoseMeasurement, "00 01", m + "too short for the sequence number");
  requireMalformed(decode, kGlucoseMeasurement, "00 01 00 E8 07 05 06", m + "too short for the base time");
  requireMalformed(decode, kGlucoseMeasurement, "00 01 00 E8 07 02 1E 08 09 0A",
                   m + "impossible date or time in the base time");
  requireMalformed(decode, kGlucoseMeasurement, "01 01 00 E8 07 05 06 08 09 0A C4",
                   m + "too short for the time offset");
  requireMalformed(decode, kGlucoseMeasurement, "02 01 00 E8 07 05 06 08 09 0A 5F B0",
                   m + "too short for the concentration and type");
  requireMalformed(decode, kGlucoseMeasurement, "02 01 00 E8 07 05 06 08 09 0A 5F B0 10", m + "reserved sample type");
  requireMalformed(decode, kGlucoseMeasurement, "02 01 00 E8 07 05 06 08 09 0A 5F B0 1B", m + "reserved sample type");
  requireMalformed(decode, kGlucoseMeasurement, "02 01 00 E8 07 05 06 08 09 0A 5F B0 51",
                   m + "reserved sample location");
  requireMalformed(decode, kGlucoseMeasurement, "08 01 00 E8 07 05 06 08 09 0A 21",
                   m + "too short for the sensor status annunciation");
  requireMalformed(decode, kGlucoseMeasurement, "0A 01 00 E8 07 05 06 08 09 0A 5F B0 11 60 00",
                   m + "sensor status says both higher and lower than the device can process");
  requireMalformed(decode, kGlucoseMeasurement, "00 01 00 E8 07 05 06 08 09 0A 00", m + "unexpected trailing bytes");

  const std::string c = "Glucose Measurement Context (0x2A34): ";
  requireMalformed(decode, kGlucoseMeasurementContext, "", c + "empty value");
  requireMalformed(decode, kGlucoseMeasurementContext, "00 01", c + "too short for the sequence number");
  requireMalformed(decode, kGlucoseMeasurementContext, "80 01 00", c + "too short for the extended flags");
  requireMalformed(decode, kGlucoseMeasurementContext, "01 01 00 01 3C", c + "too short for the carbohydrate");
  requireMalformed(decode, kGlucoseMeasurementContext, "01 01 00 08 3C D0", c + "reserved carbohydrate id");
  requireMalformed(decode, kGlucoseMeasurementContext, "01 01 00 00 3C D0", c + "reserved carbohydrate id");
  requireMalformed(decode, kGlucoseMeasurementContext, "02 01 00", c + "too short for the meal");
  requireMalformed(decode, kGlucoseMeasurementContext, "02 01 00 06", c + "reserved meal value");
  requireMalformed(decode, kGlucoseMeasurementContext, "04 01 00", c + "too short for the tester and health");
  requireMalformed(decode, kGlucoseMeasurementContext, "04 01 00 54", c + "reserved tester value");
  requireMalformed(decode, kGlucoseMeasurementContext, "04 01 00 61", c + "reserved health value");
  requireMalformed(decode, kGlucoseMeasurementContext, "08 01 00 10 0E", c + "too short for the exercise");
  requireMalformed(decode, kGlucoseMeasurementContext, "08 01 00 10 0E 65", c + "exercise intensity above 100 percent");
  requireMalformed(decode, kGlucoseMeasurementContext, "10 01 00 01 04", c + "too short for the medication");
  requireMalformed(decode, kGlucoseMeasurementContext, "10 01 00 06 04 A0", c + "reserved medication id");
  requireMalformed(decode, kGlucoseMeasurementContext, "20 01 00",
                   c + "medication unit flag set without a medication");
  requireMalformed(decode, kGlucoseMeasurementContext, "40 01 00 41", c + "too short for the HbA1c");
  requireMalformed(decode, kGlucoseMeasurementContext, "02 01 00 01 00", c + "unexpected trailing bytes");

  requireMalformed(decode, kGlucoseFeature, "01", "Glucose Feature (0x2A51): too short for the feature bits");
  requireMalformed(decode, kGlucoseFeature, "01 00 00", "Glucose Feature (0x2A51): unexpected trailing bytes");
}

// Cross-check: the literal bytes of NordicSemiconductor/Android-BLE-Common-Library
// GlucoseMeasurementDataCallbackTest (its concentration, 30 kg/L, is
// physiologically absurd but exact). Nordic expects seq 1, minute 5 of the
// user-facing time (base 11:10:30 + offset -5 min), status 261, context follows.
TEST_CASE("Nordic's glucose measurement vector decodes; its invalid vector is refused", "[unit][glucose]") {
  auto r = decode(kGlucoseMeasurement, hex("1B 01 00 E3 07 02 1B 0B 0A 1E FB FF 1E 00 12 05 01"), decoderContext());
  REQUIRE(r.isOk());
  const Reading& reading = r->readings.at(0);
  CHECK(reading.sequence == std::optional<std::uint32_t>(1));
  CHECK(reading.deviceTime->toString() == "2019-02-27T11:10:30");
  CHECK(formatDateTime(reading.effectiveStart, 60) == "2019-02-27T11:05:30+01:00");
  CHECK(text(reading.components()[0]) == "3000000 mg/dL <- 30 kg/L");
  CHECK(reading.components()[0].code == "capillary-plasma");
  CHECK(reading.components()[1].code == "finger");
  CHECK(reading.status.at(0).bits == 261);
  CHECK(fieldValue(*r, "context-follows") == "yes");
  auto invalid = decode(kGlucoseMeasurement, hex("1B 00 00 E2 07 04 1A 0B 09 1E 1E 00 12 05 01"), decoderContext());
  REQUIRE_FALSE(invalid.isOk());
  CHECK(invalid.status().kind() == ErrorKind::kMalformedPayload);
}

TEST_CASE("A glucose record with an unknown base time keeps it unknown and uses the receive time", "[unit][glucose]") {
  Reading reading = one(kGlucoseMeasurement, "03 07 00 00 00 00 00 00 00 00 0A 00 5F B0 11");
  REQUIRE(reading.deviceTime);
  CHECK_FALSE(reading.deviceTime->isKnown());
  CHECK(reading.deviceTimeOffsetMinutes == std::optional<int>(10));
  CHECK(reading.effectiveStart == decoderContext().receivedAt);
  CHECK(reading.priority == Priority::kStored);
}
