// FhirUplink's delivery logic against a scripted transport (every server
// answer is written out), with a real SQLite file for the Device id cache.
#include <catch2/catch.hpp>

#include "ScriptedTransport.h"
#include "buffer/SqliteBuffer.h"
#include "fhir/FixedOffsetZone.h"
#include "fhir/uplink/FhirUplink.h"
#include "tests/support/FakeClock.h"
#include "tests/unit/buffer/BufferFixtures.h"
#include "tests/unit/fhir/FhirTestSupport.h"

using namespace rpm;
using namespace rpm::fhir;
using rpm::test::ScriptedTransport;

namespace {

Reading temperature(int second, const std::string& id) {
  Reading r = fhir::test::reading(ReadingKind::kBodyTemperature,
                                  {fhir::test::comp(Measure::kBodyTemperature, "37.60", "Cel")});
  r.deviceTime->second = second;
  r.effectiveStart = fromLocal(*r.deviceTime, 120);
  r.id = id;
  return r;
}

std::string batchResponse(const std::vector<std::pair<std::string, std::string>>& statusAndId,
                          const std::string& outcome = "") {
  std::string body = R"({"resourceType":"Bundle","type":"batch-response","entry":[)";
  for (std::size_t i = 0; i < statusAndId.size(); ++i) {
    if (i) body += ",";
    body += R"({"response":{"status":")" + statusAndId[i].first + "\"";
    if (!statusAndId[i].second.empty()) body += R"(,"location":"Observation/)" + statusAndId[i].second + R"(/_history/1")";
    if (statusAndId[i].first.rfind("4", 0) == 0 && !outcome.empty()) body += R"(,"outcome":)" + outcome;
    body += "}}";
  }
  return body + "]}";
}

struct Fixture {
  rpm::test::TempDir dir;
  rpm::test::FakeClock clock;
  std::unique_ptr<buffer::SqliteBuffer> store;
  ScriptedTransport transport;
  std::unique_ptr<AccessTokenProvider> auth = makeStaticBearer("tok");
  FixedOffsetZone zone{120};
  FhirUplinkOptions options;
  std::unique_ptr<FhirUplink> uplink;

  Fixture(DeliveryMode mode = DeliveryMode::kConditionalCreate) {
    buffer::BufferOptions o;
    o.path = dir.file("buffer.db");
    store = std::move(buffer::SqliteBuffer::open(o, clock)).value();
    options.baseUrl = "https://fhir.example.org/r4/";
    options.mode = mode;
    options.hub.hubId = "hub-0001";
    options.hub.softwareVersion = "0.1.0";
    uplink = std::make_unique<FhirUplink>(options, transport, *auth, *store, zone, clock, [](const Reading& r) {
      DeviceRecord d;
      d.key = r.device;
      d.manufacturer = "ACME";
      d.modelNumber = "T-1";
      d.kinds = {r.kind};
      return d;
    }, [this](const std::string& id) { return store->find(id); });
  }
  void devicesCreated() {
    transport.answers.push_back(ScriptedTransport::json(201, R"({"resourceType":"Device","id":"hub-1"})"));
    transport.answers.push_back(ScriptedTransport::json(201, R"({"resourceType":"Device","id":"phd-1"})"));
  }
  std::size_t batchPosts() const {
    std::size_t n = 0;
    for (const auto& r : transport.requests) n += (r.method == "POST" && r.url == "https://fhir.example.org/r4");
    return n;
  }
};

}  // namespace

