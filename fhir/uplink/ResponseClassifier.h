// ResponseClassifier: what one FHIR server status means for a reading.
// Pure and table-tested; the engine acts on the result (it owns retries).
// Source: shared reliability-and-security.md §2.4 and the uplink issue.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace rpm::fhir {

enum class Disposition {
  kDelivered,        // 200/201: stored, or already there
  kRetry,            // transient: back off (5xx, 409 after search, network)
  kRetryAfter,       // 429/503: wait the server's Retry-After, then back off
  kReject,           // 400/410/422: dead-letter this entry with the server's reason
  kReauthenticate,   // 401: drop the token, authenticate once, resend
  kConfigError,      // 403/404/405: the destination is misconfigured; stop and report, no busy loop
  kResolveBySearch,  // 409/412: search by identifier to learn what the server holds
  kSplit,            // 413: resend in smaller batches (a single entry: reject)
};

struct Classification {
  Disposition disposition = Disposition::kRetry;
  std::optional<std::chrono::seconds> retryAfter;  // kRetryAfter: clamped to [0, cap]
  std::string reason;  // "HTTP 422: <OperationOutcome diagnostics>"; no resource content
};

// status: HTTP status of the response or of one batch entry. retryAfter: the
// response's Retry-After. operationOutcome: the entry's or response's
// OperationOutcome JSON, if any (its issue diagnostics become the reason).
Classification classifyStatus(long status, std::optional<std::chrono::seconds> retryAfter,
                              const std::string& operationOutcome, std::chrono::seconds retryAfterCap);

// The diagnostics of an OperationOutcome, joined; empty if none or unparsable.
// Diagnostics name rules and paths; the uplink passes them to the dead-letter
// table, never to the log.
std::string operationOutcomeSummary(const std::string& json);

}  // namespace rpm::fhir
