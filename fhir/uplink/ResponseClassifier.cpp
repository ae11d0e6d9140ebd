#include "fhir/uplink/ResponseClassifier.h"

#include <nlohmann/json.hpp>

namespace rpm::fhir {

std::string operationOutcomeSummary(const std::string& json) {
  auto doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || doc.value("resourceType", "") != "OperationOutcome") return "";
  std::string out;
  if (!doc.contains("issue") || !doc["issue"].is_array()) return "";
  for (const auto& issue : doc["issue"]) {
    if (!issue.is_object()) continue;
    // details.text is the human-readable statement of the problem; diagnostics adds context.
    std::string text;
    if (issue.contains("details") && issue["details"].is_object() && issue["details"].contains("text") &&
        issue["details"]["text"].is_string()) {
      text = issue["details"]["text"].get<std::string>();
    }
    if (issue.contains("diagnostics") && issue["diagnostics"].is_string()) {
      std::string d = issue["diagnostics"].get<std::string>();
      text = text.empty() ? d : text + " (" + d + ")";
    }
    if (text.empty() && issue.contains("code") && issue["code"].is_string()) text = issue["code"].get<std::string>();
    if (text.empty()) continue;
    if (!out.empty()) out += "; ";
    out += text;
  }
  if (out.size() > 1000) out.resize(1000);
  return out;
}

Classification classifyStatus(long status, std::optional<std::chrono::seconds> retryAfter,
                              const std::string& operationOutcome, std::chrono::seconds retryAfterCap) {
  Classification c;
  std::string detail = operationOutcomeSummary(operationOutcome);
  c.reason = "HTTP " + std::to_string(status) + (detail.empty() ? "" : ": " + detail);
  if (status == 200 || status == 201) {
    c.disposition = Disposition::kDelivered;
  } else if (status == 429 || status == 503) {
    c.disposition = Disposition::kRetryAfter;
    auto wait = retryAfter.value_or(std::chrono::seconds(0));
    if (wait < std::chrono::seconds(0)) wait = std::chrono::seconds(0);
    if (wait > retryAfterCap) wait = retryAfterCap;
    c.retryAfter = wait;
  } else if (status == 401) {
    c.disposition = Disposition::kReauthenticate;
  } else if (status == 403 || status == 404 || status == 405) {
    c.disposition = Disposition::kConfigError;
  } else if (status == 409 || status == 412) {
    c.disposition = Disposition::kResolveBySearch;
  } else if (status == 413) {
    c.disposition = Disposition::kSplit;
  } else if (status == 400 || status == 410 || status == 422 || (status >= 400 && status < 500)) {
    // Other 4xx: the server refused this content for good.
    c.disposition = Disposition::kReject;
  } else {
    c.disposition = Disposition::kRetry;  // 5xx and anything unexpected
  }
  return c;
}

}  // namespace rpm::fhir
