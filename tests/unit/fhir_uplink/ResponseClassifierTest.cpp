#include <catch2/catch.hpp>

#include "fhir/uplink/ResponseClassifier.h"

using namespace rpm::fhir;
using std::chrono::seconds;

TEST_CASE("Every server status maps to the documented disposition", "[unit][uplink]") {
  struct Row { long status; Disposition expected; };
  for (Row r : {Row{200, Disposition::kDelivered}, Row{201, Disposition::kDelivered}, Row{400, Disposition::kReject},
                Row{401, Disposition::kReauthenticate}, Row{403, Disposition::kConfigError},
                Row{404, Disposition::kConfigError}, Row{405, Disposition::kConfigError},
                Row{409, Disposition::kResolveBySearch}, Row{410, Disposition::kReject},
                Row{412, Disposition::kResolveBySearch}, Row{413, Disposition::kSplit},
                Row{422, Disposition::kReject}, Row{429, Disposition::kRetryAfter}, Row{500, Disposition::kRetry},
                Row{502, Disposition::kRetry}, Row{503, Disposition::kRetryAfter}, Row{504, Disposition::kRetry},
                Row{418, Disposition::kReject}, Row{302, Disposition::kRetry}}) {
    INFO(r.status);
    CHECK(classifyStatus(r.status, std::nullopt, "", seconds(3600)).disposition == r.expected);
  }
}

TEST_CASE("Retry-After is honoured and clamped to the cap, never negative", "[unit][uplink]") {
  CHECK(classifyStatus(429, seconds(30), "", seconds(3600)).retryAfter == seconds(30));
  CHECK(classifyStatus(503, seconds(86400), "", seconds(3600)).retryAfter == seconds(3600));
  CHECK(classifyStatus(503, seconds(-5), "", seconds(3600)).retryAfter == seconds(0));
  CHECK(classifyStatus(429, std::nullopt, "", seconds(3600)).retryAfter == seconds(0));
}

TEST_CASE("A rejection carries the OperationOutcome's diagnostics as its reason", "[unit][uplink]") {
  std::string oo = R"({"resourceType":"OperationOutcome","issue":[
      {"severity":"error","code":"invariant","diagnostics":"vs-2: value or dataAbsentReason required"},
      {"severity":"error","code":"required","details":{"text":"Observation.subject: minimum required = 1"}}]})";
  auto c = classifyStatus(422, std::nullopt, oo, seconds(3600));
  CHECK(c.disposition == Disposition::kReject);
  CHECK(c.reason ==
        "HTTP 422: vs-2: value or dataAbsentReason required; Observation.subject: minimum required = 1");
  CHECK(classifyStatus(400, std::nullopt, "not json", seconds(3600)).reason == "HTTP 400");
  CHECK(operationOutcomeSummary(R"({"resourceType":"Patient"})").empty());
}
