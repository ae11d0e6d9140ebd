#include "gateway/model/Reading.h"

#include <array>
#include <utility>

namespace rpm {
namespace {

constexpr std::array<std::pair<ReadingKind, std::string_view>, 11> kKindNames{{
    {ReadingKind::kBloodPressure, "blood-pressure"},
    {ReadingKind::kHeartRate, "heart-rate"},
    {ReadingKind::kRrIntervals, "rr-intervals"},
    {ReadingKind::kPulseOximetry, "pulse-oximetry"},
    {ReadingKind::kGlucose, "glucose"},
    {ReadingKind::kGlucoseContext, "glucose-context"},
    {ReadingKind::kBodyTemperature, "body-temperature"},
    {ReadingKind::kBodyWeight, "body-weight"},
    {ReadingKind::kBodyHeight, "body-height"},
    {ReadingKind::kCgmGlucose, "cgm-glucose"},
    {ReadingKind::kEcg, "ecg"},
}};

constexpr std::array<std::pair<Measure, std::string_view>, 29> kMeasureNames{{
    {Measure::kSystolic, "systolic"},
    {Measure::kDiastolic, "diastolic"},
    {Measure::kMeanArterialPressure, "mean-arterial-pressure"},
    {Measure::kPulseRate, "pulse-rate"},
    {Measure::kHeartRate, "heart-rate"},
    {Measure::kRrInterval, "rr-interval"},
    {Measure::kSpo2, "spo2"},
    {Measure::kPerfusionIndex, "perfusion-index"},
    {Measure::kGlucoseConcentration, "glucose-concentration"},
    {Measure::kBodyTemperature, "body-temperature"},
    {Measure::kBodyWeight, "body-weight"},
    {Measure::kBodyHeight, "body-height"},
    {Measure::kBmi, "bmi"},
    {Measure::kEnergyExpended, "energy-expended"},
    {Measure::kHeartRateMin, "heart-rate-min"},
    {Measure::kHeartRateMax, "heart-rate-max"},
    {Measure::kEcgLead, "ecg-lead"},
    {Measure::kCuffPressure, "cuff-pressure"},
    {Measure::kCarbohydrate, "carbohydrate"},
    {Measure::kExerciseDuration, "exercise-duration"},
    {Measure::kExerciseIntensity, "exercise-intensity"},
    {Measure::kMedication, "medication"},
    {Measure::kHbA1c, "hba1c"},
    {Measure::kSampleLocation, "sample-location"},
    {Measure::kMeal, "meal"},
    {Measure::kTester, "tester"},
    {Measure::kHealth, "health"},
    {Measure::kCgmTrend, "cgm-trend"},
    {Measure::kCgmQuality, "cgm-quality"},
}};

template <typename Table, typename Key>
std::string_view nameOf(const Table& table, Key key) {
  for (const auto& [k, name] : table) {
    if (k == key) return name;
  }
  return "unknown";
}

template <typename Key, typename Table>
std::optional<Key> keyOf(const Table& table, std::string_view name) {
  for (const auto& [k, n] : table) {
    if (n == name) return k;
  }
  return std::nullopt;
}

}  // namespace

std::string_view readingKindName(ReadingKind kind) { return nameOf(kKindNames, kind); }
std::optional<ReadingKind> readingKindFromName(std::string_view name) {
  return keyOf<ReadingKind>(kKindNames, name);
}
std::string_view measureName(Measure measure) { return nameOf(kMeasureNames, measure); }
std::optional<Measure> measureFromName(std::string_view name) { return keyOf<Measure>(kMeasureNames, name); }

std::string_view specialValueName(SpecialValue value) {
  switch (value) {
    case SpecialValue::kNone: return "none";
    case SpecialValue::kNaN: return "nan";
    case SpecialValue::kNRes: return "nres";
    case SpecialValue::kPositiveInfinity: return "+inf";
    case SpecialValue::kNegativeInfinity: return "-inf";
    case SpecialValue::kReserved: return "reserved";
  }
  return "unknown";
}

const std::vector<Component>& Reading::components() const {
  static const std::vector<Component> kEmpty;
  const auto* c = std::get_if<std::vector<Component>>(&value);
  return c ? *c : kEmpty;
}

}  // namespace rpm