TEST_CASE("Devices are created first, then Observations in one batch with ifNoneExist", "[unit][uplink]") {
  Fixture f;
  f.devicesCreated();
  f.transport.answers.push_back(ScriptedTransport::json(200, batchResponse({{"201 Created", "o1"}, {"200 OK", "o2"}})));
  auto out = f.uplink->deliver({temperature(10, "r1"), temperature(11, "r2")});
  REQUIRE(out.size() == 2);
  CHECK(out[0].verdict == DeliveryVerdict::kDelivered);
  CHECK(out[0].receipt.resourceIds == std::vector<std::string>{"Observation/o1"});
  CHECK(out[1].receipt.resourceIds == std::vector<std::string>{"Observation/o2"});
  REQUIRE(f.transport.requests.size() == 3);
  CHECK(f.transport.requests[0].url == "https://fhir.example.org/r4/Device");
  const auto& batch = f.transport.requests[2];
  CHECK(batch.body.find(R"("type":"batch")") != std::string::npos);
  CHECK(batch.body.find(R"("ifNoneExist":"identifier=http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBaseObservation|B0495F001071-123-)") != std::string::npos);
  CHECK(batch.body.find(R"("reference":"Device/phd-1")") != std::string::npos);
  CHECK(batch.body.find(R"("value":37.60)") != std::string::npos);
  bool authorized = false;
  for (const auto& [k, v] : batch.headers) authorized |= (k == "Authorization" && v == "Bearer tok");
  CHECK(authorized);
  CHECK(f.uplink->counters().observationsCreated == 1);
  CHECK(f.uplink->counters().observationsExisting == 1);

  // The Device ids are cached: the next batch goes straight out.
  f.transport.answers.push_back(ScriptedTransport::json(200, batchResponse({{"201 Created", "o3"}})));
  CHECK(f.uplink->deliver({temperature(12, "r3")})[0].verdict == DeliveryVerdict::kDelivered);
  CHECK(f.transport.requests.size() == 4);
}

TEST_CASE("After an uncertain send, the uplink searches before it resends", "[unit][uplink]") {
  Fixture f;
  f.devicesCreated();
  f.transport.answers.push_back(TransportError{DeliveryCertainty::kUncertain, ErrorKind::kTimeout, "Timeout was reached"});
  auto first = f.uplink->deliver({temperature(10, "r1"), temperature(11, "r2")});
  CHECK(first[0].verdict == DeliveryVerdict::kRetry);
  CHECK(first[0].reason.kind() == ErrorKind::kTimeout);
  // r1 made it to the server before the connection dropped, r2 did not.
  f.transport.answers.push_back(ScriptedTransport::json(200, R"({"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Observation","id":"o1"}}]})"));
  f.transport.answers.push_back(ScriptedTransport::json(200, R"({"resourceType":"Bundle","type":"searchset"})"));
  f.transport.answers.push_back(ScriptedTransport::json(200, batchResponse({{"201 Created", "o2"}})));
  auto second = f.uplink->deliver({temperature(10, "r1"), temperature(11, "r2")});
  CHECK(second[0].verdict == DeliveryVerdict::kDelivered);
  CHECK(second[0].receipt.resourceIds == std::vector<std::string>{"Observation/o1"});
  CHECK(second[1].verdict == DeliveryVerdict::kDelivered);
  const auto& resend = f.transport.requests.back();
  CHECK(resend.body.find("37.60") != std::string::npos);
  // Only r2 was resent: one entry in the Bundle.
  CHECK(resend.body.find(R"("request")") == resend.body.rfind(R"("request")"));
  const std::string expectedSearch =
      "https://fhir.example.org/r4/Observation?identifier=http%3A%2F%2Fhl7.org%2Ffhir%2Fuv%2Fphd%2FStructureDefinition"
      "%2FPhdBaseObservation%7CB0495F001071-123-";
  CHECK(f.transport.requests[4].url.rfind(expectedSearch, 0) == 0);
  CHECK(f.uplink->counters().resolvedBySearch == 1);
}

TEST_CASE("A rejected entry is dead-lettered with the server's diagnostics; the rest are delivered", "[unit][uplink]") {
  Fixture f;
  f.devicesCreated();
  std::string oo = R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invariant","diagnostics":"vs-2 failed"}]})";
  f.transport.answers.push_back(ScriptedTransport::json(200, batchResponse({{"201 Created", "o1"}, {"422 Unprocessable Entity", ""}}, oo)));
  f.transport.answers.push_back(ScriptedTransport::json(200, R"({"resourceType":"Device","id":"phd-1"})"));  // device check: still there
  auto out = f.uplink->deliver({temperature(10, "r1"), temperature(11, "r2")});
  CHECK(out[0].verdict == DeliveryVerdict::kDelivered);
  REQUIRE(out[1].verdict == DeliveryVerdict::kReject);
  CHECK(out[1].rejection.httpStatus == 422);
  CHECK(out[1].rejection.reason == "HTTP 422: vs-2 failed");
}

TEST_CASE("A stale cached Device id is evicted and the reading retried", "[unit][uplink]") {
  Fixture f;
  f.devicesCreated();
  f.transport.answers.push_back(ScriptedTransport::json(200, batchResponse({{"400 Bad Request", ""}})));
  f.transport.answers.push_back(ScriptedTransport::json(404, ""));
  auto out = f.uplink->deliver({temperature(10, "r1")});
  CHECK(out[0].verdict == DeliveryVerdict::kRetry);
  CHECK(f.uplink->counters().staleDeviceIds == 1);
  CHECK_FALSE(f.store->deviceLogicalId("https://fhir.example.org/r4", *DeviceKey::parse("bt:B0495F001071"))->has_value());
}

TEST_CASE("401 re-authenticates once; a second 401 halts delivery", "[unit][uplink]") {
  Fixture f;
  f.devicesCreated();
  f.transport.answers.push_back(ScriptedTransport::json(401, ""));
  f.transport.answers.push_back(ScriptedTransport::json(200, batchResponse({{"201 Created", "o1"}})));
  CHECK(f.uplink->deliver({temperature(10, "r1")})[0].verdict == DeliveryVerdict::kDelivered);
  CHECK(f.uplink->counters().reauthentications == 1);
  f.transport.answers.push_back(ScriptedTransport::json(401, ""));
  f.transport.answers.push_back(ScriptedTransport::json(401, ""));
  auto out = f.uplink->deliver({temperature(11, "r2")});
  CHECK(out[0].verdict == DeliveryVerdict::kHalt);
  CHECK(out[0].reason.kind() == ErrorKind::kUnauthorized);
}

TEST_CASE("403 halts delivery; 429 and 503 carry the server's Retry-After", "[unit][uplink]") {
  Fixture f;
  f.devicesCreated();
  f.transport.answers.push_back(ScriptedTransport::json(403, ""));
  CHECK(f.uplink->deliver({temperature(10, "r1")})[0].verdict == DeliveryVerdict::kHalt);
  HttpResponse busy = ScriptedTransport::json(429, "");
  busy.retryAfter = std::chrono::seconds(90);
  f.transport.answers.push_back(busy);
  auto out = f.uplink->deliver({temperature(10, "r1")});
  CHECK(out[0].verdict == DeliveryVerdict::kRetry);
  CHECK(out[0].serverDelay == std::chrono::seconds(90));
}

TEST_CASE("A Bundle refused as a whole is split until the bad reading is found", "[unit][uplink]") {
  Fixture f;
  f.devicesCreated();
  f.transport.answers.push_back(ScriptedTransport::json(400, R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"structure","diagnostics":"bad entry"}]})"));
  f.transport.answers.push_back(ScriptedTransport::json(200, batchResponse({{"201 Created", "o1"}})));
  f.transport.answers.push_back(ScriptedTransport::json(400, R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"structure","diagnostics":"bad entry"}]})"));
  auto out = f.uplink->deliver({temperature(10, "r1"), temperature(11, "r2")});
  CHECK(out[0].verdict == DeliveryVerdict::kDelivered);
  CHECK(out[1].verdict == DeliveryVerdict::kReject);
  CHECK(out[1].rejection.reason == "HTTP 400: bad entry");
  CHECK(f.batchPosts() == 3);
}

