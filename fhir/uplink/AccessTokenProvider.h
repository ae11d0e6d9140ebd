// AccessTokenProvider: the Authorization header for requests to the FHIR server.
#pragma once

#include <memory>
#include <string>

#include "fhir/uplink/HttpTransport.h"
#include "gateway/model/Status.h"
#include "gateway/ports/Clock.h"

namespace rpm::fhir {

class AccessTokenProvider {
 public:
  virtual ~AccessTokenProvider() = default;
  // "Bearer <token>", or empty when the server needs no header (auth none,
  // mutual TLS). kUnauthorized / kUnavailable when no token can be had.
  virtual Result<std::string> authorizationHeader() = 0;
  // Forget the cached token after a 401, so the next call fetches a new one.
  virtual void invalidate() = 0;
};

// auth = none or mtls: no header.
std::unique_ptr<AccessTokenProvider> makeNoAuthorization();
// auth = bearer: a static token read once from a secret file.
std::unique_ptr<AccessTokenProvider> makeStaticBearer(std::string token);

// SMART Backend Services (client_credentials + private_key_jwt).
struct SmartOptions {
  std::string fhirBaseUrl;
  std::string tokenUrl;  // empty: discovered from <base>/.well-known/smart-configuration
  std::string clientId;
  std::string keyId;     // JWT "kid"
  std::string privateKeyPem;  // RSA (RS384) or EC P-384 (ES384)
  std::string scopes;
  std::chrono::seconds refreshMargin{60};  // renew this long before expiry
};

// Fails with kConfigInvalid if the key is neither RSA nor EC P-384.
Result<std::unique_ptr<AccessTokenProvider>> makeSmartBackendServices(SmartOptions options, HttpTransport& transport,
                                                                      const Clock& clock);

// Builds a signed client assertion (exposed for tests): iss = sub = clientId,
// aud = tokenUrl, exp = now + 5 min at most, unique jti, kid header.
Result<std::string> buildClientAssertion(const SmartOptions& options, const std::string& tokenUrl, UtcInstant now);

}  // namespace rpm::fhir
