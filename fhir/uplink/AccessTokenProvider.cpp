#include "fhir/uplink/AccessTokenProvider.h"

#include <jwt.h>
#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <mutex>
#include <optional>

namespace rpm::fhir {
namespace {

class NoAuthorization final : public AccessTokenProvider {
 public:
  Result<std::string> authorizationHeader() override { return std::string(); }
  void invalidate() override {}
};

class StaticBearer final : public AccessTokenProvider {
 public:
  explicit StaticBearer(std::string token) : token_(std::move(token)) {}
  Result<std::string> authorizationHeader() override { return "Bearer " + token_; }
  void invalidate() override {}  // a static token cannot be renewed; the 401 surfaces as a config error

 private:
  std::string token_;
};

enum class KeyAlgorithm { kRs384, kEs384 };

std::optional<KeyAlgorithm> algorithmOf(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return std::nullopt;
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!key) return std::nullopt;
  std::optional<KeyAlgorithm> alg;
  if (EVP_PKEY_base_id(key) == EVP_PKEY_RSA && EVP_PKEY_get_bits(key) >= 2048) {
    alg = KeyAlgorithm::kRs384;
  } else if (EVP_PKEY_base_id(key) == EVP_PKEY_EC) {
    char curve[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, "group", curve, sizeof curve, &len) == 1 &&
        std::string(curve) == "secp384r1") {
      alg = KeyAlgorithm::kEs384;
    }
  }
  EVP_PKEY_free(key);
  return alg;
}

std::string randomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) std::abort();
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string formEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

class SmartBackendServices final : public AccessTokenProvider {
 public:
  SmartBackendServices(SmartOptions options, HttpTransport& transport, const Clock& clock)
      : options_(std::move(options)), transport_(transport), clock_(clock) {}

  Result<std::string> authorizationHeader() override {
    std::lock_guard<std::mutex> lock(mutex_);  // single-flight refresh
    if (token_ && clock_.monotonicNow() < renewAt_) return "Bearer " + *token_;
    auto endpoint = tokenEndpoint();
    if (!endpoint.isOk()) return endpoint.status();
    auto assertion = buildClientAssertion(options_, *endpoint, clock_.now());
    if (!assertion.isOk()) return assertion.status();
    HttpRequest req;
    req.method = "POST";
    req.url = *endpoint;
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
    req.body = "grant_type=client_credentials&scope=" + formEncode(options_.scopes) +
               "&client_assertion_type=" + formEncode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
               "&client_assertion=" + formEncode(*assertion);
    HttpOutcome outcome = transport_.send(req);
    if (auto* err = std::get_if<TransportError>(&outcome)) {
      return Status(err->kind, "SMART token endpoint: " + err->detail);
    }
    const HttpResponse& resp = std::get<HttpResponse>(outcome);
    if (resp.status == 400 || resp.status == 401 || resp.status == 403) {
      return Status(ErrorKind::kUnauthorized,
                    "SMART token endpoint refused the client (HTTP " + std::to_string(resp.status) + ")");
    }
    if (resp.status != 200) {
      return Status(ErrorKind::kUnavailable, "SMART token endpoint answered HTTP " + std::to_string(resp.status));
    }
    auto json = nlohmann::json::parse(resp.body, nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("access_token") ||
        !json["access_token"].is_string()) {
      return Status(ErrorKind::kMalformedPayload, "SMART token endpoint: response has no access_token");
    }
    long expiresIn = 300;
    if (json.contains("expires_in") && json["expires_in"].is_number_integer()) {
      expiresIn = json["expires_in"].get<long>();
    }
    token_ = json["access_token"].get<std::string>();
    auto lifetime = std::chrono::seconds(expiresIn) - options_.refreshMargin;
    if (lifetime < std::chrono::seconds(0)) lifetime = std::chrono::seconds(0);
    renewAt_ = clock_.monotonicNow() + lifetime;
    return "Bearer " + *token_;
  }

  void invalidate() override {
    std::lock_guard<std::mutex> lock(mutex_);
    token_.reset();
  }