TEST_CASE("409 and 412 are resolved by searching the identifier", "[unit][uplink]") {
  Fixture f;
  f.devicesCreated();
  f.transport.answers.push_back(ScriptedTransport::json(200, batchResponse({{"412 Precondition Failed", ""}})));
  f.transport.answers.push_back(ScriptedTransport::json(200, R"({"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Observation","id":"a"}},{"resource":{"resourceType":"Observation","id":"b"}}]})"));
  auto out = f.uplink->deliver({temperature(10, "r1")});
  CHECK(out[0].verdict == DeliveryVerdict::kDelivered);
  CHECK(out[0].receipt.resourceIds == std::vector<std::string>{"Observation/a"});
  CHECK(f.uplink->counters().duplicatesAtServer == 1);
}

TEST_CASE("Two readings with one identifier never share a Bundle", "[unit][uplink]") {
  Fixture f;
  f.devicesCreated();
  f.transport.answers.push_back(ScriptedTransport::json(200, batchResponse({{"201 Created", "o1"}})));
  auto out = f.uplink->deliver({temperature(10, "r1"), temperature(10, "r1-again")});
  CHECK(out[0].verdict == DeliveryVerdict::kDelivered);
  CHECK(out[1].verdict == DeliveryVerdict::kRetry);
  CHECK(out[1].reason.kind() == ErrorKind::kConflict);
}

TEST_CASE("PUT mode sends each Observation to its UUIDv5 logical id", "[unit][uplink]") {
  Fixture f(DeliveryMode::kPut);
  f.devicesCreated();
  f.transport.answers.push_back(ScriptedTransport::json(200, batchResponse({{"201 Created", "x"}})));
  auto out = f.uplink->deliver({temperature(10, "r1")});
  CHECK(out[0].verdict == DeliveryVerdict::kDelivered);
  const std::string& body = f.transport.requests.back().body;
  CHECK(body.find(R"("method":"PUT","url":"Observation/)") != std::string::npos);
  CHECK(body.find("ifNoneExist") == std::string::npos);
}

TEST_CASE("The server probe requires R4 and, in PUT mode, update-as-create", "[unit][uplink]") {
  Fixture put(DeliveryMode::kPut);
  put.transport.answers.push_back(ScriptedTransport::json(200, R"({"resourceType":"CapabilityStatement","fhirVersion":"4.0.1","rest":[{"resource":[{"type":"Observation","updateCreate":false}]}]})"));
  CHECK(put.uplink->probeServer().kind() == ErrorKind::kConfigInvalid);
  put.transport.answers.push_back(ScriptedTransport::json(200, R"({"resourceType":"CapabilityStatement","fhirVersion":"4.0.1","rest":[{"resource":[{"type":"Observation","updateCreate":true}]}]})"));
  CHECK(put.uplink->probeServer().isOk());
  put.transport.answers.push_back(ScriptedTransport::json(200, R"({"resourceType":"CapabilityStatement","fhirVersion":"5.0.0"})"));
  CHECK(put.uplink->probeServer().kind() == ErrorKind::kConfigInvalid);
}
