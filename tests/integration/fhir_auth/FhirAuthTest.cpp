// FhirUplink + CurlHttpTransport + AccessTokenProvider against the FHIR test
// server's authorization and TLS modes (tests/services/with-services.sh
// --fhir=smart|tls|mtls|http): SMART Backend Services with RS384 and ES384 keys
// made at test time, token renewal and re-authentication, scope enforcement,
// a static bearer token, mutual TLS, and TLS failures that must send nothing.
#include <catch2/catch.hpp>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "buffer/SqliteBuffer.h"
#include "drivers/registry/DriverRegistry.h"
#include "fhir/FixedOffsetZone.h"
#include "fhir/uplink/CurlHttpTransport.h"
#include "fhir/uplink/FhirUplink.h"
#include "gateway/secrets/SecretFile.h"
#include "gateway/identity/Identifiers.h"
#include "gateway/log/Log.h"
#include "tests/support/FakeClock.h"
#include "tests/support/FhirServerControl.h"
#include "tests/support/LogCanary.h"
#include "tests/support/UplinkUnderTest.h"
#include "tests/unit/buffer/BufferFixtures.h"

using namespace rpm;
using namespace rpm::fhir;
using nlohmann::json;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

using Control = rpm::test::FhirServerControl;

// A few decodable payloads from the decoder corpus: temperature, blood pressure, weight, pulse oximetry.
std::vector<Reading> someReadings() {
  std::vector<Reading> out;
  int n = 0;
  for (const char* name : {"2a1c-temperature-all", "2a35-bp-all", "2a9d-weight-imperial-all", "2a5e-plx-spot-all"}) {
    std::ifstream in(std::string(RPM_SOURCE_DIR) + "/tests/fuzz/corpus/" + name, std::ios::binary);
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(bytes.size() >= 3);
    std::uint16_t uuid = static_cast<std::uint16_t>(bytes[0] | (bytes[1] << 8));
    const DriverDescriptor* d = drivers::driverForCharacteristic(uuid);
    REQUIRE(d);
    DecodeContext ctx;
    char address[32];
    std::snprintf(address, sizeof address, "bt:B0495F0020%02X", n);
    ctx.device = *DeviceKey::parse(address);
    ctx.receivedAt = UtcInstant(std::chrono::seconds(1767225600 + 60 * n));
    ctx.utcOffsetMinutes = 60;
    if (bytes[2] & 1) ctx.sessionStart = LocalDateTime{2025, 12, 31, 20, 0, 0, 0};
    auto decoded = d->decode(uuid, std::vector<std::uint8_t>(bytes.begin() + 3, bytes.end()), ctx);
    INFO(name);
    REQUIRE(decoded.isOk());
    for (auto r : decoded->readings) {
      r.subject = "Patient/123";
      r.id = computeReadingId(r);
      out.push_back(r);
    }
    ++n;
  }
  return out;
}

std::string base64url(const std::vector<unsigned char>& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    for (int k = 18; k >= 0; k -= 6) out.push_back(kAlphabet[(v >> k) & 63]);
  }
  if (i + 1 == bytes.size()) {
    unsigned v = bytes[i] << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (i + 2 == bytes.size()) {
    unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

std::string bnParam(EVP_PKEY* key, const char* name, int width = 0) {
  BIGNUM* bn = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(key, name, &bn) == 1);
  std::vector<unsigned char> bytes(width > 0 ? width : BN_num_bytes(bn));
  REQUIRE(BN_bn2binpad(bn, bytes.data(), static_cast<int>(bytes.size())) == static_cast<int>(bytes.size()));
  BN_free(bn);
  return base64url(bytes);
}

// A client key made now: the private key in PEM (for the gateway) and its public JWK (for the server).
struct ClientKey {
  std::string pem;
  json jwk;
};

ClientKey makeKey(const std::string& alg, const std::string& kid) {
  EVP_PKEY* key = alg == "RS384" ? EVP_RSA_gen(2048) : EVP_EC_gen("P-384");
  REQUIRE(key);
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  ClientKey k;
  k.pem.assign(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  if (alg == "RS384") {
    k.jwk = {{"kty", "RSA"}, {"n", bnParam(key, OSSL_PKEY_PARAM_RSA_N)}, {"e", bnParam(key, OSSL_PKEY_PARAM_RSA_E)}};
  } else {
    k.jwk = {{"kty", "EC"}, {"crv", "P-384"}, {"x", bnParam(key, OSSL_PKEY_PARAM_EC_PUB_X, 48)},
             {"y", bnParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, 48)}};
  }
  k.jwk["kid"] = kid;
  k.jwk["alg"] = alg;
  EVP_PKEY_free(key);
  return k;
}

// The key goes through a secret file with strict permissions, as in production.
std::string keyThroughSecretFile(const rpm::test::TempDir& dir, const std::string& pem) {
  std::string path = dir.file("client-key.pem");
  std::ofstream(path) << pem;
  ::chmod(path.c_str(), 0600);
  auto secret = rpm::secrets::readSecret(path, "fhir-client-key");
  REQUIRE(secret.isOk());
  return *secret;
}

UtcInstant wallClockNow() {
  return UtcInstant(std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch()));
}

