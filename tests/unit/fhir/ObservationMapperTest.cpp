#include <catch2/catch.hpp>

#include "fhir/MappingTable.h"
#include "FhirTestSupport.h"

using namespace rpm;
using namespace rpm::fhir;
using namespace rpm::fhir::test;

namespace {

const std::string kPhdId = R"({"system":"http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBaseObservation","value":")";
const std::string kGateway =
    R"("extension":[{"url":"http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice","valueReference":{"reference":"Device/hub-1"}}])";
const std::string kVitalAndPhd =
    R"("category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]},{"coding":[{"system":"http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories","code":"phd"}]}])";
const std::string kPhdOnly =
    R"("category":[{"coding":[{"system":"http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories","code":"phd"}]}])";

MappedReading mapOk(const Reading& r, const MappingContext& ctx, const Reading* related = nullptr) {
  auto m = mapReading(r, ctx, related);
  INFO(m.status().toString());
  REQUIRE(m.isOk());
  return *m;
}

Reading bloodPressure(const char* sys = "121", const char* dia = "79", const char* map = "93", const char* unit = "mm[Hg]") {
  return reading(ReadingKind::kBloodPressure,
                 {comp(Measure::kSystolic, sys, unit), comp(Measure::kDiastolic, dia, unit),
                  comp(Measure::kMeanArterialPressure, map, unit), comp(Measure::kPulseRate, "68", "/min")});
}

}  // namespace

TEST_CASE("a blood pressure reading is one 85354-9 panel and a separate 8867-4 pulse, byte for byte", "[unit][fhir]") {
  Context c;
  auto m = mapOk(bloodPressure(), c.ctx);
  auto out = dumped(m);
  REQUIRE(out.size() == 2);
  const std::string panel =
      R"({"resourceType":"Observation","meta":{"profile":["http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCompoundNumericObservation","http://hl7.org/fhir/StructureDefinition/bp"]},)" +
      kGateway + R"(,"identifier":[)" + kPhdId + R"(B0495F001071-123-150020-768298150"}],"status":"final",)" + kVitalAndPhd +
      R"(,"code":{"coding":[{"system":"urn:iso:std:iso:11073:10101","code":"150020","display":"MDC_PRESS_BLD_NONINV"},{"system":"http://loinc.org","code":"85354-9"}]},)"
      R"("subject":{"reference":"Patient/123"},"effectiveDateTime":"2024-05-06T08:09:10+02:00","device":{"reference":"Device/phd-1"},)"
      R"("component":[)"
      R"({"code":{"coding":[{"system":"urn:iso:std:iso:11073:10101","code":"150021","display":"MDC_PRESS_BLD_NONINV_SYS"},{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":121,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},)"
      R"({"code":{"coding":[{"system":"urn:iso:std:iso:11073:10101","code":"150022","display":"MDC_PRESS_BLD_NONINV_DIA"},{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":79,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},)"
      R"({"code":{"coding":[{"system":"urn:iso:std:iso:11073:10101","code":"150023","display":"MDC_PRESS_BLD_NONINV_MEAN"},{"system":"http://loinc.org","code":"8478-0"}]},"valueQuantity":{"value":93,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]})";
  CHECK(out[0] == panel);
  const std::string pulse =
      R"({"resourceType":"Observation","meta":{"profile":["http://hl7.org/fhir/uv/phd/StructureDefinition/PhdNumericObservation","http://hl7.org/fhir/StructureDefinition/heartrate"]},)" +
      kGateway + R"(,"identifier":[)" + kPhdId + R"(B0495F001071-123-149546-768298150"}],"status":"final",)" + kVitalAndPhd +
      R"(,"code":{"coding":[{"system":"urn:iso:std:iso:11073:10101","code":"149546","display":"MDC_PULS_RATE_NON_INV"},{"system":"http://loinc.org","code":"8867-4"}]},)"
      R"("subject":{"reference":"Patient/123"},"effectiveDateTime":"2024-05-06T08:09:10+02:00",)"
      R"("valueQuantity":{"value":68,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"},"device":{"reference":"Device/phd-1"}})";
  CHECK(out[1] == pulse);
  CHECK(m.observations[0].ifNoneExist() ==
        "identifier=http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBaseObservation|B0495F001071-123-150020-768298150");
}

TEST_CASE("ifNoneExist percent-encodes a '+' zone suffix so the server's search finds the identifier", "[unit][fhir]") {
  // A '+' left raw in the query is a space to the server: conditional create then never matches and every
  // re-send is a duplicate Observation (the daemon e2e SIGKILL tests caught it).
  MappedResource r;
  r.identifierValue = "B0495F001071-123-150020-768298150+8";
  CHECK(r.ifNoneExist() ==
        "identifier=http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBaseObservation|B0495F001071-123-150020-768298150%2B8");
}

