#include <catch2/catch.hpp>

#include "fhir/FhirJson.h"

using namespace rpm;
using namespace rpm::fhir;

TEST_CASE("decimals are written with exactly the device's digits", "[unit][fhir]") {
  Json j;
  j["a"] = decimalNumber(*Decimal::parse("2.00"));
  j["b"] = decimalNumber(*Decimal::parse("120.0"));
  j["c"] = decimalNumber(*Decimal::parse("-0.20"));
  j["d"] = decimalNumber(Decimal(2, 2));
  j["e"] = decimalNumber(*Decimal::parse("0.00095"));
  CHECK(dumpFhir(j) == R"({"a":2.00,"b":120.0,"c":-0.20,"d":200,"e":0.00095})");
}

TEST_CASE("pretty output keeps exact decimals too", "[unit][fhir]") {
  Json j;
  j["value"] = decimalNumber(*Decimal::parse("37.60"));
  CHECK(dumpFhir(j, 2) == "{\n  \"value\": 37.60\n}");
}

TEST_CASE("device text cannot forge a decimal marker", "[unit][fhir]") {
  Json j;
  j["manufacturer"] = fhirString(std::string("\x01") + "1,\"x\":2");
  j["model"] = fhirString("tab\tok\x7f");
  CHECK(dumpFhir(j) == R"({"manufacturer":"1,\"x\":2","model":"tab\tok"})");
}

TEST_CASE("keys keep FHIR element order, not alphabetical order", "[unit][fhir]") {
  Json j;
  j["resourceType"] = "Observation";
  j["status"] = "final";
  j["code"] = "x";
  CHECK(dumpFhir(j) == R"({"resourceType":"Observation","status":"final","code":"x"})");
}

TEST_CASE("invalid UTF-8 from a device is replaced, never thrown", "[unit][fhir]") {
  Json j;
  j["s"] = fhirString("ab\xff");
  CHECK_NOTHROW(dumpFhir(j));
  CHECK(dumpFhir(j) == "{\"s\":\"ab\xEF\xBF\xBD\"}");
}

TEST_CASE("the byte assertions catch a planted float serializer that loses trailing zeros", "[unit][fhir]") {
  // The bug these tests guard against: writing clinical values as doubles.
  Json planted;
  planted["value"] = 2.00;
  Json exact;
  exact["value"] = decimalNumber(*Decimal::parse("2.00"));
  const std::string expected = R"({"value":2.00})";
  CHECK(dumpFhir(planted) != expected);
  CHECK(dumpFhir(exact) == expected);
}