// The uplink as the daemon wires it. JWT iat/exp come from the wall clock; the
// token cache's expiry from the monotonic one, which tests advance.
struct UplinkUnderTest : rpm::test::UplinkUnderTest {
  explicit UplinkUnderTest(CurlTransportOptions transportOptions = {})
      : rpm::test::UplinkUnderTest({transportOptions, wallClockNow(), "DC:A6:32:00:00:02", "SN0002"}) {}

  void useSmart(SmartOptions options) {
    options.fhirBaseUrl = baseUrl();
    auto made = makeSmartBackendServices(std::move(options), *transport, clock);
    REQUIRE(made.isOk());
    auth = std::move(*made);
  }
};

std::size_t observationsIn(const std::vector<DeliveryOutcome>& outcomes) {
  std::size_t n = 0;
  for (const auto& o : outcomes) n += o.receipt.resourceIds.size();
  return n;
}

void requireAll(const std::vector<DeliveryOutcome>& outcomes, DeliveryVerdict verdict) {
  for (const auto& o : outcomes) {
    INFO(o.reason.toString() << " " << o.rejection.reason);
    CHECK(o.verdict == verdict);
  }
}

const char* kDefaultScopes = "system/Observation.crs system/Device.crs";

json jwks(const std::vector<json>& keys) { return {{"keys", keys}}; }

}  // namespace

TEST_CASE("SMART: a client signing RS384 or ES384 delivers every reading once, the token found by discovery",
          "[smart]") {
  Control control;
  for (const std::string alg : {"RS384", "ES384"}) {
    DYNAMIC_SECTION(alg) {
      control.reset();
      ClientKey key = makeKey(alg, "key-" + alg);
      control.call("POST", "/smart/clients", {{"clientId", "gateway-1"}, {"jwks", jwks({key.jwk})}});
      UplinkUnderTest u;
      u.useSmart(SmartOptions{"", "", "gateway-1", "key-" + alg, keyThroughSecretFile(u.dir, key.pem), kDefaultScopes});
      u.build();
      auto readings = someReadings();
      auto out = u.deliver(readings);
      requireAll(out, DeliveryVerdict::kDelivered);
      CHECK(control.count("Observation") == observationsIn(out));
      CHECK(control.countRequests("GET", "/.well-known/smart-configuration") == 1);
      CHECK(control.countRequests("POST", "/auth/token", 200) == 1);
      // Every FHIR request carried the token; none was refused.
      for (const auto& r : control.requests()) {
        std::string url = r.value("url", "");
        if (url.rfind("/auth/", 0) == 0 || url.rfind("/.well-known/", 0) == 0) continue;
        INFO(url);
        CHECK(r["headers"].value("authorization", "").rfind("Bearer ", 0) == 0);
        CHECK((r["status"] == 200 || r["status"] == 201));  // batch-responses; Devices created
      }
    }
  }
}

TEST_CASE("SMART: SMART v1 scopes (read and write) and a configured token URL deliver too", "[smart]") {
  Control control;
  control.reset();
  ClientKey key = makeKey("ES384", "k1");
  control.call("POST", "/smart/clients", {{"clientId", "gw"}, {"jwks", jwks({key.jwk})}});
  UplinkUnderTest u;
  u.useSmart(SmartOptions{"", env("RPM_TEST_FHIR_BASE_URL") + "/auth/token", "gw", "k1", key.pem,
                          "system/Observation.read system/Observation.write system/Device.read system/Device.write"});
  u.build();
  auto out = u.deliver(someReadings());
  requireAll(out, DeliveryVerdict::kDelivered);
  CHECK(control.count("Observation") == observationsIn(out));
  CHECK(control.countRequests("GET", "/.well-known/smart-configuration") == 0);  // no discovery with a token URL
}