TEST_CASE("kPa blood pressure is converted to mm[Hg] keeping the device's decimals", "[unit][fhir]") {
  Context c;
  auto out = dumped(mapOk(bloodPressure("16.0", "10.5", "12.3", "kPa"), c.ctx));
  // 16.0 kPa x 10000000/1333220 = 120.010 -> 120.0; 10.5 -> 78.757 -> 78.8; 12.3 -> 92.258 -> 92.3 (decision 0003)
  CHECK(contains(out[0], R"("value":120.0,"unit":"mmHg")"));
  CHECK(contains(out[0], R"("value":78.8,"unit":"mmHg")"));
  CHECK(contains(out[0], R"("value":92.3,"unit":"mmHg")"));
  CHECK_FALSE(contains(out[0], "kPa"));
}

TEST_CASE("a NaN mean arterial pressure becomes a component with dataAbsentReason", "[unit][fhir]") {
  Context c;
  Reading r = bloodPressure();
  std::get<std::vector<Component>>(r.value)[2].quantity.special = SpecialValue::kNaN;
  auto out = dumped(mapOk(r, c.ctx));
  CHECK(contains(out[0],
                 R"("code":"8478-0"}]},"dataAbsentReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"not-a-number"}]}})"));
}

TEST_CASE("blood pressure status flags become a BITs observation derived from the panel", "[unit][fhir]") {
  Context c;
  Reading r = bloodPressure();
  r.status.push_back({"bp-measurement-status", 0x02 | (1u << 3) | 0x04});  // cuff loose, irregular, pulse over range
  auto m = mapOk(r, c.ctx);
  auto out = dumped(m);
  REQUIRE(out.size() == 3);
  CHECK(contains(out[2], R"("profile":["http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBitsEnumerationObservation"])"));
  CHECK(contains(out[2], R"("code":"8410608.1")"));
  CHECK(contains(out[2], R"("code":"8410608.2")"));
  CHECK(contains(out[2], R"("code":"8410608.3")"));
  CHECK_FALSE(contains(out[2], R"("code":"8410608.4")"));
  CHECK(contains(out[2], R"({"system":"http://terminology.hl7.org/CodeSystem/v2-0136","code":"Y"})"));
  CHECK(contains(out[2], R"("derivedFrom":[{"identifier":)" + kPhdId + R"(B0495F001071-123-150020-768298150"}}])"));
  CHECK(contains(out[2], kPhdOnly));
}

