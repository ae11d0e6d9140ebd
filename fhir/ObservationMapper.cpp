#include "fhir/ObservationMapper.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>

#include "fhir/MappingTable.h"
#include "gateway/identity/Identifiers.h"
#include "gateway/model/UnitConversions.h"

namespace rpm::fhir {
namespace {

constexpr std::string_view kGatewayDeviceUrl = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice";
constexpr std::string_view kCoincidentRefUrl =
    "http://hl7.org/fhir/uv/phd/StructureDefinition/CoincidentTimeStampReference";
constexpr std::string_view kCategorySystem = "http://terminology.hl7.org/CodeSystem/observation-category";
constexpr std::string_view kPhdCategorySystem = "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories";
constexpr std::string_view kDarSystem = "http://terminology.hl7.org/CodeSystem/data-absent-reason";
constexpr std::string_view kMeasurementStatusSystem = "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status";
// PHD IG CodeSystem.ASN1ToHL7.fsh (^url); the shared reference's
// terminology.hl7.org spelling is not the IG's.
constexpr std::string_view kAsn1System = "http://hl7.org/fhir/uv/phd/CodeSystem/ASN1ToHL7";
constexpr std::string_view kYesNoSystem = "http://terminology.hl7.org/CodeSystem/v2-0136";
constexpr std::string_view kStatisticsSystem = "http://terminology.hl7.org/CodeSystem/observation-statistics";

constexpr std::uint32_t kMdcSupplementalTypes = 68193;
constexpr std::uint32_t kMdcTimeAbs = 67975;

Status invalid(const std::string& what) { return Status(ErrorKind::kInvalidArgument, "FHIR mapping: " + what); }

Json mdcCoding(std::uint32_t code, std::string_view display = {}) {
  Json c;
  c["system"] = kMdcSystem;
  c["code"] = std::to_string(code);
  if (!display.empty()) c["display"] = display;
  return c;
}

Json loincCoding(std::string_view code) { return Json{{"system", kLoincSystem}, {"code", code}}; }

// Observation.code / component.code for a row: MDC first, then LOINC(s).
Json rowCode(const MappingRow& row, std::string_view unit) {
  Json codings = Json::array({mdcCoding(row.mdc, row.mdcDisplay)});
  std::string_view loinc = (isMolarUnit(unit) && !row.loincMolar.empty()) ? row.loincMolar : row.loinc;
  if (!loinc.empty()) codings.push_back(loincCoding(loinc));
  if (!row.extraLoinc.empty()) codings.push_back(loincCoding(row.extraLoinc));
  return Json{{"coding", codings}};
}

std::string_view darCode(SpecialValue v) {
  switch (v) {
    case SpecialValue::kNaN: return "not-a-number";
    case SpecialValue::kPositiveInfinity: return "positive-infinity";
    case SpecialValue::kNegativeInfinity: return "negative-infinity";
    case SpecialValue::kNRes:
    case SpecialValue::kReserved:
    case SpecialValue::kNone: break;
  }
  return "error";
}

Json darJson(std::string_view code) { return Json{{"coding", Json::array({Json{{"system", kDarSystem}, {"code", code}}})}}; }

Json quantityJson(const Quantity& q, Comparator comparator = Comparator::kNone) {
  Json j;
  j["value"] = decimalNumber(q.value);
  if (comparator == Comparator::kLess) j["comparator"] = "<";
  if (comparator == Comparator::kGreater) j["comparator"] = ">";
  j["unit"] = unitDisplay(q.unit);
  j["system"] = kUcumSystem;
  j["code"] = q.unit;
  return j;
}

// Puts valueQuantity or dataAbsentReason on an observation or component.
void putValue(Json& target, const Quantity& q, Comparator comparator = Comparator::kNone) {
  if (q.special == SpecialValue::kNone) {
    target["valueQuantity"] = quantityJson(q, comparator);
  } else {
    target["dataAbsentReason"] = darJson(darCode(q.special));
  }
}

Json identifierReference(const std::string& value) {
  return Json{{"identifier", Json{{"system", kPhdIdentifierSystem}, {"value", value}}}};
}

// Brings a quantity to a unit the row accepts, exactly where the factor is a
// power of ten and with the project rounding rule for kPa -> mm[Hg]
// (docs/decisions/0022-fhir-units.md). Special values keep no number.
Result<Quantity> normalizeUnit(const Quantity& q, const MappingRow& row) {
  auto accepted = [&](std::string_view u) { return std::find(row.units.begin(), row.units.end(), u) != row.units.end(); };
  if (accepted(q.unit)) return q;
  struct Shift { std::string_view from, to; int exponent; };
  static constexpr Shift kShifts[] = {
      {"m", "cm", 2},       {"kg/L", "mg/dL", 5}, {"mol/L", "mmol/L", 3}, {"kg", "g", 3},
      {"kg", "mg", 6},      {"L", "mL", 3},       {"mg", "g", -3},
  };
  for (const auto& s : kShifts) {
    if (q.unit == s.from && accepted(s.to)) {
      Quantity out = q;
      out.unit = std::string(s.to);
      if (out.special == SpecialValue::kNone) out.value = q.value.shifted(s.exponent);
      return out;
    }
  }
  if (q.unit == "kPa" && accepted("mm[Hg]")) {
    Quantity out = q;
    out.unit = "mm[Hg]";
    if (out.special == SpecialValue::kNone) {
      auto converted = kilopascalToMillimetreMercury(q.value);  // decision 0003
      if (!converted) return invalid("pressure out of range for kPa to mm[Hg]");
      out.value = *converted;
    }
    return out;
  }
  return invalid("unit '" + q.unit + "' is not allowed for " + std::string(measureName(row.measure)));
}

// Index (1-based) of a token in a list, 0 if absent.
std::uint32_t tokenIndex(const std::string& token, std::initializer_list<std::string_view> tokens) {
  std::uint32_t i = 1;
  for (auto t : tokens) {
    if (t == token) return i;
    ++i;
  }
  return 0;
}

const Component* findComponent(const Reading& r, Measure m) {
  for (const auto& c : r.components()) {
    if (c.measure == m) return &c;
  }
  return nullptr;
}

std::optional<std::uint32_t> statusBits(const Reading& r, std::string_view name) {
  for (const auto& s : r.status) {
    if (s.name == name) return s.bits;
  }
  return std::nullopt;
}

// Everything an observation of this reading shares.
class Builder {
 public:
  Builder(const Reading& r, const MappingContext& ctx, EffectiveTime eff, std::int64_t idSeconds,
          std::string patientId)
      : r_(r), ctx_(ctx), eff_(eff), idSeconds_(idSeconds), patientId_(std::move(patientId)) {}