TEST_CASE("SMART: a token is renewed shortly before it expires, without a 401", "[smart]") {
  Control control;
  control.reset();
  ClientKey key = makeKey("ES384", "k1");
  control.call("POST", "/smart/clients", {{"clientId", "gw"}, {"jwks", jwks({key.jwk})}, {"expiresIn", 120}});
  UplinkUnderTest u;
  SmartOptions o{"", "", "gw", "k1", key.pem, kDefaultScopes};
  o.refreshMargin = std::chrono::seconds(60);
  u.useSmart(o);
  u.build();
  auto readings = someReadings();
  requireAll(u.deliver({readings[0]}), DeliveryVerdict::kDelivered);
  // Only the monotonic clock (the token cache's) moves: the wall clock, which signs the assertion's exp, stays
  // the server's, or the assertion would look more than five minutes ahead.
  u.clock.advance(std::chrono::seconds(59));  // still inside expires_in - margin: the cached token serves
  u.clock.setWallClock(wallClockNow());
  requireAll(u.deliver({readings[1]}), DeliveryVerdict::kDelivered);
  CHECK(control.countRequests("POST", "/auth/token") == 1);
  u.clock.advance(std::chrono::seconds(2));  // 61 s: within the margin of expiry, renewed before use
  u.clock.setWallClock(wallClockNow());
  requireAll(u.deliver({readings[2]}), DeliveryVerdict::kDelivered);
  CHECK(control.countRequests("POST", "/auth/token", 200) == 2);
  CHECK(control.countRequests("POST", "/", 401) + control.countRequests("GET", "/", 401) == 0);
  CHECK(u.uplink->counters().reauthentications == 0);
}

TEST_CASE("SMART: a 401 for a token the server expired re-authenticates once and delivers", "[smart]") {
  Control control;
  control.reset();
  ClientKey key = makeKey("RS384", "k1");
  control.call("POST", "/smart/clients", {{"clientId", "gw"}, {"jwks", jwks({key.jwk})}});
  UplinkUnderTest u;
  u.useSmart(SmartOptions{"", "", "gw", "k1", key.pem, kDefaultScopes});
  u.build();
  auto readings = someReadings();
  requireAll(u.deliver({readings[0]}), DeliveryVerdict::kDelivered);
  control.call("POST", "/smart/tokens/expire");  // expired or revoked at the server; the gateway's cache still holds it
  auto out = u.deliver({readings[1], readings[2]});
  requireAll(out, DeliveryVerdict::kDelivered);
  CHECK(control.countRequests("POST", "/", 401) == 1);
  CHECK(control.countRequests("POST", "/auth/token", 200) == 2);
  CHECK(u.uplink->counters().reauthentications == 1);
  CHECK(control.count("Observation") == observationsIn(out) + 1);
}

TEST_CASE("SMART: without a read scope an uncertain outcome cannot be resolved, so the uplink halts and resends nothing",
          "[smart]") {
  Control control;
  control.reset();
  ClientKey key = makeKey("ES384", "k1");
  control.call("POST", "/smart/clients", {{"clientId", "gw"}, {"jwks", jwks({key.jwk})}});
  UplinkUnderTest u;
  u.useSmart(SmartOptions{"", "", "gw", "k1", key.pem, "system/Observation.c system/Device.c"});
  u.build();
  auto readings = someReadings();
  // Create-only is enough while nothing is uncertain.
  requireAll(u.deliver({readings[0]}), DeliveryVerdict::kDelivered);
  control.call("POST", "/faults", {{"action", "drop-after-commit"}, {"match", {{"method", "POST"}, {"path", "^/$"}}},
                                   {"times", 1}});
  std::vector<Reading> batch(readings.begin() + 1, readings.begin() + 3);
  requireAll(u.deliver(batch), DeliveryVerdict::kRetry);  // committed, but the answer was lost
  std::size_t stored = control.count("Observation");
  std::size_t batchesBefore = control.countRequests("POST", "/");
  auto out = u.deliver(batch);
  requireAll(out, DeliveryVerdict::kHalt);
  CHECK(out[0].reason.kind() == ErrorKind::kForbidden);
  CHECK(out[0].reason.message().find("read access to Observation") != std::string::npos);
  CHECK(control.countRequests("GET", "/Observation?identifier=", 403) == 1);  // the search was refused
  CHECK(control.countRequests("POST", "/") == batchesBefore);                 // and nothing was resent blindly
  CHECK(control.count("Observation") == stored);
}