 private:
  Result<std::string> tokenEndpoint() {
    if (!options_.tokenUrl.empty()) return options_.tokenUrl;
    if (discovered_) return *discovered_;
    HttpRequest req;
    req.url = options_.fhirBaseUrl + "/.well-known/smart-configuration";
    req.headers = {{"Accept", "application/json"}};
    HttpOutcome outcome = transport_.send(req);
    if (auto* err = std::get_if<TransportError>(&outcome)) {
      return Status(err->kind, "SMART discovery: " + err->detail);
    }
    const HttpResponse& resp = std::get<HttpResponse>(outcome);
    auto json = nlohmann::json::parse(resp.body, nullptr, false);
    if (resp.status != 200 || json.is_discarded() || !json.is_object() || !json.contains("token_endpoint") ||
        !json["token_endpoint"].is_string()) {
      return Status(ErrorKind::kConfigInvalid,
                    "SMART discovery: .well-known/smart-configuration has no token_endpoint (HTTP " +
                        std::to_string(resp.status) + ")");
    }
    discovered_ = json["token_endpoint"].get<std::string>();
    return *discovered_;
  }

  SmartOptions options_;
  HttpTransport& transport_;
  const Clock& clock_;
  std::mutex mutex_;
  std::optional<std::string> token_;
  std::optional<std::string> discovered_;
  std::chrono::steady_clock::time_point renewAt_{};
};

}  // namespace

std::unique_ptr<AccessTokenProvider> makeNoAuthorization() { return std::make_unique<NoAuthorization>(); }

std::unique_ptr<AccessTokenProvider> makeStaticBearer(std::string token) {
  return std::make_unique<StaticBearer>(std::move(token));
}

Result<std::string> buildClientAssertion(const SmartOptions& options, const std::string& tokenUrl, UtcInstant now) {
  auto alg = algorithmOf(options.privateKeyPem);
  if (!alg) {
    return Status(ErrorKind::kConfigInvalid,
                  "SMART client key: not an RSA (2048+ bit, RS384) or EC P-384 (ES384) private key in PEM");
  }
  jwt_t* jwt = nullptr;
  if (jwt_new(&jwt) != 0) return Status(ErrorKind::kInternal, "libjwt: cannot allocate a token");
  long issuedAt = static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  bool ok = jwt_add_grant(jwt, "iss", options.clientId.c_str()) == 0 &&
            jwt_add_grant(jwt, "sub", options.clientId.c_str()) == 0 &&
            jwt_add_grant(jwt, "aud", tokenUrl.c_str()) == 0 &&
            jwt_add_grant(jwt, "jti", randomHex(16).c_str()) == 0 && jwt_add_grant_int(jwt, "iat", issuedAt) == 0 &&
            jwt_add_grant_int(jwt, "exp", issuedAt + 240) == 0 &&  // SMART: at most 5 minutes ahead
            jwt_add_header(jwt, "kid", options.keyId.c_str()) == 0 &&
            jwt_set_alg(jwt, *alg == KeyAlgorithm::kRs384 ? JWT_ALG_RS384 : JWT_ALG_ES384,
                        reinterpret_cast<const unsigned char*>(options.privateKeyPem.data()),
                        static_cast<int>(options.privateKeyPem.size())) == 0;
  char* encoded = ok ? jwt_encode_str(jwt) : nullptr;
  jwt_free(jwt);
  if (!encoded) return Status(ErrorKind::kInternal, "libjwt: could not sign the client assertion");
  std::string out(encoded);
  std::free(encoded);  // libjwt 1.10 allocates with malloc
  return out;
}

Result<std::unique_ptr<AccessTokenProvider>> makeSmartBackendServices(SmartOptions options, HttpTransport& transport,
                                                                      const Clock& clock) {
  if (!algorithmOf(options.privateKeyPem)) {
    return Status(ErrorKind::kConfigInvalid,
                  "SMART client key: not an RSA (2048+ bit, RS384) or EC P-384 (ES384) private key in PEM");
  }
  if (options.clientId.empty() || options.keyId.empty()) {
    return Status(ErrorKind::kConfigInvalid, "SMART: fhir.client_id and fhir.key_id are required");
  }
  return std::unique_ptr<AccessTokenProvider>(new SmartBackendServices(std::move(options), transport, clock));
}

}  // namespace rpm::fhir