  std::string identifierFor(std::uint32_t mdc, const std::vector<std::uint32_t>& supplemental = {}) const {
    ConditionalIdParts p;
    p.device = r_.device;
    p.patientId = patientId_;
    p.mdcCode = mdc;
    p.timestampSeconds = idSeconds_;
    if (r_.deviceUtcOffsetMinutes) p.deviceUtcOffsetQuarterHours = *r_.deviceUtcOffsetMinutes / 15;
    if (eff_.end) {
      p.durationSeconds = std::chrono::duration_cast<std::chrono::seconds>(*eff_.end - eff_.start).count();
    }
    p.supplementalTypes = supplemental;
    return conditionalCreateIdentifier(p);
  }

  // Observation up to and including effective[x], in FHIR element order.
  Json skeleton(const std::vector<std::string>& profiles, bool vitalSign, const Json& code,
                const std::string& identifier, bool preliminary = false) const {
    Json o;
    o["resourceType"] = "Observation";
    o["meta"]["profile"] = profiles;
    Json ext = Json::array({Json{{"url", kGatewayDeviceUrl}, {"valueReference", Json{{"reference", ctx_.phgDeviceReference}}}}});
    if (!ctsIdentifier_.empty()) {
      ext.push_back(Json{{"url", kCoincidentRefUrl}, {"valueReference", identifierReference(ctsIdentifier_)}});
    }
    o["extension"] = ext;
    o["identifier"] = Json::array({Json{{"system", kPhdIdentifierSystem}, {"value", identifier}}});
    o["status"] = preliminary ? "preliminary" : "final";
    Json categories = Json::array();
    if (vitalSign) {
      categories.push_back(Json{{"coding", Json::array({Json{{"system", kCategorySystem}, {"code", "vital-signs"}}})}});
    }
    categories.push_back(Json{{"coding", Json::array({Json{{"system", kPhdCategorySystem}, {"code", "phd"}}})}});
    o["category"] = categories;
    o["code"] = code;
    o["subject"]["reference"] = r_.subject;
    putEffective(o);
    return o;
  }

  void putEffective(Json& o) const {
    const TimeZoneRules& zone = *ctx_.zone;
    if (eff_.end) {
      o["effectivePeriod"] = Json{{"start", formatDateTime(eff_.start, zone.offsetMinutesAt(eff_.start))},
                                  {"end", formatDateTime(*eff_.end, zone.offsetMinutesAt(*eff_.end))}};
    } else {
      o["effectiveDateTime"] = formatDateTime(eff_.start, zone.offsetMinutesAt(eff_.start));
    }
  }

  // device, derivedFrom and component come last in FHIR element order.
  void finish(Json& o, const std::string& derivedFromIdentifier, const Json& components,
              const std::string& identifier) {
    o["device"]["reference"] = ctx_.phdDeviceReference;
    if (!derivedFromIdentifier.empty()) o["derivedFrom"] = Json::array({identifierReference(derivedFromIdentifier)});
    if (!components.empty()) o["component"] = components;
    out_.push_back({std::move(o), identifier});
  }