TEST_CASE("SMART: a client key the server did not register is refused and nothing reaches the FHIR API", "[smart]") {
  Control control;
  control.reset();
  ClientKey registered = makeKey("RS384", "k1");
  ClientKey other = makeKey("RS384", "k1");  // same kid, different key
  control.call("POST", "/smart/clients", {{"clientId", "gw"}, {"jwks", jwks({registered.jwk})}});
  UplinkUnderTest u;
  u.useSmart(SmartOptions{"", "", "gw", "k1", other.pem, kDefaultScopes});
  u.build();
  auto out = u.deliver(someReadings());
  requireAll(out, DeliveryVerdict::kHalt);
  CHECK(out[0].reason.kind() == ErrorKind::kUnauthorized);
  CHECK(control.countRequests("POST", "/auth/token", 401) == 1);
  CHECK(control.countRequests("POST", "/Device") == 0);
  CHECK(control.count("Observation") == 0);
}

TEST_CASE("SMART: a private key file readable by others is refused", "[smart]") {
  rpm::test::TempDir dir;
  std::string path = dir.file("open-key.pem");
  std::ofstream(path) << makeKey("ES384", "k").pem;
  ::chmod(path.c_str(), 0644);
  auto secret = rpm::secrets::readSecret(path, "fhir-client-key");
  REQUIRE_FALSE(secret.isOk());
  CHECK(secret.status().kind() == ErrorKind::kForbidden);
}

TEST_CASE("Static bearer token: the right token delivers, a wrong one halts after one retry", "[bearer]") {
  Control control;
  control.reset();
  control.call("POST", "/faults", {{"action", "require-token"}, {"token", "static-token-1"}, {"match", {{"path", "^/"}}}});
  auto readings = someReadings();
  {
    UplinkUnderTest u;
    u.auth = makeStaticBearer("wrong-token");
    u.build();
    auto out = u.deliver({readings[0]});
    requireAll(out, DeliveryVerdict::kHalt);
    CHECK(out[0].reason.kind() == ErrorKind::kUnauthorized);
    CHECK(control.count("Device") == 0);
  }
  UplinkUnderTest u;
  u.auth = makeStaticBearer("static-token-1");
  u.build();
  requireAll(u.deliver(readings), DeliveryVerdict::kDelivered);
  CHECK(control.count("Observation") >= readings.size());
}

TEST_CASE("Mutual TLS: the gateway's client certificate delivers; none, or one from another CA, sends nothing", "[mtls]") {
  Control control;
  control.reset();
  auto readings = someReadings();
  for (const std::string variant : {"none", "rogue"}) {
    CurlTransportOptions t;
    t.caFile = env("RPM_TEST_FHIR_CA_FILE");
    if (variant == "rogue") {
      t.clientCertFile = env("RPM_TEST_FHIR_ROGUE_CERT");
      t.clientKeyFile = env("RPM_TEST_FHIR_ROGUE_KEY");
    }
    UplinkUnderTest u(t);
    u.build();
    INFO(variant);
    requireAll(u.deliver({readings[0]}), DeliveryVerdict::kRetry);
    CHECK(control.requests().empty());
  }
  CurlTransportOptions t;
  t.caFile = env("RPM_TEST_FHIR_CA_FILE");
  t.clientCertFile = env("RPM_TEST_FHIR_CLIENT_CERT");
  t.clientKeyFile = env("RPM_TEST_FHIR_CLIENT_KEY");
  UplinkUnderTest u(t);
  u.build();
  requireAll(u.deliver(readings), DeliveryVerdict::kDelivered);
  CHECK(control.count("Observation") >= readings.size());
}

