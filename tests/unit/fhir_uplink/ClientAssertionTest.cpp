#include <catch2/catch.hpp>

#include <jwt.h>

#include "KeyPairs.h"
#include "fhir/uplink/AccessTokenProvider.h"

using namespace rpm;

namespace {

const UtcInstant kNow = UtcInstant(std::chrono::seconds(1760000000));

fhir::SmartOptions options(const std::string& pem) {
  fhir::SmartOptions o;
  o.clientId = "rpm-hub-0001";
  o.keyId = "hub-key-1";
  o.privateKeyPem = pem;
  o.scopes = "system/Observation.crs system/Device.crs";
  return o;
}

struct Decoded {
  jwt_t* jwt = nullptr;
  ~Decoded() { jwt_free(jwt); }
};

void checkAssertion(const std::string& token, const test::PemKeyPair& keys, jwt_alg_t alg) {
  Decoded d;
  // jwt_decode verifies the signature with the public key.
  REQUIRE(jwt_decode(&d.jwt, token.c_str(), reinterpret_cast<const unsigned char*>(keys.publicPem.data()),
                     static_cast<int>(keys.publicPem.size())) == 0);
  CHECK(jwt_get_alg(d.jwt) == alg);
  CHECK(std::string(jwt_get_grant(d.jwt, "iss")) == "rpm-hub-0001");
  CHECK(std::string(jwt_get_grant(d.jwt, "sub")) == "rpm-hub-0001");
  CHECK(std::string(jwt_get_grant(d.jwt, "aud")) == "https://auth.example.org/token");
  CHECK(std::string(jwt_get_header(d.jwt, "kid")) == "hub-key-1");
  long iat = jwt_get_grant_int(d.jwt, "iat");
  long exp = jwt_get_grant_int(d.jwt, "exp");
  CHECK(iat == 1760000000);
  CHECK(exp > iat);
  CHECK(exp - iat <= 300);  // SMART: at most five minutes ahead
  CHECK(std::string(jwt_get_grant(d.jwt, "jti")).size() == 32);
}

}  // namespace

TEST_CASE("RS384 client assertions carry the SMART claims and verify", "[unit][smart]") {
  auto keys = test::generateKeyPair("RSA", nullptr, 2048);
  auto token = fhir::buildClientAssertion(options(keys.privatePem), "https://auth.example.org/token", kNow);
  REQUIRE(token.isOk());
  checkAssertion(*token, keys, JWT_ALG_RS384);
}

TEST_CASE("ES384 client assertions verify and use the JWS raw signature form", "[unit][smart]") {
  auto keys = test::generateKeyPair("EC", "P-384");
  auto token = fhir::buildClientAssertion(options(keys.privatePem), "https://auth.example.org/token", kNow);
  REQUIRE(token.isOk());
  checkAssertion(*token, keys, JWT_ALG_ES384);
  // RFC 7518 §3.4: R || S, 96 bytes for P-384 = 128 base64url characters (not DER).
  CHECK(token->size() - token->rfind('.') - 1 == 128);
}

TEST_CASE("Each assertion has a fresh jti", "[unit][smart]") {
  auto keys = test::generateKeyPair("EC", "P-384");
  auto a = fhir::buildClientAssertion(options(keys.privatePem), "https://auth.example.org/token", kNow);
  auto b = fhir::buildClientAssertion(options(keys.privatePem), "https://auth.example.org/token", kNow);
  REQUIRE(a.isOk());
  REQUIRE(b.isOk());
  CHECK(*a != *b);
}

TEST_CASE("Keys that SMART does not allow are refused as configuration errors", "[unit][smart]") {
  for (const auto& keys : {test::generateKeyPair("EC", "P-256"), test::generateKeyPair("RSA", nullptr, 1024)}) {
    auto r = fhir::buildClientAssertion(options(keys.privatePem), "https://auth.example.org/token", kNow);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().kind() == ErrorKind::kConfigInvalid);
  }
  CHECK(fhir::buildClientAssertion(options("not a key"), "x", kNow).status().kind() == ErrorKind::kConfigInvalid);
}
