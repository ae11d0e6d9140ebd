// MappingTable: one row per measured quantity (and qualifier such as a
// temperature site or glucose sample type): MDC code, LOINC, UCUM units and
// profiles. A new kind of measurement adds rows here, not code.
// Sources: shared health-devices-to-fhir.md §4.6; PHD IG; FHIR R4 vital signs.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "gateway/model/Reading.h"

namespace rpm::fhir {

inline constexpr std::string_view kMdcSystem = "urn:iso:std:iso:11073:10101";
inline constexpr std::string_view kLoincSystem = "http://loinc.org";
inline constexpr std::string_view kUcumSystem = "http://unitsofmeasure.org";
inline constexpr std::string_view kPhdProfileBase = "http://hl7.org/fhir/uv/phd/StructureDefinition/";
inline constexpr std::string_view kVitalProfileBase = "http://hl7.org/fhir/StructureDefinition/";

// How the observation is shaped (selects the PHD profile).
enum class PhdShape : std::uint8_t { kNumeric, kCompoundNumeric, kCodedEnumeration, kRtsa };

struct MappingRow {
  Measure measure;
  std::string_view qualifier;    // "" default; a temperature site or glucose sample type token
  std::uint32_t mdc;             // 32-bit MDC code of Observation.code
  std::string_view mdcDisplay;   // MDC reference id
  std::string_view loinc;        // LOINC for mass/default units; "" none
  std::string_view loincMolar;   // LOINC when the unit is molar (mmol/L); "" none
  std::string_view extraLoinc;   // an extra, more specific LOINC (temperature site); "" none
  std::string_view vitalProfile; // R4 vital-signs profile id ("heartrate"); "" not a vital sign
  std::vector<std::string_view> units;  // UCUM codes accepted; the first is preferred
  PhdShape shape = PhdShape::kNumeric;
};

// The row for a measure and qualifier; falls back to the measure's default
// row (qualifier "") when the qualifier has no row of its own. nullptr when
// the measure has no FHIR mapping (cuff pressure, energy expended).
const MappingRow* findMappingRow(Measure measure, std::string_view qualifier = {});

// Every row (tests walk the table).
const std::vector<MappingRow>& mappingRows();

// Human-readable unit label for Quantity.unit ("mm[Hg]" -> "mmHg").
std::string_view unitDisplay(std::string_view ucum);

// True when the UCUM code is molar (glucose LOINC choice).
bool isMolarUnit(std::string_view ucum);

}  // namespace rpm::fhir
