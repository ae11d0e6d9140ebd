// FhirJson: JSON documents for FHIR with exact decimals.
//
// nlohmann/json keeps numbers as double and cannot write 2.00, so a decimal
// is stored as a marker string (U+0001 + its text) and dumpFhir() writes the
// raw digits in its place. Every other string passes through fhirString(),
// which drops control characters (FHIR strings allow none but tab, CR, LF),
// so no device-supplied text can forge a marker.
// Output rules: docs/decisions/0020-fhir-json-output.md.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gateway/model/Decimal.h"

namespace rpm::fhir {

// Keys keep insertion order: resources are built in FHIR element order.
using Json = nlohmann::ordered_json;

// A JSON number with exactly the decimal's digits ("2.00" stays 2.00).
Json decimalNumber(const Decimal& value);

// A JSON string with control characters (other than tab, CR, LF) removed.
Json fhirString(std::string_view text);

// Serializes with decimals written as numbers. indent < 0: compact, no
// whitespace (what is uploaded); otherwise pretty with that indent.
std::string dumpFhir(const Json& document, int indent = -1);

}  // namespace rpm::fhir
