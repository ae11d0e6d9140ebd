#include "fhir/MappingTable.h"

#include <array>
#include <utility>

namespace rpm::fhir {
namespace {

using M = Measure;
using S = PhdShape;

std::vector<MappingRow> buildRows() {
  return {
      // Blood pressure (§4.6.1). The panel itself is 150020 / 85354-9 (see ObservationMapper).
      {M::kSystolic, "", 150021, "MDC_PRESS_BLD_NONINV_SYS", "8480-6", "", "", "bp", {"mm[Hg]"}},
      {M::kDiastolic, "", 150022, "MDC_PRESS_BLD_NONINV_DIA", "8462-4", "", "", "bp", {"mm[Hg]"}},
      {M::kMeanArterialPressure, "", 150023, "MDC_PRESS_BLD_NONINV_MEAN", "8478-0", "", "", "bp", {"mm[Hg]"}},
      {M::kPulseRate, "", 149546, "MDC_PULS_RATE_NON_INV", "8867-4", "", "", "heartrate", {"/min"}},
      // Pulse oximetry (§4.6.2): pulse rate from an oximeter has its own MDC code.
      {M::kPulseRate, "oximeter", 149530, "MDC_PULS_OXIM_PULS_RATE", "8867-4", "", "", "heartrate", {"/min"}},
      {M::kSpo2, "", 150456, "MDC_PULS_OXIM_SAT_O2", "2708-6", "", "59408-5", "oxygensat", {"%"}},
      {M::kPerfusionIndex, "", 150448, "MDC_PULS_OXIM_PERF_REL", "", "", "", "", {"%"}},
      // Heart rate monitor (§4.6.3).
      {M::kHeartRate, "", 147842, "MDC_ECG_HEART_RATE", "8867-4", "", "", "heartrate", {"/min"}},
      {M::kRrInterval, "", 147240, "MDC_ECG_TIME_PD_RR_GL", "", "", "", "", {"ms"}, S::kCompoundNumeric},
      // ECG (§4.6.4): the lead's own code comes from the series (mdcLead).
      {M::kEcgLead, "", 131328, "MDC_ECG_ELEC_POTL", "", "", "", "", {"mV", "uV"}, S::kRtsa},
      // Body temperature (§4.6.5): 8310-5 always, site LOINC as an extra coding.
      {M::kBodyTemperature, "", 150364, "MDC_TEMP_BODY", "8310-5", "", "", "bodytemp", {"Cel", "[degF]"}},
      {M::kBodyTemperature, "body", 150364, "MDC_TEMP_BODY", "8310-5", "", "", "bodytemp", {"Cel", "[degF]"}},
      {M::kBodyTemperature, "armpit", 188452, "MDC_TEMP_AXILLA", "8310-5", "", "8328-7", "bodytemp", {"Cel", "[degF]"}},
      {M::kBodyTemperature, "ear", 188428, "MDC_TEMP_EAR", "8310-5", "", "", "bodytemp", {"Cel", "[degF]"}},
      {M::kBodyTemperature, "finger", 188432, "MDC_TEMP_FINGER", "8310-5", "", "", "bodytemp", {"Cel", "[degF]"}},
      {M::kBodyTemperature, "gastro-intestinal-tract", 188456, "MDC_TEMP_GIT", "8310-5", "", "", "bodytemp",
       {"Cel", "[degF]"}},
      {M::kBodyTemperature, "mouth", 188424, "MDC_TEMP_ORAL", "8310-5", "", "8331-1", "bodytemp", {"Cel", "[degF]"}},
      {M::kBodyTemperature, "rectum", 188420, "MDC_TEMP_RECT", "8310-5", "", "8332-9", "bodytemp", {"Cel", "[degF]"}},
      {M::kBodyTemperature, "toe", 188448, "MDC_TEMP_TOE", "8310-5", "", "", "bodytemp", {"Cel", "[degF]"}},
      {M::kBodyTemperature, "tympanum", 150392, "MDC_TEMP_TYMP", "8310-5", "", "8333-7", "bodytemp",
       {"Cel", "[degF]"}},
      // Weight scale (§4.6.6).
      {M::kBodyWeight, "", 188736, "MDC_MASS_BODY_ACTUAL", "29463-7", "", "", "bodyweight", {"kg", "g", "[lb_av]"}},
      {M::kBodyHeight, "", 188740, "MDC_LEN_BODY_ACTUAL", "8302-2", "", "", "bodyheight", {"cm", "[in_i]"}},
      {M::kBmi, "", 188752, "MDC_RATIO_MASS_BODY_LEN_SQ", "39156-5", "", "", "bmi", {"kg/m2"}},
      // Glucose (§4.6.7): MDC by sample type, LOINC by sample type and unit.
      {M::kGlucoseConcentration, "", 160364, "MDC_CONC_GLU_UNDETERMINED_WHOLEBLOOD", "2339-0", "15074-8", "", "",
       {"mg/dL", "mmol/L"}},
      {M::kGlucoseConcentration, "capillary-whole-blood", 160184, "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD", "41653-7",
       "14743-9", "", "", {"mg/dL", "mmol/L"}},
      {M::kGlucoseConcentration, "capillary-plasma", 160188, "MDC_CONC_GLU_CAPILLARY_PLASMA", "41653-7", "14743-9",
       "", "", {"mg/dL", "mmol/L"}},
      {M::kGlucoseConcentration, "venous-whole-blood", 160192, "MDC_CONC_GLU_VENOUS_WHOLEBLOOD", "2339-0", "15074-8",
       "", "", {"mg/dL", "mmol/L"}},
      {M::kGlucoseConcentration, "venous-plasma", 160196, "MDC_CONC_GLU_VENOUS_PLASMA", "2345-7", "14749-6", "", "",
       {"mg/dL", "mmol/L"}},
      {M::kGlucoseConcentration, "arterial-whole-blood", 160200, "MDC_CONC_GLU_ARTERIAL_WHOLEBLOOD", "2339-0",
       "15074-8", "", "", {"mg/dL", "mmol/L"}},
      {M::kGlucoseConcentration, "arterial-plasma", 160204, "MDC_CONC_GLU_ARTERIAL_PLASMA", "2345-7", "14749-6", "",
       "", {"mg/dL", "mmol/L"}},
      {M::kGlucoseConcentration, "undetermined-whole-blood", 160364, "MDC_CONC_GLU_UNDETERMINED_WHOLEBLOOD",
       "2339-0", "15074-8", "", "", {"mg/dL", "mmol/L"}},
      {M::kGlucoseConcentration, "undetermined-plasma", 160368, "MDC_CONC_GLU_UNDETERMINED_PLASMA", "2345-7",
       "14749-6", "", "", {"mg/dL", "mmol/L"}},
      {M::kGlucoseConcentration, "interstitial-fluid", 160212, "MDC_CONC_GLU_ISF", "99504-3", "105272-9", "", "",
       {"mg/dL", "mmol/L"}},
      // Glucose context (§4.6.7): numeric context values.
      {M::kCarbohydrate, "", 8417764, "MDC_CTXT_GLU_CARB", "", "", "", "", {"g"}},
      {M::kMedication, "", 8417796, "MDC_CTXT_MEDICATION", "", "", "", "", {"mg", "mL"}},
      {M::kExerciseDuration, "", 8417760, "MDC_CTXT_GLU_EXERCISE", "", "", "", "", {"s"}},
      {M::kExerciseIntensity, "", 8417760, "MDC_CTXT_GLU_EXERCISE", "", "", "", "", {"%"}},
      {M::kHbA1c, "", 160220, "MDC_CONC_HBA1C", "4548-4", "", "", "", {"%"}},
  };
}

}  // namespace

const std::vector<MappingRow>& mappingRows() {
  static const std::vector<MappingRow> rows = buildRows();
  return rows;
}

const MappingRow* findMappingRow(Measure measure, std::string_view qualifier) {
  const MappingRow* fallback = nullptr;
  for (const MappingRow& row : mappingRows()) {
    if (row.measure != measure) continue;
    if (row.qualifier == qualifier) return &row;
    if (row.qualifier.empty() && !fallback) fallback = &row;
  }
  return fallback;
}

std::string_view unitDisplay(std::string_view ucum) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 22> kLabels{{
      {"mm[Hg]", "mmHg"}, {"kPa", "kPa"}, {"/min", "beats/minute"}, {"%", "%"}, {"Cel", "C"},
      {"[degF]", "F"}, {"kg", "kg"}, {"g", "g"}, {"[lb_av]", "lb"}, {"cm", "cm"}, {"[in_i]", "in"},
      {"m", "m"}, {"kg/m2", "kg/m2"}, {"mg/dL", "mg/dL"}, {"mmol/L", "mmol/L"}, {"ms", "ms"},
      {"s", "s"}, {"mV", "mV"}, {"uV", "uV"}, {"mg", "mg"}, {"mL", "mL"}, {"mg/dL/min", "mg/dL/min"},
  }};
  for (const auto& [code, label] : kLabels) {
    if (code == ucum) return label;
  }
  return ucum;
}

bool isMolarUnit(std::string_view ucum) { return ucum == "mmol/L" || ucum == "mol/L"; }

}  // namespace rpm::fhir
