// HttpTransport: one HTTP exchange with the FHIR server or its token endpoint.
// The seam between the uplink's logic and libcurl, so the logic is tested
// against scripted transports and the curl adapter against a real server.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gateway/model/Status.h"

namespace rpm::fhir {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool gzipBody = false;  // compress the body and send Content-Encoding: gzip
};

struct HttpResponse {
  long status = 0;
  std::string body;  // decompressed
  std::string contentType;
  std::string location;  // Location header (created resource), "" if none
  std::optional<std::chrono::seconds> retryAfter;  // parsed and clamped to >= 0
};

// Whether the server may have acted on a request that failed.
enum class DeliveryCertainty {
  kNotSent,    // failed before the request left (DNS, connect, TLS handshake): safe to resend
  kUncertain,  // sent, but no complete response (timeout, reset): the server may have committed it
};

struct TransportError {
  DeliveryCertainty certainty = DeliveryCertainty::kNotSent;
  ErrorKind kind = ErrorKind::kUnavailable;  // kUnavailable, kTimeout, kIo, kRejected (TLS peer refused)
  std::string detail;                        // library text: names the failure, never data
};

using HttpOutcome = std::variant<HttpResponse, TransportError>;

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Performs one request. Never throws.
  virtual HttpOutcome send(const HttpRequest& request) = 0;
};

}  // namespace rpm::fhir