  // A Coincident Time Stamp Observation (PHD IG) for a corrected time.
  void addCoincidentTimeStamp() {
    if (!eff_.corrected || !r_.clockSkewMs) return;
    const TimeZoneRules& zone = *ctx_.zone;
    UtcInstant deviceClock = r_.receivedAt - std::chrono::milliseconds(*r_.clockSkewMs);
    int offset = zone.offsetMinutesAt(r_.receivedAt);
    ConditionalIdParts p;
    p.device = r_.device;
    p.mdcCode = kMdcTimeAbs;
    p.timestampSeconds = toLocal(deviceClock, offset).secondsSince2000();
    ctsIdentifier_ = conditionalCreateIdentifier(p);
    Json o;
    o["resourceType"] = "Observation";
    o["meta"]["profile"] = Json::array({std::string(kPhdProfileBase) + "PhdCoincidentTimeStampObservation"});
    o["extension"] = Json::array(
        {Json{{"url", kGatewayDeviceUrl}, {"valueReference", Json{{"reference", ctx_.phgDeviceReference}}}}});
    o["identifier"] = Json::array({Json{{"system", kPhdIdentifierSystem}, {"value", ctsIdentifier_}}});
    o["status"] = "final";
    o["category"] = Json::array({Json{{"coding", Json::array({Json{{"system", kPhdCategorySystem}, {"code", "phd"}}})}}});
    o["code"] = Json{{"coding", Json::array({mdcCoding(kMdcTimeAbs, "MDC_ATTR_TIME_ABS")})}};
    o["subject"]["reference"] = ctx_.phdDeviceReference;
    o["effectiveDateTime"] = formatDateTime(r_.receivedAt, offset);
    o["valueDateTime"] = formatDateTime(deviceClock, offset);
    o["device"]["reference"] = ctx_.phgDeviceReference;
    out_.push_back({std::move(o), ctsIdentifier_});
  }

  // A numeric observation of one quantity. Returns its identifier.
  Result<std::string> addNumeric(const MappingRow& row, const Quantity& raw, Comparator comparator,
                                 const std::string& derivedFrom = {}, Json extraComponents = Json::array(),
                                 std::vector<std::uint32_t> supplemental = {}, bool preliminary = false,
                                 const Json& interpretation = Json(), std::string_view absentReason = {}) {
    auto q = normalizeUnit(raw, row);
    if (!q) return q.status();
    std::vector<std::string> profiles{std::string(kPhdProfileBase) + "PhdNumericObservation"};
    bool vital = !row.vitalProfile.empty();
    if (vital) profiles.push_back(std::string(kVitalProfileBase) + std::string(row.vitalProfile));
    std::string id = identifierFor(row.mdc, supplemental);
    Json o = skeleton(profiles, vital, rowCode(row, q->unit), id, preliminary);
    if (absentReason.empty()) {
      putValue(o, *q, comparator);
    } else {
      o["dataAbsentReason"] = darJson(absentReason);
    }
    if (!interpretation.is_null()) o["interpretation"] = interpretation;
    Json components = std::move(extraComponents);
    for (auto code : supplemental) {
      components.push_back(Json{{"code", Json{{"coding", Json::array({mdcCoding(kMdcSupplementalTypes, "MDC_ATTR_SUPPLEMENTAL_TYPES")})}}},
                                {"valueCodeableConcept", Json{{"coding", Json::array({mdcCoding(code)})}}}});
    }
    finish(o, derivedFrom, components, id);
    return id;
  }

  // A PhdBitsEnumerationObservation: one component per set bit, "Y".
  void addBits(std::uint32_t mdc, std::string_view display, const std::vector<int>& asnBits,
               const std::string& derivedFrom) {
    if (asnBits.empty()) return;
    std::string id = identifierFor(mdc);
    Json o = skeleton({std::string(kPhdProfileBase) + "PhdBitsEnumerationObservation"}, false,
                      Json{{"coding", Json::array({mdcCoding(mdc, display)})}}, id);
    Json components = Json::array();
    for (int bit : asnBits) {
      components.push_back(Json{
          {"code", Json{{"coding", Json::array({Json{{"system", kAsn1System}, {"code", std::to_string(mdc) + "." + std::to_string(bit)}}})}}},
          {"valueCodeableConcept", Json{{"coding", Json::array({Json{{"system", kYesNoSystem}, {"code", "Y"}}})}}}});
    }
    finish(o, derivedFrom, components, id);
  }

  // A PhdCodedEnumerationObservation (glucose context).
  void addCoded(std::uint32_t mdc, std::string_view display, std::uint32_t valueMdc, std::string_view valueText,
                const std::string& derivedFrom) {
    std::string id = identifierFor(mdc);
    Json o = skeleton({std::string(kPhdProfileBase) + "PhdCodedEnumerationObservation"}, false,
                      Json{{"coding", Json::array({mdcCoding(mdc, display)})}}, id);
    Json value;
    if (valueMdc) value["coding"] = Json::array({mdcCoding(valueMdc)});
    value["text"] = valueText;
    o["valueCodeableConcept"] = value;
    finish(o, derivedFrom, Json::array(), id);
  }

  void push(MappedResource m) { out_.push_back(std::move(m)); }
  const Reading& reading() const { return r_; }
  const EffectiveTime& effective() const { return eff_; }
  std::vector<MappedResource> take() { return std::move(out_); }

