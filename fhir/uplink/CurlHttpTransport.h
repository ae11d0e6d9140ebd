// CurlHttpTransport: HttpTransport over libcurl (the only code that includes
// libcurl). One easy handle, reused, so connections are kept alive; HTTP/2
// where offered over TLS; gzip responses; optional gzip request bodies.
// TLS peer and host verification are always on, TLS 1.2 at least.
#pragma once

#include <memory>
#include <string>

#include "fhir/uplink/HttpTransport.h"

namespace rpm::fhir {

struct CurlTransportOptions {
  long connectTimeoutMs = 10000;
  long requestTimeoutMs = 30000;
  std::string caFile;          // empty: the system CA store
  std::string clientCertFile;  // mutual TLS (PEM)
  std::string clientKeyFile;
  std::string userAgent = "rpm-gateway";
};

class CurlHttpTransport final : public HttpTransport {
 public:
  explicit CurlHttpTransport(CurlTransportOptions options);
  ~CurlHttpTransport() override;
  CurlHttpTransport(const CurlHttpTransport&) = delete;
  CurlHttpTransport& operator=(const CurlHttpTransport&) = delete;

  HttpOutcome send(const HttpRequest& request) override;

  // Connections opened so far (tests check keep-alive with it).
  long connectionsOpenedForTest() const { return connectionsOpened_; }

 private:
  CurlTransportOptions options_;
  void* curl_;  // CURL*, opaque so callers need no curl headers
  long connectionsOpened_ = 0;
};

// gzip-compresses data (RFC 1952). Empty optional if zlib fails.
std::optional<std::string> gzipCompress(const std::string& data);

}  // namespace rpm::fhir