TEST_CASE("TLS: a wrong CA, a certificate for another host name and an expired certificate are refused before "
          "anything is sent; the right certificate delivers",
          "[tls]") {
  Control control;
  auto readings = someReadings();
  struct Case {
    const char* what;
    std::string cert, key, caFile;
  };
  std::vector<Case> cases = {
      {"untrusted CA (system CAs only)", env("RPM_TEST_FHIR_CERT"), env("RPM_TEST_FHIR_KEY"), ""},
      {"wrong host name", env("RPM_TEST_FHIR_WRONG_HOST_CERT"), env("RPM_TEST_FHIR_WRONG_HOST_KEY"),
       env("RPM_TEST_FHIR_CA_FILE")},
      {"expired certificate", env("RPM_TEST_FHIR_EXPIRED_CERT"), env("RPM_TEST_FHIR_EXPIRED_KEY"),
       env("RPM_TEST_FHIR_CA_FILE")},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.what) {
      control.reset();
      control.call("POST", "/tls", {{"cert", c.cert}, {"key", c.key}});
      CurlTransportOptions t;
      t.caFile = c.caFile;
      UplinkUnderTest u(t);
      u.build();
      auto out = u.deliver({readings[0]});
      requireAll(out, DeliveryVerdict::kRetry);
      CHECK(out[0].reason.kind() == ErrorKind::kRejected);  // a TLS refusal, not a transient network error
      CHECK(control.requests().empty());
      // The same client with the server's right certificate delivers: the refusal was the certificate's doing.
      control.call("POST", "/tls", {{"cert", env("RPM_TEST_FHIR_CERT")}, {"key", env("RPM_TEST_FHIR_KEY")}});
      if (!c.caFile.empty()) {
        requireAll(u.deliver({readings[0]}), DeliveryVerdict::kDelivered);
        CHECK(control.count("Observation") >= 1);
      }
    }
  }
}

// Run by log_canary_test.sh with stderr and stdout captured: planted secrets
// (a bearer token, a JWT as a bearer token, a client id) pass through every
// refusal path with logging at debug; the script then runs log-canary-check.
// The real client assertion and access token seen at the server are written to
// $RPM_TEST_SERVICES_DIR/secrets-seen for the script to look for too.
TEST_CASE("Log canary: tokens, JWTs and client assertions never reach a log line or a reported reason", "[canary]") {
  log::setLevel(log::Level::kDebug);
  Control control;
  control.reset();
  auto readings = someReadings();
  for (const char* planted : {rpm::test::LogCanary::kToken, rpm::test::LogCanary::kJwt}) {
    control.reset();
    control.call("POST", "/faults", {{"action", "require-token"}, {"token", "other"}, {"match", {{"path", "^/"}}}});
    UplinkUnderTest u;
    u.auth = makeStaticBearer(planted);
    u.build();
    requireAll(u.deliver({readings[0]}), DeliveryVerdict::kHalt);
  }
  control.reset();
  ClientKey key = makeKey("RS384", "k1");
  control.call("POST", "/smart/clients", {{"clientId", "gw"}, {"jwks", jwks({key.jwk})}});
  {
    // A refused assertion (unregistered client id) ...
    UplinkUnderTest u;
    u.useSmart(SmartOptions{"", "", rpm::test::LogCanary::kToken, "k1", key.pem, kDefaultScopes});
    u.build();
    requireAll(u.deliver({readings[0]}), DeliveryVerdict::kHalt);
  }
  // ... and a good one, its token expired once by the server.
  UplinkUnderTest u;
  u.useSmart(SmartOptions{"", "", "gw", "k1", key.pem, kDefaultScopes});
  u.build();
  requireAll(u.deliver({readings[0]}), DeliveryVerdict::kDelivered);
  control.call("POST", "/smart/tokens/expire");
  requireAll(u.deliver({readings[1]}), DeliveryVerdict::kDelivered);
  std::ofstream seen(env("RPM_TEST_SERVICES_DIR") + "/secrets-seen");
  std::size_t secrets = 0;
  for (const auto& r : control.requests()) {
    std::string auth = r["headers"].value("authorization", "");
    if (auth.rfind("Bearer ", 0) == 0) {
      seen << auth.substr(7) << "\n";
      ++secrets;
    }
    std::string body = r.value("body", "");
    auto pos = body.find("client_assertion=");
    if (pos != std::string::npos) {
      seen << body.substr(pos + 17, body.find('&', pos) - pos - 17) << "\n";
      ++secrets;
    }
  }
  CHECK(secrets >= 4);
}