 private:
  const Reading& r_;
  const MappingContext& ctx_;
  EffectiveTime eff_;
  std::int64_t idSeconds_;
  std::string patientId_;
  std::string ctsIdentifier_;
  std::vector<MappedResource> out_;
};

Json componentFor(const MappingRow& row, const Quantity& q) {
  Json c;
  c["code"] = rowCode(row, q.unit);
  putValue(c, q);
  return c;
}

// ---- blood pressure (§4.6.1) ----
Status mapBloodPressure(Builder& b, std::string& note) {
  const Reading& r = b.reading();
  const Component* sys = findComponent(r, Measure::kSystolic);
  const Component* dia = findComponent(r, Measure::kDiastolic);
  if (!sys || !dia) return invalid("blood pressure reading without systolic and diastolic");
  Json components = Json::array();
  for (const Component* c : {sys, dia, findComponent(r, Measure::kMeanArterialPressure)}) {
    if (!c) continue;
    const MappingRow* row = findMappingRow(c->measure);
    auto q = normalizeUnit(c->quantity, *row);
    if (!q) return q.status();
    components.push_back(componentFor(*row, *q));
  }
  std::string id = b.identifierFor(150020);
  Json panel = b.skeleton({std::string(kPhdProfileBase) + "PhdCompoundNumericObservation",
                           std::string(kVitalProfileBase) + "bp"},
                          true,
                          Json{{"coding", Json::array({mdcCoding(150020, "MDC_PRESS_BLD_NONINV"), loincCoding("85354-9")})}},
                          id);
  b.finish(panel, {}, components, id);
  if (const Component* pulse = findComponent(r, Measure::kPulseRate)) {
    auto added = b.addNumeric(*findMappingRow(Measure::kPulseRate), pulse->quantity, Comparator::kNone);
    if (!added) return added.status();
  }
  if (auto bits = statusBits(r, "bp-measurement-status")) {
    // GATT BPM status -> MDC_BLOOD_PRESSURE_MEASUREMENT_STATUS (§4.5).
    std::vector<int> asn;
    if (*bits & 0x01) asn.push_back(0);
    if (*bits & 0x02) asn.push_back(1);
    if (*bits & 0x04) asn.push_back(2);
    unsigned range = (*bits >> 3) & 0x03;
    if (range == 1) asn.push_back(3);
    if (range == 2) asn.push_back(4);
    if (*bits & 0x20) asn.push_back(5);
    b.addBits(8410608, "MDC_BLOOD_PRESSURE_MEASUREMENT_STATUS", asn, id);
  }
  (void)note;
  return Status::ok();
}

// ---- heart rate and RR intervals (§4.6.3) ----
Status mapRrIntervals(Builder& b, const std::vector<const Component*>& rr) {
  const MappingRow* row = findMappingRow(Measure::kRrInterval);
  Json components = Json::array();
  for (const Component* c : rr) {
    auto q = normalizeUnit(c->quantity, *row);
    if (!q) return q.status();
    components.push_back(componentFor(*row, *q));
  }
  std::string id = b.identifierFor(row->mdc);
  Json o = b.skeleton({std::string(kPhdProfileBase) + "PhdCompoundNumericObservation"}, false,
                      Json{{"coding", Json::array({mdcCoding(row->mdc, row->mdcDisplay)})}}, id);
  b.finish(o, {}, components, id);
  return Status::ok();
}

Json statisticComponent(std::string_view statistic, const Quantity& q) {
  Json c;
  c["code"] = Json{{"coding", Json::array({Json{{"system", kStatisticsSystem}, {"code", statistic}}})}};
  putValue(c, q);
  return c;
}

Status mapHeartRate(Builder& b, std::string& note) {
  const Reading& r = b.reading();
  const Component* hr = findComponent(r, Measure::kHeartRate);
  std::vector<const Component*> rr;
  for (const auto& c : r.components()) {
    if (c.measure == Measure::kRrInterval) rr.push_back(&c);
  }
  if (hr) {
    Json extra = Json::array();
    // Aggregated windows: the value is the mean; min and max are components
    // coded with the R4 observation-statistics code system.
    if (const Component* mn = findComponent(r, Measure::kHeartRateMin)) extra.push_back(statisticComponent("minimum", mn->quantity));
    if (const Component* mx = findComponent(r, Measure::kHeartRateMax)) extra.push_back(statisticComponent("maximum", mx->quantity));
    auto added = b.addNumeric(*findMappingRow(Measure::kHeartRate), hr->quantity, Comparator::kNone, {}, extra);
    if (!added) return added.status();
  }
  if (!rr.empty()) {
    Status s = mapRrIntervals(b, rr);
    if (!s.isOk()) return s;
  }
  if (!hr && rr.empty()) return invalid("heart rate reading without heart rate or RR intervals");
  if (findComponent(r, Measure::kEnergyExpended)) note = "energy expended is not uploaded (no verified MDC code)";
  return Status::ok();
}

// ---- pulse oximetry (§4.6.2, §4.5) ----
Status mapPulseOximetry(Builder& b, std::string& note) {
  const Reading& r = b.reading();
  std::uint32_t ms = statusBits(r, "plx-measurement-status").value_or(0);
  if (ms & (1u << 15)) { note = "invalid measurement (PLX status bit 15) is not uploaded"; return Status::ok(); }
  if (ms & ((1u << 10) | (1u << 11))) { note = "demonstration or test data (PLX status) is not uploaded"; return Status::ok(); }
  const Component* spo2 = findComponent(r, Measure::kSpo2);
  const Component* pr = findComponent(r, Measure::kPulseRate);
  if (!spo2 && !pr) return invalid("pulse oximetry reading without SpO2 or pulse rate");
  bool preliminary = ms & (1u << 6);
  Json interp = Json::array();
  auto addInterp = [&](std::string_view code) {
    interp.push_back(Json{{"coding", Json::array({Json{{"system", kMeasurementStatusSystem}, {"code", code}}})}});
  };
  if (ms & (1u << 14)) addInterp("questionable");
  if (ms & (1u << 12)) addInterp("calibration-ongoing");
  if (preliminary) addInterp("early-indication");
  bool unavailable = ms & (1u << 13);
  std::vector<std::uint32_t> supplemental;
  if (!r.effectiveEnd) {
    std::string modality = spo2 ? spo2->code : std::string();
    if (modality == "spot" || (modality.empty() && r.raw.format == "gatt:2A5E")) supplemental = {150588};
    if (modality == "fast") supplemental = {150580};
    if (modality == "slow") supplemental = {150584};
  }
  std::string spo2Id;
  auto addOne = [&](const MappingRow& row, const Component& c) -> Result<std::string> {
    // "Measurement unavailable" (bit 13): no value, DAR not-performed (§4.5).
    return b.addNumeric(row, c.quantity, Comparator::kNone, {}, Json::array(), supplemental, preliminary,
                        interp.empty() ? Json() : interp, unavailable ? "not-performed" : "");
  };
  if (spo2) {
    auto id = addOne(*findMappingRow(Measure::kSpo2), *spo2);
    if (!id) return id.status();
    spo2Id = *id;
  }
  if (pr) {
    auto id = addOne(*findMappingRow(Measure::kPulseRate, "oximeter"), *pr);
    if (!id) return id.status();
    if (spo2Id.empty()) spo2Id = *id;
  }
  if (const Component* pi = findComponent(r, Measure::kPerfusionIndex)) {
    auto id = addOne(*findMappingRow(Measure::kPerfusionIndex), *pi);
    if (!id) return id.status();
  }
  if (auto ds = statusBits(r, "plx-device-sensor-status")) {
    // PLX Device and Sensor Status bit n (0..15) is MDC_PULS_OXIM_DEV_STATUS
    // bit 15-n: the IG's list is the same flags in MDER (high-bit-first) order.
    std::vector<int> asn;
    for (int bit = 15; bit >= 0; --bit) {
      if (*ds & (1u << bit)) asn.push_back(15 - bit);
    }
    b.addBits(150604, "MDC_PULS_OXIM_DEV_STATUS", asn, spo2Id);
  }
  return Status::ok();
}

// ---- glucose (§4.6.7) and CGM (§4.6.8) ----
bool isControlSolution(const Reading& r, const Component& c) {
  const Component* where = findComponent(r, Measure::kSampleLocation);
  return c.code == "control-solution" || (where && where->code == "control-solution");
}

Result<std::string> glucoseQualifier(const Reading& r, const Component& c) {
  if (r.kind == ReadingKind::kCgmGlucose) return std::string("interstitial-fluid");
  if (c.code.empty()) return std::string("undetermined-whole-blood");
  for (const auto& row : mappingRows()) {
    if (row.measure == Measure::kGlucoseConcentration && row.qualifier == c.code) return c.code;
  }
  return invalid("unknown glucose sample type '" + c.code + "'");
}

Status mapGlucose(Builder& b, std::string& note) {
  const Reading& r = b.reading();
  const Component* g = findComponent(r, Measure::kGlucoseConcentration);
  if (!g) return invalid("glucose reading without a concentration");
  if (isControlSolution(r, *g)) { note = "control solution result is a device check and is never uploaded"; return Status::ok(); }
  auto qualifier = glucoseQualifier(r, *g);
  if (!qualifier) return qualifier.status();
  Comparator comparator = g->comparator;
  if (comparator == Comparator::kNone && r.kind == ReadingKind::kGlucose) {
    // GLS Sensor Status bit 5: result higher than the device can process,
    // bit 6: lower (§4.5): the value is the device's limit.
    std::uint32_t bits = statusBits(r, "glucose-sensor-status").value_or(0);
    if (bits & (1u << 5)) comparator = Comparator::kGreater;
    if (bits & (1u << 6)) comparator = Comparator::kLess;
  }
  auto id = b.addNumeric(*findMappingRow(Measure::kGlucoseConcentration, *qualifier), g->quantity, comparator);
  if (!id) return id.status();
  if (r.kind == ReadingKind::kCgmGlucose) {
    if (auto bits = statusBits(r, "cgm-sensor-status")) {
      // CGM status | cal-temp << 8 | warning << 16 -> MDC CGM device status
      // bits defined in the PHD IG ASN1ToHL7 code system; bits without an IG
      // code (battery low, general fault, time sync required) are not sent.
      static constexpr std::pair<int, int> kMap[] = {
          {0, 0},   {2, 2},   {3, 3},   {4, 4},   {9, 7},   {10, 8},  {11, 9},  {12, 10}, {13, 11},
          {16, 12}, {17, 13}, {18, 14}, {19, 15}, {20, 16}, {21, 17}, {22, 18}, {23, 19}};
      std::vector<int> asn;
      for (auto [gatt, code] : kMap) {
        if (*bits & (1u << gatt)) asn.push_back(code);
      }
      std::sort(asn.begin(), asn.end());
      b.addBits(8418060, "MDC_CGM_DEV_STATUS", asn, *id);
    }
    return Status::ok();
  }
  if (auto bits = statusBits(r, "glucose-sensor-status")) {
    // GLS Sensor Status bits 0..10 = MDC_GLU_METER_DEV_STATUS .0 .. .10 (§4.5).
    // Bit 11 (time fault) has no IG twin and is not sent.
    std::vector<int> asn;
    for (int bit = 0; bit <= 10; ++bit) {
      if (*bits & (1u << bit)) asn.push_back(bit);
    }
    b.addBits(8417752, "MDC_GLU_METER_DEV_STATUS", asn, *id);
  }
  // Sample location: a coded component (Measure kSampleLocation) with the decoders' token.
  if (const Component* where = findComponent(r, Measure::kSampleLocation)) {
    static constexpr std::pair<std::uint32_t, std::string_view> kLocations[] = {
        {0, ""}, {8417848, "finger"}, {8417852, "alternate site test"}, {8417856, "earlobe"}};
    std::uint32_t loc = tokenIndex(where->code, {"finger", "alternate-site-test", "earlobe"});
    if (loc >= 1) b.addCoded(8417844, "MDC_CTXT_GLU_SAMPLELOCATION", kLocations[loc].first, kLocations[loc].second, *id);
  }
  return Status::ok();
}


Json idComponent(std::uint32_t parentMdc, std::string_view text, std::uint32_t valueMdc, const std::string& token) {
  Json c;
  c["code"] = Json{{"coding", Json::array({mdcCoding(parentMdc)})}, {"text", text}};
  Json v;
  if (valueMdc) v["coding"] = Json::array({mdcCoding(valueMdc)});
  v["text"] = token;
  c["valueCodeableConcept"] = v;
  return c;
}

Status mapGlucoseContext(Builder& b, const std::string& glucoseId, std::string& note) {
  const Reading& r = b.reading();
  size_t before = 0;
  // Meal, tester and health are coded components (Measure kMeal/kTester/kHealth)
  // with the decoders' tokens (drivers/README.md); their position is the GLS value.
  auto codedValue = [&r](Measure m, std::initializer_list<std::string_view> tokens) -> std::uint32_t {
    const Component* c = findComponent(r, m);
    return c ? tokenIndex(c->code, tokens) : 0;
  };
  if (std::uint32_t meal = codedValue(Measure::kMeal, {"preprandial", "postprandial", "fasting", "casual", "bedtime"})) {
    static constexpr std::string_view kMeals[] = {"", "preprandial", "postprandial", "fasting", "casual", "bedtime"};
    // Bedtime has no MDC constant in the sources (§4.6.7 †): text only.
    std::uint32_t code = meal <= 4 ? 8417868 + 4 * (meal - 1) : 0;
    b.addCoded(8417864, "MDC_CTXT_GLU_MEAL", code, kMeals[meal], glucoseId);
  }
  if (std::uint32_t tester = codedValue(Measure::kTester, {"self", "health-care-professional", "lab-test"})) {
    static constexpr std::string_view kTesters[] = {"", "self", "health care professional", "lab test"};
    b.addCoded(8417884, "MDC_CTXT_GLU_TESTER", 8417888 + 4 * (tester - 1), kTesters[tester], glucoseId);
  }
  if (std::uint32_t health = codedValue(Measure::kHealth, {"minor-health-issues", "major-health-issues", "during-menses",
                                                            "under-stress", "no-health-issues"})) {
    static constexpr std::pair<std::uint32_t, std::string_view> kHealth[] = {
        {0, ""}, {8417824, "minor health issues"}, {8417828, "major health issues"}, {0, "during menses"},
        {8417836, "under stress"}, {8417840, "no health issues"}};
    b.addCoded(8417820, "MDC_CTXT_GLU_HEALTH", kHealth[health].first, kHealth[health].second, glucoseId);
  }
  (void)before;
  if (const Component* carb = findComponent(r, Measure::kCarbohydrate)) {
    std::uint32_t i = tokenIndex(carb->code, {"breakfast", "lunch", "dinner", "snack", "drink", "supper", "brunch"});
    Json extra = Json::array();
    if (!carb->code.empty()) extra.push_back(idComponent(8417764, "carbohydrate id", i ? 8417768 + 4 * (i - 1) : 0, carb->code));
    auto id = b.addNumeric(*findMappingRow(Measure::kCarbohydrate), carb->quantity, Comparator::kNone, glucoseId, extra);
    if (!id) return id.status();
  }
  if (const Component* med = findComponent(r, Measure::kMedication)) {
    std::uint32_t i = tokenIndex(med->code, {"rapid-acting-insulin", "short-acting-insulin", "intermediate-acting-insulin",
                                              "long-acting-insulin", "pre-mixed-insulin"});
    Json extra = Json::array();
    if (!med->code.empty()) extra.push_back(idComponent(8417796, "medication id", i ? 8417800 + 4 * (i - 1) : 0, med->code));
    auto id = b.addNumeric(*findMappingRow(Measure::kMedication), med->quantity, Comparator::kNone, glucoseId, extra);
    if (!id) return id.status();
  }
  const Component* duration = findComponent(r, Measure::kExerciseDuration);
  const Component* intensity = findComponent(r, Measure::kExerciseIntensity);
  if (duration || intensity) {
    Json extra = Json::array();
    if (duration && intensity) {
      auto q = normalizeUnit(intensity->quantity, *findMappingRow(Measure::kExerciseIntensity));
      if (!q) return q.status();
      Json c;
      c["code"] = Json{{"coding", Json::array({mdcCoding(8417760)})}, {"text", "exercise intensity"}};
      putValue(c, *q);
      extra.push_back(c);
    }
    const Component* main = duration ? duration : intensity;
    auto id = b.addNumeric(*findMappingRow(main->measure), main->quantity, Comparator::kNone, glucoseId, extra);
    if (!id) return id.status();
  }
  if (const Component* a1c = findComponent(r, Measure::kHbA1c)) {
    auto id = b.addNumeric(*findMappingRow(Measure::kHbA1c), a1c->quantity, Comparator::kNone, glucoseId);
    if (!id) return id.status();
  }
  (void)note;
  return Status::ok();
}

// ---- temperature, weight, height (§4.6.5, §4.6.6) ----
Status mapSingle(Builder& b, Measure measure, bool required) {
  const Component* c = findComponent(b.reading(), measure);
  if (!c) return required ? invalid(std::string("reading without ") + std::string(measureName(measure))) : Status::ok();
  const MappingRow* row = findMappingRow(measure, c->code);
  auto id = b.addNumeric(*row, c->quantity, c->comparator);
  return id ? Status::ok() : id.status();
}

// ---- ECG (§4.6.4) ----
Status mapEcg(Builder& b) {
  const auto* series = std::get_if<SampledSeries>(&b.reading().value);
  if (!series || series->samples.empty()) return invalid("ECG reading without samples");
  if (series->periodMs.mantissa() <= 0) return invalid("ECG sample period must be positive");
  const MappingRow* row = findMappingRow(Measure::kEcgLead);
  std::uint32_t mdc = series->mdcLead ? series->mdcLead : row->mdc;
  std::string id = b.identifierFor(mdc);
  Json o = b.skeleton({std::string(kPhdProfileBase) + "PhdRtsaObservation"}, false,
                      Json{{"coding", Json::array({mdcCoding(mdc, mdc == row->mdc ? row->mdcDisplay : std::string_view())})}},
                      id);
  Json sd;
  Json origin;
  origin["value"] = decimalNumber(series->origin.value);
  origin["unit"] = unitDisplay(series->origin.unit);
  origin["system"] = kUcumSystem;
  origin["code"] = series->origin.unit;
  sd["origin"] = origin;
  sd["period"] = decimalNumber(series->periodMs);
  sd["factor"] = decimalNumber(series->factor);
  sd["dimensions"] = 1;
  std::string data;
  for (size_t i = 0; i < series->samples.size(); ++i) {
    if (i) data.push_back(' ');
    data += std::to_string(series->samples[i]);
  }
  sd["data"] = data;
  o["valueSampledData"] = sd;
  b.finish(o, {}, Json::array(), id);
  return Status::ok();
}

std::string patientIdOf(const std::string& subject) {
  constexpr std::string_view kPrefix = "Patient/";
  if (subject.compare(0, kPrefix.size(), kPrefix) == 0) return subject.substr(kPrefix.size());
  return subject;
}

// End of an ECG chunk: start + samples x period (period in ms, exact to 1 us).
std::optional<UtcInstant> ecgEnd(const Reading& r, UtcInstant start) {
  const auto* s = std::get_if<SampledSeries>(&r.value);
  if (!s || s->samples.empty()) return std::nullopt;
  auto micros = s->periodMs.convert(static_cast<std::int64_t>(s->samples.size()) * 1000, 1, 0);
  if (!micros) return std::nullopt;
  return start + std::chrono::microseconds(micros->mantissa());
}

}  // namespace

std::string MappedResource::ifNoneExist() const {
  if (identifierValue.empty()) return {};
  // ifNoneExist is the query part of a search URL: a '+' in the value (the zone suffix "+0" of a device that
  // reports its offset, decision 0005) would reach the server as a space, the search would match nothing, and
  // every re-send after a crash would create a duplicate Observation (found by tests/integration/daemon_e2e).
  // The value is percent-encoded; the identifier itself is unchanged.
  static const char* kHex = "0123456789ABCDEF";
  std::string value;
  for (unsigned char c : identifierValue) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      value.push_back(static_cast<char>(c));
    } else {
      value += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return "identifier=" + std::string(kPhdIdentifierSystem) + "|" + value;
}

Result<EffectiveTime> resolveEffectiveTime(const Reading& r, const MappingContext& ctx) {
  if (!ctx.zone) return invalid("no time zone rules");
  EffectiveTime t;
  if (r.effectiveEnd) {  // aggregated windows are already on the gateway timeline
    t.start = r.effectiveStart;
    t.end = r.effectiveEnd;
    return t;
  }
  if (!r.deviceTime) {  // the device sent no time: the time of reception
    t.start = r.effectiveStart;
    return t;
  }
  if (!r.deviceTime->isKnown() || !r.deviceTime->isValid()) {
    if (r.priority == Priority::kStored) {
      return Status(ErrorKind::kUnsupported,
                    "FHIR mapping: stored reading with an unknown device time cannot be placed on a timeline");
    }
    t.start = r.effectiveStart;
    return t;
  }
  LocalDateTime local = r.deviceTime->plusMinutes(r.deviceTimeOffsetMinutes.value_or(0));
  local.fractions256 = 0;
  UtcInstant instant = r.deviceUtcOffsetMinutes ? fromLocal(local, *r.deviceUtcOffsetMinutes) : ctx.zone->toUtc(local);
  instant += std::chrono::microseconds(static_cast<std::int64_t>(r.deviceTime->fractions256) * 1000000 / 256);
  if (r.clockSkewMs && ctx.hubClockSynchronized && *r.clockSkewMs != 0) {
    instant += std::chrono::milliseconds(*r.clockSkewMs);
    t.corrected = true;
  }
  t.start = instant;
  return t;
}

Result<MappedReading> mapReading(const Reading& r, const MappingContext& ctx, const Reading* related) {
  if (r.subject.empty()) return Status(ErrorKind::kNotBound, "FHIR mapping: reading has no patient binding");
  if (!ctx.zone) return invalid("no time zone rules");
  if (ctx.phdDeviceReference.empty() || ctx.phgDeviceReference.empty()) return invalid("missing Device references");

  const Reading& timeSource = (r.kind == ReadingKind::kGlucoseContext && related) ? *related : r;
  if (r.kind == ReadingKind::kGlucoseContext && !related) return invalid("glucose context without its glucose reading");
  auto eff = resolveEffectiveTime(timeSource, ctx);
  if (!eff) return eff.status();
  if (r.kind == ReadingKind::kEcg && !eff->end) eff->end = ecgEnd(r, eff->start);

  Builder b(r, ctx, *eff, identifierTimestampSeconds(timeSource), patientIdOf(r.subject));
  MappedReading out;
  b.addCoincidentTimeStamp();
  Status s;
  switch (r.kind) {
    case ReadingKind::kBloodPressure: s = mapBloodPressure(b, out.note); break;
    case ReadingKind::kHeartRate: s = mapHeartRate(b, out.note); break;
    case ReadingKind::kRrIntervals: {
      std::vector<const Component*> rr;
      for (const auto& c : r.components()) {
        if (c.measure == Measure::kRrInterval) rr.push_back(&c);
      }
      s = rr.empty() ? invalid("RR interval reading without intervals") : mapRrIntervals(b, rr);
      break;
    }
    case ReadingKind::kPulseOximetry: s = mapPulseOximetry(b, out.note); break;
    case ReadingKind::kGlucose:
    case ReadingKind::kCgmGlucose: s = mapGlucose(b, out.note); break;
    case ReadingKind::kGlucoseContext: {
      const Component* g = findComponent(*related, Measure::kGlucoseConcentration);
      if (!g) { s = invalid("glucose context's glucose reading has no concentration"); break; }
      if (isControlSolution(*related, *g)) { out.note = "context of a control solution result is not uploaded"; break; }
      auto qualifier = glucoseQualifier(*related, *g);
      if (!qualifier) { s = qualifier.status(); break; }
      Builder glucose(*related, ctx, *eff, identifierTimestampSeconds(*related), patientIdOf(related->subject.empty() ? r.subject : related->subject));
      std::string glucoseId = glucose.identifierFor(findMappingRow(Measure::kGlucoseConcentration, *qualifier)->mdc);
      s = mapGlucoseContext(b, glucoseId, out.note);
      break;
    }
    case ReadingKind::kBodyTemperature: s = mapSingle(b, Measure::kBodyTemperature, true); break;
    case ReadingKind::kBodyWeight: {
      s = mapSingle(b, Measure::kBodyWeight, true);
      if (s.isOk()) s = mapSingle(b, Measure::kBmi, false);
      if (s.isOk() && findComponent(r, Measure::kBodyHeight)) {
        out.note = "the scale's height is user-entered profile data and is not uploaded";
      }
      break;
    }
    case ReadingKind::kBodyHeight: s = mapSingle(b, Measure::kBodyHeight, true); break;
    case ReadingKind::kEcg: s = mapEcg(b); break;
  }
  if (!s.isOk()) return s;
  out.observations = b.take();
  // A coincident time stamp alone is nothing to upload.
  if (out.observations.size() == 1 && eff->corrected) out.observations.clear();
  if (out.observations.empty() && out.note.empty()) out.note = "nothing to upload";
  return out;
}

}  // namespace rpm::fhir