TEST_CASE("an aggregated heart rate window has a period, mean value and min/max components", "[unit][fhir]") {
  Context c;
  Reading r = reading(ReadingKind::kHeartRate, {comp(Measure::kHeartRate, "72.5", "/min"),
                                                 comp(Measure::kHeartRateMin, "70", "/min"),
                                                 comp(Measure::kHeartRateMax, "76", "/min")});
  r.deviceTime.reset();
  r.effectiveStart = UtcInstant(std::chrono::seconds(1714975740));  // 2024-05-06T06:09:00Z
  r.effectiveEnd = r.effectiveStart + std::chrono::seconds(60);
  auto m = mapOk(r, c.ctx);
  auto out = dumped(m);
  REQUIRE(out.size() == 1);
  CHECK(contains(out[0], R"("effectivePeriod":{"start":"2024-05-06T08:09:00+02:00","end":"2024-05-06T08:10:00+02:00"})"));
  CHECK(contains(out[0], R"("code":"147842","display":"MDC_ECG_HEART_RATE"},{"system":"http://loinc.org","code":"8867-4"})"));
  CHECK(contains(out[0], R"("valueQuantity":{"value":72.5,)"));
  CHECK(contains(out[0], R"({"code":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-statistics","code":"minimum"}]},"valueQuantity":{"value":70,)"));
  CHECK(contains(out[0], R"("code":"maximum"}]},"valueQuantity":{"value":76,)"));
  // Identifier: hub wall clock start and the duration (PHD IG "..duration").
  CHECK(m.observations[0].identifierValue == "B0495F001071-123-147842-768298140..60");
}

TEST_CASE("an RR window is one observation with one ms component per interval", "[unit][fhir]") {
  Context c;
  Reading r = reading(ReadingKind::kRrIntervals, {comp(Measure::kRrInterval, "800", "ms"),
                                                   comp(Measure::kRrInterval, "812", "ms"),
                                                   comp(Measure::kRrInterval, "1000", "ms")});
  r.deviceTime.reset();
  r.effectiveEnd = r.effectiveStart + std::chrono::seconds(60);
  auto out = dumped(mapOk(r, c.ctx));
  REQUIRE(out.size() == 1);
  CHECK(contains(out[0], "PhdCompoundNumericObservation"));
  CHECK(contains(out[0], kPhdOnly));
  CHECK(contains(out[0], R"("code":"147240","display":"MDC_ECG_TIME_PD_RR_GL"}]},"valueQuantity":{"value":812,"unit":"ms")"));
  CHECK(contains(out[0], R"("effectivePeriod":{"start":"2024-05-06T08:09:10+02:00","end":"2024-05-06T08:10:10+02:00"},"device":{"reference":"Device/phd-1"},"component":[)"));
}

TEST_CASE("a PLX spot check gives SpO2 (2708-6, 59408-5) and pulse (149530) with the spot modality", "[unit][fhir]") {
  Context c;
  Reading r = reading(ReadingKind::kPulseOximetry,
                      {comp(Measure::kSpo2, "97", "%", "spot"), comp(Measure::kPulseRate, "64", "/min"),
                       comp(Measure::kPerfusionIndex, "2.5", "%")});
  auto m = mapOk(r, c.ctx);
  auto out = dumped(m);
  REQUIRE(out.size() == 3);
  CHECK(contains(out[0], R"({"system":"http://loinc.org","code":"2708-6"},{"system":"http://loinc.org","code":"59408-5"})"));
  CHECK(contains(out[0], "http://hl7.org/fhir/StructureDefinition/oxygensat"));
  CHECK(contains(out[0], R"("component":[{"code":{"coding":[{"system":"urn:iso:std:iso:11073:10101","code":"68193","display":"MDC_ATTR_SUPPLEMENTAL_TYPES"}]},"valueCodeableConcept":{"coding":[{"system":"urn:iso:std:iso:11073:10101","code":"150588"}]}}])"));
  CHECK(m.observations[0].identifierValue == "B0495F001071-123-150456-768298150-150588");
  CHECK(contains(out[1], R"("code":"149530","display":"MDC_PULS_OXIM_PULS_RATE")"));
  CHECK(contains(out[2], R"("code":"150448")"));
  CHECK(contains(out[2], R"("value":2.5,"unit":"%")"));
  CHECK_FALSE(contains(out[2], "vital-signs"));
}

TEST_CASE("PLX measurement status maps to interpretation, preliminary status or no upload", "[unit][fhir]") {
  Context c;
  Reading r = reading(ReadingKind::kPulseOximetry, {comp(Measure::kSpo2, "97", "%"), comp(Measure::kPulseRate, "64", "/min")});
  r.status.push_back({"plx-measurement-status", (1u << 14) | (1u << 6)});
  auto out = dumped(mapOk(r, c.ctx));
  CHECK(contains(out[0], R"("status":"preliminary")"));
  CHECK(contains(out[0], R"("interpretation":[{"coding":[{"system":"http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status","code":"questionable"}]},{"coding":[{"system":"http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status","code":"early-indication"}]}])"));

  r.status = {{"plx-measurement-status", 1u << 13}};
  out = dumped(mapOk(r, c.ctx));
  CHECK(contains(out[0], R"("dataAbsentReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"not-performed"}]})"));
  CHECK_FALSE(contains(out[0], "valueQuantity"));

  for (std::uint32_t bit : {15u, 10u, 11u}) {
    r.status = {{"plx-measurement-status", 1u << bit}};
    auto m = mapOk(r, c.ctx);
    CHECK(m.observations.empty());
    CHECK_FALSE(m.note.empty());
  }
}

TEST_CASE("PLX device and sensor status flags map to MDC_PULS_OXIM_DEV_STATUS bits", "[unit][fhir]") {
  Context c;
  Reading r = reading(ReadingKind::kPulseOximetry, {comp(Measure::kSpo2, "97", "%")});
  r.status.push_back({"plx-device-sensor-status", (1u << 15) | (1u << 5)});  // sensor disconnected, low perfusion
  auto out = dumped(mapOk(r, c.ctx));
  REQUIRE(out.size() == 2);
  CHECK(contains(out[1], R"("code":"150604.0")"));
  CHECK(contains(out[1], R"("code":"150604.10")"));
}

TEST_CASE("glucose LOINC follows sample type and unit; precision and comparator are kept", "[unit][fhir]") {
  Context c;
  Reading mass = reading(ReadingKind::kGlucose, {comp(Measure::kGlucoseConcentration, "95", "mg/dL", "capillary-whole-blood")});
  mass.sequence = 7;
  auto out = dumped(mapOk(mass, c.ctx));
  REQUIRE(out.size() == 1);
  CHECK(contains(out[0], R"("code":"160184","display":"MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD"},{"system":"http://loinc.org","code":"41653-7"})"));
  CHECK_FALSE(contains(out[0], "vital-signs"));

  Reading molar = reading(ReadingKind::kGlucose, {comp(Measure::kGlucoseConcentration, "6.20", "mmol/L", "venous-plasma")});
  out = dumped(mapOk(molar, c.ctx));
  CHECK(contains(out[0], R"({"system":"http://loinc.org","code":"14749-6"})"));
  CHECK(contains(out[0], R"("value":6.20,"unit":"mmol/L")"));

  Reading wire = reading(ReadingKind::kGlucose, {comp(Measure::kGlucoseConcentration, "0.00095", "kg/L", "capillary-plasma")});
  out = dumped(mapOk(wire, c.ctx));
  CHECK(contains(out[0], R"("value":95,"unit":"mg/dL")"));

  Reading low = reading(ReadingKind::kGlucose, {comp(Measure::kGlucoseConcentration, "20", "mg/dL", "capillary-whole-blood")});
  std::get<std::vector<Component>>(low.value)[0].comparator = Comparator::kLess;
  out = dumped(mapOk(low, c.ctx));
  CHECK(contains(out[0], R"("valueQuantity":{"value":20,"comparator":"<","unit":"mg/dL")"));
}

TEST_CASE("control solution results are never uploaded", "[unit][fhir]") {
  Context c;
  Reading byType = reading(ReadingKind::kGlucose, {comp(Measure::kGlucoseConcentration, "95", "mg/dL", "control-solution")});
  auto m = mapOk(byType, c.ctx);
  CHECK(m.observations.empty());
  CHECK(contains(m.note, "control solution"));
  Reading byLocation = reading(ReadingKind::kGlucose, {comp(Measure::kGlucoseConcentration, "95", "mg/dL", "capillary-whole-blood")});
  std::get<std::vector<Component>>(byLocation.value).push_back(comp(Measure::kSampleLocation, "0", "1", "control-solution"));
  CHECK(mapOk(byLocation, c.ctx).observations.empty());
  Reading context = reading(ReadingKind::kGlucoseContext, {});
  context.value = std::vector<Component>{comp(Measure::kMeal, "0", "1", "preprandial")};
  CHECK(mapOk(context, c.ctx, &byType).observations.empty());
}

TEST_CASE("glucose sensor status and sample location become linked observations", "[unit][fhir]") {
  Context c;
  Reading r = reading(ReadingKind::kGlucose, {comp(Measure::kGlucoseConcentration, "95", "mg/dL", "capillary-whole-blood")});
  r.status.push_back({"glucose-sensor-status", (1u << 0) | (1u << 5) | (1u << 11)});
  std::get<std::vector<Component>>(r.value).push_back(comp(Measure::kSampleLocation, "0", "1", "finger"));
  auto out = dumped(mapOk(r, c.ctx));
  REQUIRE(out.size() == 3);
  CHECK(contains(out[0], R"("valueQuantity":{"value":95,"comparator":">","unit":"mg/dL")"));
  CHECK(contains(out[1], R"("code":"8417752.0")"));
  CHECK(contains(out[1], R"("code":"8417752.5")"));
  CHECK_FALSE(contains(out[1], R"("code":"8417752.11")"));
  CHECK(contains(out[2], R"("code":"8417844","display":"MDC_CTXT_GLU_SAMPLELOCATION")"));
  CHECK(contains(out[2], R"("valueCodeableConcept":{"coding":[{"system":"urn:iso:std:iso:11073:10101","code":"8417848"}],"text":"finger"})"));
  CHECK(contains(out[2], "B0495F001071-123-160184-768298150"));
}

TEST_CASE("glucose context becomes coded and numeric observations derived from the glucose result", "[unit][fhir]") {
  Context c;
  Reading g = reading(ReadingKind::kGlucose, {comp(Measure::kGlucoseConcentration, "95", "mg/dL", "capillary-whole-blood")});
  g.sequence = 7;
  g.deviceTimeOffsetMinutes = 60;
  Reading ctx = reading(ReadingKind::kGlucoseContext,
                        {comp(Measure::kCarbohydrate, "0.060", "kg", "lunch"), comp(Measure::kHbA1c, "6.5", "%"),
                         comp(Measure::kExerciseDuration, "1800", "s"), comp(Measure::kExerciseIntensity, "40", "%"),
                         comp(Measure::kMedication, "0.000005", "kg", "rapid-acting-insulin")});
  ctx.deviceTime.reset();  // context records carry no time of their own
  {
    auto& comps = std::get<std::vector<Component>>(ctx.value);
    comps.push_back(comp(Measure::kMeal, "0", "1", "postprandial"));
    comps.push_back(comp(Measure::kTester, "0", "1", "self"));
    comps.push_back(comp(Measure::kHealth, "0", "1", "no-health-issues"));
  }
  auto m = mapOk(ctx, c.ctx, &g);
  auto out = dumped(m);
  REQUIRE(out.size() == 7);
  CHECK(contains(out[0], R"("code":"8417864","display":"MDC_CTXT_GLU_MEAL")"));
  CHECK(contains(out[0], R"("code":"8417872"}],"text":"postprandial")"));
  CHECK(contains(out[0], "PhdCodedEnumerationObservation"));
  // The context shares the glucose result's time: base time + offset.
  CHECK(contains(out[0], R"("effectiveDateTime":"2024-05-06T09:09:10+02:00")"));
  CHECK(contains(out[0], R"("derivedFrom":[{"identifier":)" + kPhdId + R"(B0495F001071-123-160184-768298150"}}])"));
  CHECK(contains(out[1], R"("code":"8417888")"));
  CHECK(contains(out[2], R"("code":"8417840")"));
  CHECK(contains(out[3], R"("value":60,"unit":"g")"));
  CHECK(contains(out[3], R"("code":"8417772"}],"text":"lunch")"));
  CHECK(contains(out[4], R"("value":5,"unit":"mg")"));
  CHECK(contains(out[5], R"("value":1800,"unit":"s")"));
  CHECK(contains(out[5], R"("text":"exercise intensity"},"valueQuantity":{"value":40,"unit":"%")"));
  CHECK(contains(out[6], R"("code":"160220","display":"MDC_CONC_HBA1C"},{"system":"http://loinc.org","code":"4548-4"})"));
  CHECK(m.observations[0].identifierValue == "B0495F001071-123-8417864-768298150");
}

TEST_CASE("a glucose context without its glucose reading is an error", "[unit][fhir]") {
  Context c;
  Reading ctx = reading(ReadingKind::kGlucoseContext, {});
  CHECK(mapReading(ctx, c.ctx).status().kind() == ErrorKind::kInvalidArgument);
}

TEST_CASE("body temperature always carries 8310-5 plus the site's codes and exact decimals", "[unit][fhir]") {
  Context c;
  auto out = dumped(mapOk(reading(ReadingKind::kBodyTemperature, {comp(Measure::kBodyTemperature, "37.60", "Cel", "mouth")}), c.ctx));
  REQUIRE(out.size() == 1);
  CHECK(contains(out[0], R"("code":{"coding":[{"system":"urn:iso:std:iso:11073:10101","code":"188424","display":"MDC_TEMP_ORAL"},{"system":"http://loinc.org","code":"8310-5"},{"system":"http://loinc.org","code":"8331-1"}]})"));
  CHECK(contains(out[0], R"("valueQuantity":{"value":37.60,"unit":"C","system":"http://unitsofmeasure.org","code":"Cel"})"));
  CHECK(contains(out[0], "http://hl7.org/fhir/StructureDefinition/bodytemp"));
  out = dumped(mapOk(reading(ReadingKind::kBodyTemperature, {comp(Measure::kBodyTemperature, "98.6", "[degF]")}), c.ctx));
  CHECK(contains(out[0], R"("code":"150364","display":"MDC_TEMP_BODY"},{"system":"http://loinc.org","code":"8310-5"}]})"));
  CHECK(contains(out[0], R"("value":98.6,"unit":"F","system":"http://unitsofmeasure.org","code":"[degF]")"));
}

TEST_CASE("a weight reading gives weight and BMI; the scale's height stays home", "[unit][fhir]") {
  Context c;
  auto m = mapOk(reading(ReadingKind::kBodyWeight, {comp(Measure::kBodyWeight, "72.50", "kg"), comp(Measure::kBmi, "23.7", "kg/m2"),
                                                     comp(Measure::kBodyHeight, "1.750", "m")}),
                 c.ctx);
  auto out = dumped(m);
  REQUIRE(out.size() == 2);
  CHECK(contains(out[0], R"("code":"188736","display":"MDC_MASS_BODY_ACTUAL"},{"system":"http://loinc.org","code":"29463-7"})"));
  CHECK(contains(out[0], R"("value":72.50,"unit":"kg")"));
  CHECK(contains(out[1], R"("code":"39156-5")"));
  CHECK(contains(out[1], "http://hl7.org/fhir/StructureDefinition/bmi"));
  CHECK(contains(m.note, "height"));
  auto lb = dumped(mapOk(reading(ReadingKind::kBodyWeight, {comp(Measure::kBodyWeight, "160.00", "[lb_av]")}), c.ctx));
  CHECK(contains(lb[0], R"("value":160.00,"unit":"lb","system":"http://unitsofmeasure.org","code":"[lb_av]")"));
}

TEST_CASE("a measured height in metres is sent in centimetres exactly", "[unit][fhir]") {
  Context c;
  auto out = dumped(mapOk(reading(ReadingKind::kBodyHeight, {comp(Measure::kBodyHeight, "1.750", "m")}), c.ctx));
  CHECK(contains(out[0], R"("code":"8302-2")"));
  CHECK(contains(out[0], R"("value":175.0,"unit":"cm")"));
}

TEST_CASE("a CGM record maps to interstitial glucose with its status bits", "[unit][fhir]") {
  Context c;
  Reading r = reading(ReadingKind::kCgmGlucose, {comp(Measure::kGlucoseConcentration, "112", "mg/dL")});
  r.sequence = 30;
  r.deviceTime = LocalDateTime{2024, 5, 6, 6, 0, 0, 0};  // session start
  r.deviceTimeOffsetMinutes = 129;
  r.status.push_back({"cgm-sensor-status", (1u << 3) | (1u << 16)});  // malfunction, below patient low
  auto out = dumped(mapOk(r, c.ctx));
  REQUIRE(out.size() == 2);
  CHECK(contains(out[0], R"("code":"160212","display":"MDC_CONC_GLU_ISF"},{"system":"http://loinc.org","code":"99504-3"})"));
  CHECK(contains(out[0], R"("effectiveDateTime":"2024-05-06T08:09:00+02:00")"));
  CHECK(contains(out[1], R"("code":"8418060.3")"));
  CHECK(contains(out[1], R"("code":"8418060.12")"));
}

TEST_CASE("an ECG chunk is valueSampledData with its exact period and a period of effect", "[unit][fhir]") {
  Context c;
  Reading r = reading(ReadingKind::kEcg, {});
  SampledSeries s;
  s.mdcLead = 131329;
  s.origin = qty("0", "uV");
  s.periodMs = *Decimal::parse("7.6923");
  s.factor = *Decimal::parse("1.0");
  s.samples = {12, -40, 310, 5};
  r.value = s;
  auto m = mapOk(r, c.ctx);
  auto out = dumped(m);
  REQUIRE(out.size() == 1);
  CHECK(contains(out[0], "PhdRtsaObservation"));
  CHECK(contains(out[0], R"("valueSampledData":{"origin":{"value":0,"unit":"uV","system":"http://unitsofmeasure.org","code":"uV"},"period":7.6923,"factor":1.0,"dimensions":1,"data":"12 -40 310 5"})"));
  // 4 x 7.6923 ms = 30.7692 ms -> 30769 us
  CHECK(contains(out[0], R"("effectivePeriod":{"start":"2024-05-06T08:09:10+02:00","end":"2024-05-06T08:09:10.030+02:00"})"));
  CHECK(contains(out[0], R"("code":"131329")"));
}

TEST_CASE("device time is corrected by the measured skew only when the hub clock is synchronized", "[unit][fhir]") {
  Context c;
  Reading r = reading(ReadingKind::kBodyTemperature, {comp(Measure::kBodyTemperature, "37.0", "Cel")});
  r.clockSkewMs = 90000;  // device clock 90 s behind the hub
  SECTION("synchronized: shifted, with a coincident time stamp referenced from the measurement") {
    auto m = mapOk(r, c.ctx);
    auto out = dumped(m);
    REQUIRE(out.size() == 2);
    CHECK(contains(out[0], "PhdCoincidentTimeStampObservation"));
    CHECK(contains(out[0], R"("code":"67975","display":"MDC_ATTR_TIME_ABS")"));
    CHECK(contains(out[0], R"("subject":{"reference":"Device/phd-1"})"));
    // received 08:09:15 hub time; the device's clock then read 08:07:45.
    CHECK(contains(out[0], R"("effectiveDateTime":"2024-05-06T08:09:15+02:00","valueDateTime":"2024-05-06T08:07:45+02:00")"));
    CHECK(contains(out[1], R"("effectiveDateTime":"2024-05-06T08:10:40+02:00")"));
    CHECK(contains(out[1], R"({"url":"http://hl7.org/fhir/uv/phd/StructureDefinition/CoincidentTimeStampReference","valueReference":{"identifier":)" +
                               kPhdId + m.observations[0].identifierValue + "\"}}}"));
    // The identifier keeps the device-reported time (PHD IG).
    CHECK(m.observations[1].identifierValue == "B0495F001071-123-150364-768298150");
  }
  SECTION("not synchronized: the device time as reported, no coincident time stamp") {
    c.ctx.hubClockSynchronized = false;
    auto out = dumped(mapOk(r, c.ctx));
    REQUIRE(out.size() == 1);
    CHECK(contains(out[0], R"("effectiveDateTime":"2024-05-06T08:09:10+02:00")"));
    CHECK_FALSE(contains(out[0], "CoincidentTimeStampReference"));
  }
}

TEST_CASE("stored data with an unknown device time is an error, never a guessed time", "[unit][fhir]") {
  Context c;
  Reading r = reading(ReadingKind::kBodyTemperature, {comp(Measure::kBodyTemperature, "37.0", "Cel")});
  r.deviceTime = LocalDateTime{0, 0, 0, 8, 9, 10, 0};
  r.priority = Priority::kStored;
  auto m = mapReading(r, c.ctx);
  REQUIRE_FALSE(m.isOk());
  CHECK(m.status().kind() == ErrorKind::kUnsupported);
  r.priority = Priority::kLive;  // live data: the time of reception
  auto out = dumped(mapOk(r, c.ctx));
  CHECK(contains(out[0], R"("effectiveDateTime":"2024-05-06T08:09:10+02:00")"));
}

TEST_CASE("the offset is the hub zone's offset at the instant of measurement", "[unit][fhir]") {
  struct Berlin final : TimeZoneRules {  // +01:00 before 2024-03-31T01:00Z, +02:00 after
    std::string n = "test";
    const std::string& name() const override { return n; }
    int offsetMinutesAt(UtcInstant t) const override {
      return t < UtcInstant(std::chrono::seconds(1711846800)) ? 60 : 120;
    }
    UtcInstant toUtc(const LocalDateTime& l) const override {
      UtcInstant winter = fromLocal(l, 60);
      return offsetMinutesAt(winter) == 60 ? winter : fromLocal(l, 120);
    }
  } zone;
  Context c;
  c.ctx.zone = &zone;
  Reading r = reading(ReadingKind::kBodyTemperature, {comp(Measure::kBodyTemperature, "37.0", "Cel")});
  r.deviceTime = LocalDateTime{2024, 3, 30, 12, 0, 0, 0};
  CHECK(contains(dumped(mapOk(r, c.ctx))[0], R"("effectiveDateTime":"2024-03-30T12:00:00+01:00")"));
  r.deviceTime = LocalDateTime{2024, 3, 31, 12, 0, 0, 0};
  CHECK(contains(dumped(mapOk(r, c.ctx))[0], R"("effectiveDateTime":"2024-03-31T12:00:00+02:00")"));
}

TEST_CASE("an unbound reading is not mapped", "[unit][fhir]") {
  Context c;
  Reading r = bloodPressure();
  r.subject.clear();
  CHECK(mapReading(r, c.ctx).status().kind() == ErrorKind::kNotBound);
}

TEST_CASE("a unit the profile does not allow is a typed error naming the measure", "[unit][fhir]") {
  Context c;
  auto m = mapReading(reading(ReadingKind::kBodyWeight, {comp(Measure::kBodyWeight, "72", "stone")}), c.ctx);
  REQUIRE_FALSE(m.isOk());
  CHECK(m.status().kind() == ErrorKind::kInvalidArgument);
  CHECK(contains(m.status().message(), "body-weight"));
}

TEST_CASE("the mapping table has an MDC code and units for every row, and a row for every uploaded measure", "[unit][fhir]") {
  for (const auto& row : mappingRows()) {
    CHECK(row.mdc != 0);
    CHECK_FALSE(row.units.empty());
    CHECK_FALSE(row.mdcDisplay.empty());
  }
  for (Measure m : {Measure::kSystolic, Measure::kDiastolic, Measure::kMeanArterialPressure, Measure::kPulseRate,
                    Measure::kHeartRate, Measure::kRrInterval, Measure::kSpo2, Measure::kPerfusionIndex,
                    Measure::kGlucoseConcentration, Measure::kBodyTemperature, Measure::kBodyWeight,
                    Measure::kBodyHeight, Measure::kBmi, Measure::kEcgLead, Measure::kCarbohydrate,
                    Measure::kExerciseDuration, Measure::kExerciseIntensity, Measure::kMedication, Measure::kHbA1c}) {
    CHECK(findMappingRow(m) != nullptr);
  }
  CHECK(findMappingRow(Measure::kCuffPressure) == nullptr);
  CHECK(findMappingRow(Measure::kBodyTemperature, "no-such-site")->mdc == 150364);
}

TEST_CASE("every kind of Observation carries the elements the PHD IG and R4 vital signs require", "[unit][fhir]") {
  Context c;
  std::vector<Reading> readings;
  readings.push_back(bloodPressure());
  readings.back().status.push_back({"bp-measurement-status", 1});
  readings.push_back(reading(ReadingKind::kHeartRate, {comp(Measure::kHeartRate, "70", "/min"), comp(Measure::kRrInterval, "800", "ms")}));
  readings.push_back(reading(ReadingKind::kRrIntervals, {comp(Measure::kRrInterval, "800", "ms")}));
  readings.push_back(reading(ReadingKind::kPulseOximetry, {comp(Measure::kSpo2, "97", "%", "spot"), comp(Measure::kPulseRate, "64", "/min"),
                                                          comp(Measure::kPerfusionIndex, "2.5", "%")}));
  readings.back().status.push_back({"plx-device-sensor-status", 1});
  readings.push_back(reading(ReadingKind::kGlucose, {comp(Measure::kGlucoseConcentration, "95", "mg/dL", "capillary-whole-blood")}));
  readings.back().status = {{"glucose-sensor-status", 1}};
  std::get<std::vector<Component>>(readings.back().value).push_back(comp(Measure::kSampleLocation, "0", "1", "alternate-site-test"));
  readings.push_back(reading(ReadingKind::kCgmGlucose, {comp(Measure::kGlucoseConcentration, "112", "mg/dL")}));
  readings.back().status.push_back({"cgm-sensor-status", 1});
  readings.push_back(reading(ReadingKind::kBodyTemperature, {comp(Measure::kBodyTemperature, "37.0", "Cel", "armpit")}));
  readings.back().clockSkewMs = 5000;  // adds a coincident time stamp
  readings.push_back(reading(ReadingKind::kBodyWeight, {comp(Measure::kBodyWeight, "72.5", "kg"), comp(Measure::kBmi, "23.7", "kg/m2")}));
  readings.push_back(reading(ReadingKind::kBodyHeight, {comp(Measure::kBodyHeight, "175", "cm")}));
  Reading ecg = reading(ReadingKind::kEcg, {});
  SampledSeries s;
  s.origin = qty("0", "mV");
  s.periodMs = *Decimal::parse("2");
  s.factor = *Decimal::parse("0.001");
  s.samples = {1, 2};
  ecg.value = s;
  readings.push_back(ecg);
  Reading glucose = readings[4];
  Reading context = reading(ReadingKind::kGlucoseContext, {comp(Measure::kHbA1c, "6.5", "%")});
  context.value = std::vector<Component>{comp(Measure::kMeal, "0", "1", "fasting")};

  std::vector<std::string> profiles;
  auto checkAll = [&](const MappedReading& m) {
    for (const auto& mapped : m.observations) {
      auto o = nlohmann::json::parse(dumpFhir(mapped.resource));
      INFO(o.dump());
      CHECK(o["resourceType"] == "Observation");
      CHECK(o["extension"][0]["url"] == "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice");
      CHECK(o["extension"][0]["valueReference"]["reference"] == "Device/hub-1");
      CHECK(o["identifier"][0]["system"] == "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBaseObservation");
      CHECK(o["identifier"][0]["value"] == mapped.identifierValue);
      CHECK((o["status"] == "final" || o["status"] == "preliminary"));
      CHECK(o["category"].back()["coding"][0]["code"] == "phd");
      CHECK(o["code"]["coding"][0]["system"] == "urn:iso:std:iso:11073:10101");
      CHECK(o["device"]["reference"].is_string());
      CHECK(o["subject"]["reference"].is_string());
      CHECK((o.contains("effectiveDateTime") || o.contains("effectivePeriod")));
      bool vital = o["category"].size() == 2;
      if (vital) {
        CHECK(o["category"][0]["coding"][0]["code"] == "vital-signs");
        CHECK(o["code"]["coding"][1]["system"] == "http://loinc.org");
        CHECK(o["meta"]["profile"].size() == 2);
      }
      // vs-2 / PHD: a value, a data-absent reason, or components.
      bool hasValue = false;
      for (const char* key : {"valueQuantity", "valueCodeableConcept", "valueSampledData", "valueDateTime", "dataAbsentReason", "component"}) {
        hasValue = hasValue || o.contains(key);
      }
      CHECK(hasValue);
      profiles.push_back(o["meta"]["profile"][0]);
    }
  };
  for (const auto& r : readings) checkAll(mapOk(r, c.ctx));
  checkAll(mapOk(context, c.ctx, &glucose));
  for (const char* p : {"PhdNumericObservation", "PhdCompoundNumericObservation", "PhdBitsEnumerationObservation",
                        "PhdCodedEnumerationObservation", "PhdRtsaObservation", "PhdCoincidentTimeStampObservation"}) {
    CHECK(std::count(profiles.begin(), profiles.end(), std::string(kPhdProfileBase) + p) > 0);
  }
}
