// Decoders -> FHIR mapping -> FhirUplink -> the validating FHIR test server
// (tests/fhir-server), run under tests/services/with-services.sh.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <nlohmann/json.hpp>

#include "buffer/SqliteBuffer.h"
#include "drivers/registry/DriverRegistry.h"
#include "fhir/FixedOffsetZone.h"
#include "fhir/uplink/CurlHttpTransport.h"
#include "fhir/uplink/FhirUplink.h"
#include "gateway/engine/StreamAggregator.h"
#include "gateway/identity/Identifiers.h"
#include "tests/support/FakeClock.h"
#include "tests/support/FhirServerControl.h"
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

struct Corpus {
  std::vector<Reading> readings;
  std::size_t payloads = 0;
};

// Every seed of the decoder fuzz corpus (2-byte UUID LE, option byte, value), decoded.
Corpus decodeCorpus() {
  Corpus c;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(std::string(RPM_SOURCE_DIR) + "/tests/fuzz/corpus")) {
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() < 3) continue;
    std::uint16_t uuid = static_cast<std::uint16_t>(bytes[0] | (bytes[1] << 8));
    const DriverDescriptor* d = drivers::driverForCharacteristic(uuid);
    if (!d) continue;
    DecodeContext ctx;
    // One device per payload file: two test vectors with one time stamp are not one device measuring twice.
    char address[32];
    std::snprintf(address, sizeof address, "bt:B0495F0010%02X", static_cast<unsigned>(c.payloads & 0xFF));
    ctx.device = *DeviceKey::parse(address);
    // Each payload received a minute after the last: live readings of one device never share a second.
    ctx.receivedAt = UtcInstant(std::chrono::seconds(1767225600 + 60 * static_cast<long>(c.payloads)));
    ctx.utcOffsetMinutes = 60;
    if (bytes[2] & 1) ctx.sessionStart = LocalDateTime{2025, 12, 31, 20, 0, 0, 0};
    auto decoded = d->decode(uuid, std::vector<std::uint8_t>(bytes.begin() + 3, bytes.end()), ctx);
    INFO(path.filename().string());
    REQUIRE(decoded.isOk());
    ++c.payloads;
    for (auto r : decoded->readings) {
      r.subject = "Patient/123";
      r.id = computeReadingId(r);
      c.readings.push_back(r);
    }
  }
  // A glucose context belongs to the glucose record with its sequence number.
  std::vector<Reading> kept;
  for (auto& r : c.readings) {
    if (r.kind != ReadingKind::kGlucoseContext) {
      kept.push_back(r);
      continue;
    }
    for (const auto& g : c.readings) {
      if (g.kind == ReadingKind::kGlucose && g.sequence == r.sequence) {
        r.relatedReadingId = g.id;
        kept.push_back(r);
      }
    }
  }
  c.readings = kept;
  return c;
}

using rpm::test::UplinkUnderTest;

}  // namespace

TEST_CASE("Every decodable corpus payload is accepted by the validating server, once", "[fhir-http]") {
  Control control;
  control.reset();
  Corpus corpus = decodeCorpus();
  REQUIRE(corpus.readings.size() >= 15);
  UplinkUnderTest u;
  u.build();
  auto outcomes = u.uplink->deliver(corpus.readings);
  REQUIRE(outcomes.size() == corpus.readings.size());
  std::size_t observations = 0;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    INFO(readingKindName(corpus.readings[i].kind) << ": " << outcomes[i].reason.toString() << " "
                                                   << outcomes[i].rejection.reason);
    CHECK(outcomes[i].verdict == DeliveryVerdict::kDelivered);
    observations += outcomes[i].receipt.resourceIds.size();
  }
  CHECK(control.count("Observation") == observations);
  std::set<std::string> devices;
  for (const auto& r : corpus.readings) devices.insert(r.device.canonical());
  CHECK(control.count("Device") == devices.size() + 1);  // the hub and each device

  // Exact decimals reached the server byte for byte. (Measures the mapper uploads as a plain valueQuantity; a
  // flagged PLX value goes out as a dataAbsentReason, a weight scale's height is not uploaded.)
  std::string bodies = control.allBodies();
  const std::set<Measure> plain = {Measure::kBodyTemperature, Measure::kSystolic, Measure::kDiastolic,
                                   Measure::kMeanArterialPressure, Measure::kGlucoseConcentration,
                                   Measure::kBodyWeight, Measure::kBmi};
  std::size_t checked = 0;
  for (const auto& r : corpus.readings) {
    for (const auto& c : r.components()) {
      if (c.quantity.special != SpecialValue::kNone || !plain.count(c.measure)) continue;
      INFO(measureName(c.measure) << " " << c.quantity.value.toString() << " " << c.quantity.unit);
      CHECK(bodies.find("\"value\":" + c.quantity.value.toString() + ",") != std::string::npos);
      ++checked;
    }
  }
  CHECK(checked >= 8);

  // Delivering the same readings again creates nothing new.
  auto again = u.uplink->deliver(corpus.readings);
  for (const auto& o : again) CHECK(o.verdict == DeliveryVerdict::kDelivered);
  CHECK(control.count("Observation") == observations);
  CHECK(u.uplink->counters().observationsExisting == observations);
}

