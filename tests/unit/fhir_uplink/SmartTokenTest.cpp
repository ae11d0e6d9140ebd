#include <catch2/catch.hpp>

#include "KeyPairs.h"
#include "ScriptedTransport.h"
#include "fhir/uplink/AccessTokenProvider.h"
#include "tests/support/FakeClock.h"

using namespace rpm;
using test::ScriptedTransport;

namespace {
fhir::SmartOptions smartOptions() {
  static const auto keys = test::generateKeyPair("EC", "P-384");
  fhir::SmartOptions o;
  o.fhirBaseUrl = "https://fhir.example.org/r4";
  o.clientId = "rpm-hub-0001";
  o.keyId = "k1";
  o.privateKeyPem = keys.privatePem;
  o.scopes = "system/Observation.crs system/Device.crs";
  return o;
}
}  // namespace

TEST_CASE("The token endpoint is discovered, then the token is cached until shortly before expiry", "[unit][smart]") {
  ScriptedTransport t;
  test::FakeClock clock;
  t.answers.push_back(ScriptedTransport::json(200, R"({"token_endpoint":"https://auth.example.org/token"})"));
  t.answers.push_back(ScriptedTransport::json(200, R"({"access_token":"AT1","token_type":"bearer","expires_in":300})"));
  auto provider = fhir::makeSmartBackendServices(smartOptions(), t, clock);
  REQUIRE(provider.isOk());
  auto h = (*provider)->authorizationHeader();
  REQUIRE(h.isOk());
  CHECK(*h == "Bearer AT1");
  REQUIRE(t.requests.size() == 2);
  CHECK(t.requests[0].url == "https://fhir.example.org/r4/.well-known/smart-configuration");
  CHECK(t.requests[1].method == "POST");
  CHECK(t.requests[1].url == "https://auth.example.org/token");
  const std::string& form = t.requests[1].body;
  CHECK(form.find("grant_type=client_credentials") == 0);
  CHECK(form.find("&scope=system%2FObservation.crs+system%2FDevice.crs") != std::string::npos);
  CHECK(form.find("&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer") !=
        std::string::npos);
  CHECK(form.find("&client_assertion=ey") != std::string::npos);

  clock.advance(std::chrono::seconds(239));  // 300 s life - 60 s margin
  CHECK(*(*provider)->authorizationHeader() == "Bearer AT1");
  CHECK(t.requests.size() == 2);

  t.answers.push_back(ScriptedTransport::json(200, R"({"access_token":"AT2","expires_in":300})"));
  clock.advance(std::chrono::seconds(1));
  CHECK(*(*provider)->authorizationHeader() == "Bearer AT2");
  CHECK(t.requests.size() == 3);  // no second discovery
}

TEST_CASE("After a 401 the token is dropped and fetched again", "[unit][smart]") {
  ScriptedTransport t;
  test::FakeClock clock;
  auto o = smartOptions();
  o.tokenUrl = "https://auth.example.org/token";
  t.answers.push_back(ScriptedTransport::json(200, R"({"access_token":"AT1","expires_in":300})"));
  t.answers.push_back(ScriptedTransport::json(200, R"({"access_token":"AT2","expires_in":300})"));
  auto provider = fhir::makeSmartBackendServices(o, t, clock);
  REQUIRE(provider.isOk());
  CHECK(*(*provider)->authorizationHeader() == "Bearer AT1");
  (*provider)->invalidate();
  CHECK(*(*provider)->authorizationHeader() == "Bearer AT2");
  CHECK(t.requests.size() == 2);
}

TEST_CASE("Token endpoint failures are typed errors that never contain the token", "[unit][smart]") {
  ScriptedTransport t;
  test::FakeClock clock;
  auto o = smartOptions();
  o.tokenUrl = "https://auth.example.org/token";
  t.answers.push_back(ScriptedTransport::json(401, R"({"error":"invalid_client"})"));
  t.answers.push_back(ScriptedTransport::json(503, ""));
  t.answers.push_back(ScriptedTransport::json(200, R"({"token_type":"bearer"})"));
  t.answers.push_back(fhir::TransportError{fhir::DeliveryCertainty::kNotSent, ErrorKind::kUnavailable, "Couldn't connect to server"});
  auto provider = fhir::makeSmartBackendServices(o, t, clock);
  REQUIRE(provider.isOk());
  CHECK((*provider)->authorizationHeader().status().kind() == ErrorKind::kUnauthorized);
  CHECK((*provider)->authorizationHeader().status().kind() == ErrorKind::kUnavailable);
  CHECK((*provider)->authorizationHeader().status().kind() == ErrorKind::kMalformedPayload);
  auto down = (*provider)->authorizationHeader();
  CHECK(down.status().kind() == ErrorKind::kUnavailable);
  CHECK(down.status().message() == "SMART token endpoint: Couldn't connect to server");
}

TEST_CASE("Static bearer and no-auth providers", "[unit][smart]") {
  CHECK(*fhir::makeStaticBearer("tok")->authorizationHeader() == "Bearer tok");
  CHECK(fhir::makeNoAuthorization()->authorizationHeader()->empty());
}
