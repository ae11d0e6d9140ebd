#include "drivers/glucose/GlucoseParser.h"

#include "drivers/common/ByteReader.h"
#include "drivers/common/DecodeSupport.h"
#include "drivers/common/MedicalFloat.h"
#include "drivers/glucose/RecordAccessControlPoint.h"

namespace rpm::drivers::glucose {
namespace {

constexpr const char* kMeasurementLabel = "Glucose Measurement (0x2A18)";
constexpr const char* kContextLabel = "Glucose Measurement Context (0x2A34)";
constexpr const char* kFeatureLabel = "Glucose Feature (0x2A51)";

// Tables indexed by the wire value; nullptr = reserved.
const char* const kTypes[16] = {nullptr,
                                "capillary-whole-blood",
                                "capillary-plasma",
                                "venous-whole-blood",
                                "venous-plasma",
                                "arterial-whole-blood",
                                "arterial-plasma",
                                "undetermined-whole-blood",
                                "undetermined-plasma",
                                "interstitial-fluid",
                                "control-solution"};
const char* const kLocations[16] = {nullptr, "finger", "alternate-site-test", "earlobe", "control-solution",
                                    nullptr, nullptr,  nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                    nullptr, nullptr,  "not-available"};
const char* const kCarbohydrates[8] = {nullptr, "breakfast", "lunch", "dinner", "snack", "drink", "supper", "brunch"};
const char* const kMeals[6] = {nullptr, "preprandial", "postprandial", "fasting", "casual", "bedtime"};
const char* const kTesters[16] = {nullptr, "self", "health-care-professional", "lab-test", nullptr, nullptr,
                                  nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                  "not-available"};
const char* const kHealths[16] = {nullptr, "minor-health-issues", "major-health-issues", "during-menses",
                                  "under-stress", "no-health-issues", nullptr, nullptr, nullptr, nullptr, nullptr,
                                  nullptr, nullptr, nullptr, nullptr, "not-available"};
const char* const kMedications[6] = {nullptr, "rapid-acting-insulin", "short-acting-insulin",
                                     "intermediate-acting-insulin", "long-acting-insulin", "pre-mixed-insulin"};

const std::vector<BitName> kSensorStatusBits{
    {0, "device-battery-low"},        {1, "sensor-malfunction"},        {2, "sample-size-insufficient"},
    {3, "strip-insertion-error"},     {4, "strip-type-incorrect"},      {5, "result-higher-than-device-can-process"},
    {6, "result-lower-than-device-can-process"}, {7, "sensor-temperature-too-high"},
    {8, "sensor-temperature-too-low"}, {9, "read-interrupted"},          {10, "general-device-fault"},
    {11, "time-fault"}};

const std::vector<BitName> kFeatureBits{
    {0, "low-battery-detection"},       {1, "sensor-malfunction-detection"}, {2, "sensor-sample-size"},
    {3, "strip-insertion-error-detection"}, {4, "strip-type-error-detection"}, {5, "result-high-low-detection"},
    {6, "temperature-high-low-detection"}, {7, "read-interrupt-detection"}, {8, "general-device-fault"},
    {9, "time-fault"},                  {10, "multiple-bond"}};

// Exact unit change by an exponent shift; the device value is kept.
Component converted(Measure measure, std::uint16_t word, const char* deviceUnit, const char* unit, int shift,
                    const char* code) {
  Component c;
  c.measure = measure;
  c.original = decodeSfloat(word, deviceUnit);
  c.quantity = *c.original;
  c.quantity.unit = unit;
  if (c.quantity.special == SpecialValue::kNone) c.quantity.value = c.original->value.shifted(shift);
  c.code = code;
  return c;
}

Result<DecodedPayload> decodeMeasurement(const std::vector<std::uint8_t>& bytes, const DecodeContext& context) {
  const char* label = kMeasurementLabel;
  ByteReader r(bytes);
  std::uint8_t flags = 0;
  if (!r.u8(flags)) return malformed(label, "empty value");
  if (flags & 0xE0) return malformed(label, "reserved flag bits set");
  std::uint16_t sequence = 0;
  if (!r.u16(sequence)) return malformed(label, "too short for the sequence number");
  LocalDateTime base;
  if (auto bad = readDateTimeField(r, label, "base time", base)) return *bad;

  DecodedPayload out;
  out.fields.push_back({"sequence-number", std::to_string(sequence)});
  out.fields.push_back({"base-time", base.isKnown() ? base.toString() : std::string("unknown")});
  std::optional<int> offset;
  bool offsetUsable = false;
  if (flags & 0x01) {
    std::int16_t minutes = 0;
    if (!r.s16(minutes)) return malformed(label, "too short for the time offset");
    offset = minutes;
    // 0x7FFF overrun and 0x8000 underrun carry no usable offset.
    offsetUsable = minutes != 0x7FFF && minutes != -0x8000;
    out.fields.push_back({"time-offset", minutes == 0x7FFF   ? std::string("overrun")
                                         : minutes == -0x8000 ? std::string("underrun")
                                                              : std::to_string(minutes) + " min"});
  }
  std::vector<Component> components;
  bool controlSolution = false;
  if (flags & 0x02) {
    std::uint16_t word = 0;
    std::uint8_t typeLocation = 0;
    if (!r.u16(word) || !r.u8(typeLocation)) return malformed(label, "too short for the concentration and type");
    const char* type = kTypes[typeLocation & 0x0F];
    const char* location = kLocations[typeLocation >> 4];
    if (!type) return malformed(label, "reserved sample type");
    if (!location) return malformed(label, "reserved sample location");
    const bool molar = flags & 0x04;
    components.push_back(molar ? converted(Measure::kGlucoseConcentration, word, "mol/L", "mmol/L", 3, type)
                               : converted(Measure::kGlucoseConcentration, word, "kg/L", "mg/dL", 5, type));
    Component where;
    where.measure = Measure::kSampleLocation;
    where.code = location;
    components.push_back(where);
    controlSolution = (typeLocation & 0x0F) == 10 || (typeLocation >> 4) == 4;
    out.fields.push_back({"concentration", componentText(components[0])});
    out.fields.push_back({"type", type});
    out.fields.push_back({"sample-location", location});
  }
  std::optional<std::uint16_t> status;
  if (flags & 0x08) {
    std::uint16_t word = 0;
    if (!r.u16(word)) return malformed(label, "too short for the sensor status annunciation");
    if ((word & 0x0060) == 0x0060) return malformed(label, "sensor status says both higher and lower than the device can process");
    status = word;
    out.fields.push_back({"sensor-status", hexText(word, 4)});
    out.fields.push_back({"sensor-status-flags", setBitNames(word, kSensorStatusBits)});
    if (!components.empty()) {
      if (word & 0x0020) components[0].comparator = Comparator::kGreater;
      if (word & 0x0040) components[0].comparator = Comparator::kLess;
    }
  }
  out.fields.push_back({"context-follows", (flags & 0x10) ? "yes" : "no"});
  if (!r.atEnd()) return malformed(label, "unexpected trailing bytes");

  if (components.empty()) {
    out.note = "the glucose record carries no concentration; nothing is recorded";
    return out;
  }
  // Rewrite the concentration text now that the comparator is known.
  for (DecodedField& f : out.fields) {
    if (f.name == "concentration") f.value = componentText(components[0]);
  }
  std::optional<LocalDateTime> userFacing;
  if (base.isKnown()) userFacing = (offset && offsetUsable) ? base.plusMinutes(*offset) : base;
  Reading reading = makeReading(ReadingKind::kGlucose, kGlucoseMeasurement, bytes, context, userFacing);
  reading.deviceTime = base;
  reading.deviceTimeOffsetMinutes = offset;
  reading.sequence = sequence;
  reading.priority = Priority::kStored;
  reading.value = std::move(components);
  if (status) reading.status.push_back({kSensorStatusName, *status});
  if (controlSolution) out.note = "control solution record: kept locally, never uploaded as a patient observation";
  out.readings.push_back(std::move(reading));
  return out;
}

Result<DecodedPayload> decodeContext(const std::vector<std::uint8_t>& bytes, const DecodeContext& context) {
  const char* label = kContextLabel;
  ByteReader r(bytes);
  std::uint8_t flags = 0;
  if (!r.u8(flags)) return malformed(label, "empty value");
  std::uint16_t sequence = 0;
  if (!r.u16(sequence)) return malformed(label, "too short for the sequence number");
  DecodedPayload out;
  out.fields.push_back({"sequence-number", std::to_string(sequence)});
  if (flags & 0x80) {
    std::uint8_t extended = 0;
    if (!r.u8(extended)) return malformed(label, "too short for the extended flags");
    out.fields.push_back({"extended-flags", hexText(extended, 2)});
  }
  std::vector<Component> components;
  auto coded = [&](Measure m, const char* code, const char* field) {
    Component c;
    c.measure = m;
    c.code = code;
    components.push_back(c);
    out.fields.push_back({field, code});
  };
  if (flags & 0x01) {
    std::uint8_t id = 0;
    std::uint16_t word = 0;
    if (!r.u8(id) || !r.u16(word)) return malformed(label, "too short for the carbohydrate");
    const char* name = id < 8 ? kCarbohydrates[id] : nullptr;
    if (!name) return malformed(label, "reserved carbohydrate id");
    components.push_back(converted(Measure::kCarbohydrate, word, "kg", "g", 3, name));
    out.fields.push_back({"carbohydrate", std::string(name) + ": " + componentText(components.back())});
  }
  if (flags & 0x02) {
    std::uint8_t meal = 0;
    if (!r.u8(meal)) return malformed(label, "too short for the meal");
    const char* name = meal < 6 ? kMeals[meal] : nullptr;
    if (!name) return malformed(label, "reserved meal value");
    coded(Measure::kMeal, name, "meal");
  }
  if (flags & 0x04) {
    std::uint8_t testerHealth = 0;
    if (!r.u8(testerHealth)) return malformed(label, "too short for the tester and health");
    const char* tester = kTesters[testerHealth & 0x0F];
    const char* health = kHealths[testerHealth >> 4];
    if (!tester) return malformed(label, "reserved tester value");
    if (!health) return malformed(label, "reserved health value");
    coded(Measure::kTester, tester, "tester");
    coded(Measure::kHealth, health, "health");
  }
  if (flags & 0x08) {
    std::uint16_t duration = 0;
    std::uint8_t intensity = 0;
    if (!r.u16(duration) || !r.u8(intensity)) return malformed(label, "too short for the exercise");
    Component d;
    d.measure = Measure::kExerciseDuration;
    d.quantity.unit = "s";
    // 65535 s means "overrun": longer than the field can say.
    if (duration == 0xFFFF) {
      d.quantity.special = SpecialValue::kPositiveInfinity;
    } else {
      d.quantity.value = Decimal(duration, 0);
    }
    Component i;
    i.measure = Measure::kExerciseIntensity;
    i.quantity = Quantity{Decimal(intensity, 0), SpecialValue::kNone, "%"};
    if (intensity > 100) return malformed(label, "exercise intensity above 100 percent");
    components.push_back(d);
    components.push_back(i);
    out.fields.push_back({"exercise-duration", componentText(d)});
    out.fields.push_back({"exercise-intensity", componentText(i)});
  }
  if (flags & 0x10) {
    std::uint8_t id = 0;
    std::uint16_t word = 0;
    if (!r.u8(id) || !r.u16(word)) return malformed(label, "too short for the medication");
    const char* name = id < 6 ? kMedications[id] : nullptr;
    if (!name) return malformed(label, "reserved medication id");
    // kg -> mg (x 10^6), L -> mL (x 10^3): exact exponent shifts.
    components.push_back((flags & 0x20) ? converted(Measure::kMedication, word, "L", "mL", 3, name)
                                        : converted(Measure::kMedication, word, "kg", "mg", 6, name));
    out.fields.push_back({"medication", std::string(name) + ": " + componentText(components.back())});
  } else if (flags & 0x20) {
    return malformed(label, "medication unit flag set without a medication");
  }
  if (flags & 0x40) {
    std::uint16_t word = 0;
    if (!r.u16(word)) return malformed(label, "too short for the HbA1c");
    Component h;
    h.measure = Measure::kHbA1c;
    h.quantity = decodeSfloat(word, "%");
    components.push_back(h);
    out.fields.push_back({"hba1c", componentText(h)});
  }
  if (!r.atEnd()) return malformed(label, "unexpected trailing bytes");
  if (components.empty()) {
    out.note = "the glucose context carries no information; nothing is recorded";
    return out;
  }
  Reading reading = makeReading(ReadingKind::kGlucoseContext, kGlucoseMeasurementContext, bytes, context, std::nullopt);
  reading.sequence = sequence;
  reading.priority = Priority::kStored;
  reading.value = std::move(components);
  out.readings.push_back(std::move(reading));
  return out;
}

Result<DecodedPayload> decodeFeature(const std::vector<std::uint8_t>& bytes) {
  ByteReader r(bytes);
  std::uint16_t features = 0;
  if (!r.u16(features)) return malformed(kFeatureLabel, "too short for the feature bits");
  if (!r.atEnd()) return malformed(kFeatureLabel, "unexpected trailing bytes");
  DecodedPayload out;
  out.fields.push_back({"features", hexText(features, 4)});
  appendBitFields(out.fields, features, kFeatureBits);
  out.note = "a feature characteristic describes the device and yields no reading";
  return out;
}

Result<DecodedPayload> decodeRacp(const std::vector<std::uint8_t>& bytes) {
  auto parsed = parseRacp(bytes);
  if (!parsed) return parsed.status();
  const RacpMessage& m = *parsed;
  DecodedPayload out;
  out.fields.push_back({"op-code", racpOpCodeName(m.opCode)});
  out.fields.push_back({"operator", racpOperatorName(m.op)});
  if (m.request && (m.op == RacpOperator::kLessOrEqual || m.op == RacpOperator::kGreaterOrEqual ||
                    m.op == RacpOperator::kWithinRange)) {
    const RacpRequest& q = *m.request;
    const bool seq = q.filterType == RacpFilterType::kSequenceNumber;
    out.fields.push_back({"filter-type", seq ? "sequence-number-or-time-offset" : "user-facing-time"});
    if (m.op != RacpOperator::kLessOrEqual) {
      out.fields.push_back({"minimum", seq ? std::to_string(q.minValue) : q.minTime.toString()});
    }
    if (m.op != RacpOperator::kGreaterOrEqual) {
      out.fields.push_back({"maximum", seq ? std::to_string(q.maxValue) : q.maxTime.toString()});
    }
  }
  if (m.numberOfRecords) out.fields.push_back({"number-of-records", std::to_string(*m.numberOfRecords)});
  if (m.requestOpCode) {
    const auto code = static_cast<std::uint8_t>(*m.requestOpCode);
    out.fields.push_back({"request-op-code", code >= 0x01 && code <= 0x06 ? std::string(racpOpCodeName(*m.requestOpCode))
                                                                         : "unknown (" + hexText(code, 2) + ")"});
  }
  if (m.responseValue) out.fields.push_back({"response-value", racpResponseValueName(*m.responseValue)});
  out.note = "a record access control point frame controls a download and yields no reading";
  return out;
}

}  // namespace

Result<DecodedPayload> decode(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                              const DecodeContext& context) {
  switch (characteristic) {
    case kGlucoseMeasurement: return decodeMeasurement(bytes, context);
    case kGlucoseMeasurementContext: return decodeContext(bytes, context);
    case kGlucoseFeature: return decodeFeature(bytes);
    default: return decodeRacp(bytes);
  }
}

}  // namespace rpm::drivers::glucose