TEST_CASE("A server that ignores If-None-Exist and drops responses gets no duplicates", "[fhir-http]") {
  Control control;
  control.reset();
  Corpus corpus = decodeCorpus();
  std::vector<Reading> some(corpus.readings.begin() + 1, corpus.readings.begin() + 7);
  UplinkUnderTest u;
  u.build();
  REQUIRE(u.store->append(corpus.readings).isOk());  // a context finds its glucose record in the buffer

  // The hub's Device first, undisturbed; the batch below then reuses the kept-alive connection, the case where
  // libcurl would silently resend a POST whose connection died (CurlHttpTransport forbids that).
  REQUIRE(u.uplink->deliver({corpus.readings[0]})[0].verdict == DeliveryVerdict::kDelivered);
  std::size_t before = control.count("Observation");
  control.call("POST", "/faults", json::parse(R"({"action":"ignore-if-none-exist","match":{"path":"^/"}})"));
  control.call("POST", "/faults", json::parse(R"({"action":"drop-after-commit","match":{"method":"POST","path":"^/$"},"times":1})"));
  auto first = u.uplink->deliver(some);
  for (const auto& o : first) {
    INFO(o.reason.toString());
    CHECK(o.verdict == DeliveryVerdict::kRetry);  // the answer was lost
  }
  std::size_t committed = control.count("Observation") - before;  // what the server stored from the lost answer
  CHECK(committed > 0);
  auto second = u.uplink->deliver(some);
  std::size_t observations = 0;
  for (const auto& o : second) {
    INFO(o.reason.toString());
    CHECK(o.verdict == DeliveryVerdict::kDelivered);
    observations += o.receipt.resourceIds.size();
  }
  // Every Observation exists exactly once: the resend found them by identifier instead of posting again.
  CHECK(control.count("Observation") == before + observations);
  CHECK(u.uplink->counters().resolvedBySearch == committed);
}

TEST_CASE("503 with Retry-After is reported for the engine to honour", "[fhir-http]") {
  Control control;
  control.reset();
  Corpus corpus = decodeCorpus();
  UplinkUnderTest u;
  u.build();
  REQUIRE(u.uplink->deliver({corpus.readings[0]})[0].verdict == DeliveryVerdict::kDelivered);
  control.call("POST", "/faults", json::parse(R"({"action":"status","status":503,"retryAfter":7,"match":{"path":"^/$"},"times":1})"));
  auto out = u.uplink->deliver({corpus.readings[1]});
  CHECK(out[0].verdict == DeliveryVerdict::kRetry);
  CHECK(out[0].serverDelay == std::chrono::seconds(7));
  CHECK(u.uplink->deliver({corpus.readings[1]})[0].verdict == DeliveryVerdict::kDelivered);
}

TEST_CASE("TLS with the test CA delivers; without it nothing is sent", "[fhir-tls]") {
  Control control;
  control.reset();
  Corpus corpus = decodeCorpus();
  {
    CurlTransportOptions wrong;  // system CAs only: the test CA is not trusted
    UplinkUnderTest u({wrong});
    u.build();
    auto out = u.uplink->deliver({corpus.readings[0]});
    CHECK(out[0].verdict == DeliveryVerdict::kRetry);
    CHECK(control.call("GET", "/requests").empty());
  }
  CurlTransportOptions trusted;
  trusted.caFile = env("RPM_TEST_FHIR_CA_FILE");
  UplinkUnderTest u({trusted});
  u.build();
  CHECK(u.uplink->deliver({corpus.readings[0]})[0].verdict == DeliveryVerdict::kDelivered);
  CHECK(control.count("Observation") >= 1);
}

TEST_CASE("ECG chunks, stream summaries, corrected clocks and MQTT devices are accepted too", "[fhir-http]") {
  Control control;
  control.reset();
  std::vector<Reading> readings;
  auto base = [](ReadingKind kind, const char* device) {
    Reading r;
    r.device = *DeviceKey::parse(device);
    r.kind = kind;
    r.subject = "Patient/123";
    r.deviceTime = LocalDateTime{2026, 1, 1, 9, 0, 0, 0};
    r.utcOffsetMinutes = 60;
    r.effectiveStart = fromLocal(*r.deviceTime, 60);
    r.receivedAt = r.effectiveStart + std::chrono::seconds(3);
    return r;
  };
  {  // An ECG chunk as SampledData.
    Reading r = base(ReadingKind::kEcg, "bt:B0495F0020A1");
    SampledSeries s;
    s.mdcLead = 131329;
    s.origin = Quantity{Decimal(0, 0), SpecialValue::kNone, "uV"};
    s.periodMs = Decimal(4, 0);
    s.factor = Decimal(15, -1);
    s.samples = {12, 15, -3, 0, 7, 22, 40, 18};
    r.value = s;
    readings.push_back(r);
  }
  {  // Heart-rate samples summarised by the stream aggregator.
    rpm::test::FakeClock clock(UtcInstant(std::chrono::seconds(1767254400)));  // 2026-01-01T08:00:00Z
    StreamAggregator aggregator(clock, std::chrono::seconds(60));
    for (int i = 0; i < 10; ++i) {
      Reading r = base(ReadingKind::kHeartRate, "bt:B0495F0020A2");
      r.deviceTime.reset();
      r.effectiveStart = clock.now() + std::chrono::seconds(i);
      r.value = std::vector<Component>{Component{Measure::kHeartRate, Quantity{Decimal(60 + i, 0), SpecialValue::kNone, "/min"},
                                                 std::nullopt, Comparator::kNone, ""}};
      for (auto& out : aggregator.add(r)) readings.push_back(out);
    }
    for (auto& out : aggregator.flush()) readings.push_back(out);
  }
  {  // A thermometer whose clock was 90 s behind, measured while the hub clock was synchronized.
    Reading r = base(ReadingKind::kBodyTemperature, "bt:B0495F0020A3");
    r.clockSkewMs = 90000;
    r.value = std::vector<Component>{Component{Measure::kBodyTemperature, Quantity{Decimal(3712, -2), SpecialValue::kNone, "Cel"},
                                               std::nullopt, Comparator::kNone, "mouth"}};
    readings.push_back(r);
  }
  {  // An MQTT scale.
    Reading r = base(ReadingKind::kBodyWeight, "mqtt:scale-kitchen");
    r.producerReadingId = "scale-kitchen-000001";
    r.value = std::vector<Component>{Component{Measure::kBodyWeight, Quantity{Decimal(72450, -3), SpecialValue::kNone, "kg"},
                                               std::nullopt, Comparator::kNone, ""}};
    readings.push_back(r);
  }
  for (auto& r : readings) r.id = computeReadingId(r);
  REQUIRE(readings.size() == 4);  // ECG, one heart-rate window summary, thermometer, scale
  UplinkUnderTest u;
  u.build();
  auto outcomes = u.uplink->deliver(readings);
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    INFO(readingKindName(readings[i].kind) << ": " << outcomes[i].reason.toString() << " " << outcomes[i].rejection.reason);
    CHECK(outcomes[i].verdict == DeliveryVerdict::kDelivered);
  }
  std::string bodies = control.allBodies();
  CHECK(bodies.find("PhdRtsaObservation") != std::string::npos);
  CHECK(bodies.find(R"("factor":1.5)") != std::string::npos);
  CHECK(bodies.find("PhdCoincidentTimeStampObservation") != std::string::npos);
  CHECK(bodies.find(R"("value":37.12)") != std::string::npos);
  CHECK(bodies.find(R"("value":72.450)") != std::string::npos);
  CHECK(bodies.find("effectivePeriod") != std::string::npos);
  CHECK(bodies.find("urn:ietf:rfc:3986") != std::string::npos);  // the MQTT device's identifier system
}
