#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "drivers/mqtt_formats/MqttFormats.h"

using namespace rpm;
using namespace rpm::mqtt_formats;

namespace {

const DeviceKey kDevice = *DeviceKey::mqtt("bp-cuff-1");
const UtcInstant kNow = UtcInstant(std::chrono::seconds(1715000000));

std::unique_ptr<PayloadParser> parser(std::vector<PayloadTemplate> templates = {}, std::size_t max = 65536) {
  ParserOptions o;
  o.maxPayloadBytes = max;
  o.templates = std::move(templates);
  auto p = PayloadParser::create(std::move(o));
  REQUIRE(p.isOk());
  return std::move(p).value();
}

MessageContext ctx(const std::string& form) {
  MessageContext c;
  c.formTopic = form;
  c.device = kDevice;
  c.receivedAt = kNow;
  c.utcOffsetMinutes = 60;
  return c;
}

ParsedMessage ok(const std::variant<ParsedMessage, Rejection>& v) {
  if (auto* r = std::get_if<Rejection>(&v)) {
    FAIL("rejected: " << rejectReasonName(r->reason) << ": " << r->detail);
  }
  return std::get<ParsedMessage>(v);
}

Rejection rejected(const std::variant<ParsedMessage, Rejection>& v) {
  REQUIRE(std::holds_alternative<Rejection>(v));
  return std::get<Rejection>(v);
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

PayloadTemplate templateOf(TemplateRows rows) {
  auto t = makeTemplate(rows);
  if (!t) FAIL(t.status().toString());
  return *t;
}

}  // namespace

TEST_CASE("a native blood-pressure reading keeps every component's decimal text", "[mqtt_formats]") {
  auto p = parser();
  auto m = ok(p->parse(ctx("native"), R"({"format":"rpm-reading/1","device":"bp-cuff-1","messageId":"m-1",
    "readings":[{"id":"r-1","kind":"blood-pressure","time":"2024-05-06T08:09:10+02:00","components":[
      {"measure":"systolic","value":120.0,"unit":"mm[Hg]"},{"measure":"diastolic","value":80,"unit":"mm[Hg]"},
      {"measure":"pulse-rate","value":"2.00","unit":"/min"}],
      "status":[{"name":"bp-measurement-status","bits":4}]}]})"));
  REQUIRE(m.readings.size() == 1);
  const Reading& r = m.readings[0];
  CHECK(m.messageId == "m-1");
  CHECK(r.kind == ReadingKind::kBloodPressure);
  CHECK(r.device == kDevice);
  CHECK(r.producerReadingId == "r-1");
  CHECK(r.producerMessageId == "m-1");
  CHECK(r.components()[0].quantity.value == Decimal(1200, -1));
  CHECK(r.components()[1].quantity.value == Decimal(80, 0));
  CHECK(r.components()[2].quantity.value == Decimal(200, -2));
  CHECK(r.components()[0].quantity.unit == "mm[Hg]");
  CHECK(formatDateTime(r.effectiveStart, 120) == "2024-05-06T08:09:10+02:00");
  CHECK(r.deviceUtcOffsetMinutes == 120);
  CHECK(r.deviceTime->toString() == "2024-05-06T08:09:10");
  CHECK(r.status == std::vector<StatusWord>{{"bp-measurement-status", 4}});
  CHECK(r.raw.format == "mqtt-native/1");
}

TEST_CASE("a JSON number 2.00 stays mantissa 200 exponent -2, never a double", "[mqtt_formats]") {
  auto p = parser();
  auto m = ok(p->parse(ctx("native"), R"({"format":"rpm-reading/1","readings":[{"id":"a","kind":"body-temperature",
    "components":[{"measure":"body-temperature","value":2.00,"unit":"Cel"}]}]})"));
  auto v = m.readings[0].components()[0].quantity.value;
  CHECK(v.mantissa() == 200);
  CHECK(v.exponent() == -2);
  // 0.1 + 0.2 style values that a double would blur
  auto m2 = ok(p->parse(ctx("native"), R"({"format":"rpm-reading/1","readings":[{"id":"a","kind":"body-weight",
    "components":[{"measure":"body-weight","value":70.30000000000001,"unit":"kg"}]}]})"));
  CHECK(m2.readings[0].components()[0].quantity.value == Decimal(7030000000000001, -14));
}

TEST_CASE("glucose with context, heart rate with RR intervals and an ECG chunk parse natively", "[mqtt_formats]") {
  auto p = parser();
  auto m = ok(p->parse(ctx("native"), R"({"format":"rpm-reading/1","messageId":"m-9","readings":[
    {"sequence":17,"kind":"glucose","localTime":"2024-05-06T07:00:00","components":[
      {"measure":"glucose-concentration","value":5.4,"unit":"mmol/L","comparator":">"}]},
    {"sequence":17,"kind":"glucose-context","localTime":"2024-05-06T07:00:00","components":[
      {"measure":"carbohydrate","value":45,"unit":"g"},{"measure":"exercise-duration","value":600,"unit":"s"},
      {"measure":"medication","code":"rapid-acting-insulin"}]},
    {"id":"hr-1","kind":"heart-rate","components":[{"measure":"heart-rate","value":72,"unit":"/min"}]},
    {"id":"rr-1","kind":"rr-intervals","time":"2024-05-06T07:00:00Z","endTime":"2024-05-06T07:01:00Z",
     "components":[{"measure":"rr-interval","value":812.5,"unit":"ms"},{"measure":"rr-interval","value":790,"unit":"ms"}]},
    {"id":"ecg-1","kind":"ecg","time":"2024-05-06T07:00:00Z","series":{"lead":131329,"periodMs":2,"factor":0.005,
     "origin":0,"unit":"mV","samples":[1,-2,300]}}]})"));
  REQUIRE(m.readings.size() == 5);
  CHECK(m.readings[0].sequence == 17u);
  CHECK(m.readings[0].components()[0].comparator == Comparator::kGreater);
  CHECK(m.readings[0].deviceTime->toString() == "2024-05-06T07:00:00");
  CHECK(formatUtc(m.readings[0].effectiveStart) == "2024-05-06T06:00:00Z");  // hub offset +60
  CHECK(m.readings[1].kind == ReadingKind::kGlucoseContext);
  CHECK(m.readings[1].components()[2].code == "rapid-acting-insulin");
  CHECK(m.readings[3].components()[0].quantity.value == Decimal(8125, -1));
  CHECK(m.readings[3].effectiveEnd.has_value());
  const auto& s = std::get<SampledSeries>(m.readings[4].value);
  CHECK(s.mdcLead == 131329u);
  CHECK(s.factor == Decimal(5, -3));
  CHECK(s.samples == std::vector<std::int32_t>{1, -2, 300});
  CHECK(s.origin.unit == "mV");
}

TEST_CASE("a raw GATT relay is decoded by the registered thermometer decoder", "[mqtt_formats]") {
  auto p = parser();
  // flags 0 (Celsius, no time stamp), FLOAT 36.5 = 0xFF00016D little-endian
  auto m = ok(p->parse(ctx("gatt"), R"({"format":"rpm-gatt/1","device":"mqtt:bp-cuff-1","id":"t-7","messageId":"g-1",
    "characteristic":"00002a1c-0000-1000-8000-00805f9b34fb","hex":"006D0100FF","receivedAt":"2024-05-06T07:00:00Z"})"));
  REQUIRE(m.readings.size() == 1);
  CHECK(m.readings[0].kind == ReadingKind::kBodyTemperature);
  CHECK(m.readings[0].components()[0].quantity.value == Decimal(365, -1));
  CHECK(m.readings[0].producerReadingId == "t-7");
  CHECK(m.readings[0].device == kDevice);
  CHECK(formatUtc(m.readings[0].receivedAt) == "2024-05-06T07:00:00Z");
  auto b = ok(p->parse(ctx("gatt"), R"({"format":"rpm-gatt/1","characteristic":"2A1C","base64":"AG0BAP8=",
    "receivedAt":"2024-05-06T07:00:00Z"})"));
  CHECK(b.readings[0].components()[0].quantity.value == Decimal(365, -1));
}

TEST_CASE("GATT relays that do not decode are rejected as undecodable", "[mqtt_formats]") {
  auto p = parser();
  CHECK(rejected(p->parse(ctx("gatt"), R"({"format":"rpm-gatt/1","characteristic":"2A1C","hex":"00",
    "receivedAt":"2024-05-06T07:00:00Z"})")).reason == RejectReason::kUndecodable);
  CHECK(rejected(p->parse(ctx("gatt"), R"({"format":"rpm-gatt/1","characteristic":"FFFF","hex":"00",
    "receivedAt":"2024-05-06T07:00:00Z"})")).reason == RejectReason::kUndecodable);
  CHECK(rejected(p->parse(ctx("gatt"), R"({"format":"rpm-gatt/1","characteristic":"2A1C","hex":"0G",
    "receivedAt":"2024-05-06T07:00:00Z"})")).reason == RejectReason::kSchemaInvalid);
}

TEST_CASE("each class of bad input is rejected with its reason code", "[mqtt_formats]") {
  auto p = parser({}, 512);
  CHECK(rejected(p->parse(ctx("native"), "{\"format\":")).reason == RejectReason::kMalformedJson);
  CHECK(rejected(p->parse(ctx("native"), std::string(100, '[') + std::string(100, ']'))).reason ==
        RejectReason::kMalformedJson);
  CHECK(rejected(p->parse(ctx("native"), std::string(600, ' '))).reason == RejectReason::kOversized);
  auto schema = rejected(p->parse(ctx("native"), R"({"format":"rpm-reading/1","messageId":"m-5","readings":[
    {"id":"a","kind":"heart-rate","components":[{"measure":"heart-rate","value":"72 bpm","unit":"/min"}]}]})"));
  CHECK(schema.reason == RejectReason::kSchemaInvalid);
  CHECK(schema.messageId == "m-5");
  CHECK(schema.detail.find("72") == std::string::npos);  // never a value in a rejection
  CHECK(rejected(p->parse(ctx("native"), R"({"format":"rpm-reading/1","device":"someone-else","readings":[
    {"id":"a","kind":"heart-rate","components":[{"measure":"heart-rate","value":72,"unit":"/min"}]}]})")).reason ==
        RejectReason::kIdentityMismatch);
  CHECK(rejected(p->parse(ctx("acme/scale"), R"({"w":1})")).reason == RejectReason::kUnknownTemplate);
  CHECK(rejected(p->parse(ctx("native"), R"({"format":"rpm-reading/2","readings":[{"id":"a","kind":"heart-rate",
    "components":[{"measure":"heart-rate","value":72,"unit":"/min"}]}]})")).reason == RejectReason::kSchemaInvalid);
  CHECK(rejected(p->parse(ctx("native"), R"({"format":"rpm-reading/1","patientName":"x","readings":[{"id":"a",
    "kind":"heart-rate","components":[{"measure":"heart-rate","value":72,"unit":"/min"}]}]})")).reason ==
        RejectReason::kSchemaInvalid);
  CHECK(rejected(p->parse(ctx("native"), R"({"format":"rpm-reading/1","readings":[{"kind":"heart-rate",
    "components":[{"measure":"heart-rate","value":72,"unit":"/min"}]}]})")).reason == RejectReason::kSchemaInvalid);
  CHECK(rejected(p->parse(ctx("native"), "[1,2]")).reason == RejectReason::kSchemaInvalid);
  CHECK(rejected(p->parse(ctx("native"), R"({"format":"rpm-reading/1","readings":[{"id":"a","kind":"blood-pressure",
    "components":[{"measure":"systolic","value":120,"unit":"mm[Hg]"}]}]})")).reason == RejectReason::kUndecodable);
  CHECK(rejected(p->parse(ctx("native"), R"({"format":"rpm-reading/1","readings":[{"id":"a","kind":"heart-rate",
    "components":[{"measure":"heart-rate","value":1234567890123456789012,"unit":"/min"}]}]})")).reason ==
        RejectReason::kMalformedJson);
}

TEST_CASE("the shipped example templates turn vendor JSON into readings with exact unit conversion", "[mqtt_formats]") {
  TemplateRows scale;
  scale.name = "acme-scale";
  scale.topic = "acme/scale";
  scale.kind = "body-weight";
  scale.values = {"body-weight=/measurement/weight"};
  scale.units = {"body-weight=@/measurement/unit"};
  scale.convert = {"body-weight=[lb_av]->kg"};
  scale.match = {"/type=weight"};
  scale.timePointer = "/ts";
  scale.readingIdPointer = "/uid";
  scale.devicePointer = "/serial";
  TemplateRows bp;
  bp.name = "omnicuff-bp";
  bp.topic = "omnicuff/#";
  bp.kind = "blood-pressure";
  bp.values = {"systolic=/data/sys", "diastolic=/data/dia", "pulse-rate=/data/pul"};
  bp.units = {"systolic=mm[Hg]", "diastolic=mm[Hg]", "pulse-rate=/min"};
  bp.timePointer = "/data/measuredAt";
  bp.sequencePointer = "/data/seq";
  auto p = parser({templateOf(scale), templateOf(bp)});
  auto w = ok(p->parse(ctx("acme/scale"), R"({"type":"weight","uid":"w-42","serial":"bp-cuff-1","ts":1715000000,
    "measurement":{"weight":150.2,"unit":"[lb_av]"}})"));
  const Component& c = w.readings[0].components()[0];
  CHECK(c.quantity.value == Decimal(6813, -2));  // 150.2 * 0.45359237 = 68.1296 -> 68.13
  CHECK(c.quantity.unit == "kg");
  CHECK(c.original->value == Decimal(1502, -1));
  CHECK(w.readings[0].producerReadingId == "w-42");
  CHECK(w.messageId == "w-42");
  CHECK(w.readings[0].raw.format == "mqtt-template:acme-scale");
  auto k = ok(p->parse(ctx("acme/scale"), R"({"type":"weight","uid":"w-43","serial":"bp-cuff-1","ts":1715000000,
    "measurement":{"weight":68.10,"unit":"kg"}})"));
  CHECK(k.readings[0].components()[0].quantity.value == Decimal(6810, -2));
  CHECK_FALSE(k.readings[0].components()[0].original.has_value());
  auto b = ok(p->parse(ctx("omnicuff/v2"), R"({"data":{"sys":121,"dia":79,"pul":64,"seq":9,
    "measuredAt":"2024-05-06T08:00:00+01:00"}})"));
  CHECK(b.readings[0].sequence == 9u);
  CHECK(b.readings[0].components().size() == 3);
  CHECK(rejected(p->parse(ctx("acme/scale"), R"({"type":"weight","uid":"w-44","serial":"intruder","ts":1,
    "measurement":{"weight":1,"unit":"kg"}})")).reason == RejectReason::kIdentityMismatch);
  CHECK(rejected(p->parse(ctx("acme/scale"), R"({"type":"height","uid":"w"})")).reason == RejectReason::kUnknownTemplate);
}

TEST_CASE("template rows with mistakes are refused naming the template", "[mqtt_formats]") {
  TemplateRows r;
  r.name = "bad";
  r.kind = "weight";
  r.values = {"body-weight=/w"};
  r.units = {"body-weight=kg"};
  CHECK(makeTemplate(r).status().kind() == ErrorKind::kConfigInvalid);
  r.kind = "body-weight";
  r.values = {"body-weight=w"};
  CHECK(makeTemplate(r).status().message().find("'bad'") != std::string::npos);
  r.values = {"body-weight=/w"};
  r.convert = {"body-weight=[degF]->Cel"};
  CHECK_FALSE(makeTemplate(r).isOk());
  r.convert = {};
  r.units = {};
  CHECK_FALSE(makeTemplate(r).isOk());
}

TEST_CASE("MQTT topic filters match like a broker", "[mqtt_formats]") {
  CHECK(topicMatches("#", "a/b"));
  CHECK(topicMatches("a/+", "a/b"));
  CHECK_FALSE(topicMatches("a/+", "a/b/c"));
  CHECK(topicMatches("a/#", "a"));
  CHECK(topicMatches("a/b", "a/b"));
  CHECK_FALSE(topicMatches("a/b", "a/c"));
}

TEST_CASE("every example payload in docs/examples parses as its form", "[mqtt_formats]") {
  auto p = parser();
  for (const char* form : {"native", "gatt"}) {
    std::string text = readFile(std::string(RPM_SOURCE_DIR) + "/docs/examples/mqtt-" + form + ".json");
    REQUIRE_FALSE(text.empty());
    MessageContext c = ctx(form);
    c.device = *DeviceKey::mqtt(std::string(form) == "native" ? "bp-cuff-1" : "thermo-1");
    auto m = ok(p->parse(c, text));
    CHECK_FALSE(m.readings.empty());
  }
}

TEST_CASE("the embedded schemas are the files in docs/schemas", "[mqtt_formats]") {
  CHECK(embeddedSchema("native") == readFile(std::string(RPM_SOURCE_DIR) + "/docs/schemas/rpm-reading-1.schema.json"));
  CHECK(embeddedSchema("gatt") == readFile(std::string(RPM_SOURCE_DIR) + "/docs/schemas/rpm-gatt-1.schema.json"));
}

namespace {
// A zone with +60 in winter and +120 from April to October (enough for the test).
class TwoOffsetZone final : public TimeZoneRules {
 public:
  const std::string& name() const override { return name_; }
  int offsetMinutesAt(UtcInstant t) const override {
    return toLocal(t, 0).month >= 4 && toLocal(t, 0).month <= 10 ? 120 : 60;
  }
  UtcInstant toUtc(const LocalDateTime& l) const override { return fromLocal(l, l.month >= 4 && l.month <= 10 ? 120 : 60); }

 private:
  std::string name_ = "Test/Two";
};
}  // namespace

TEST_CASE("a device wall-clock time is placed with the hub zone's offset at that time, not at receipt", "[mqtt_formats]") {
  auto p = parser();
  TwoOffsetZone zone;
  MessageContext c = ctx("native");  // received in May (+120)
  c.zone = &zone;
  auto m = ok(p->parse(c, R"({"format":"rpm-reading/1","readings":[{"id":"w","kind":"body-weight",
    "localTime":"2024-01-10T07:00:00","components":[{"measure":"body-weight","value":70.0,"unit":"kg"}]}]})"));
  CHECK(formatUtc(m.readings[0].effectiveStart) == "2024-01-10T06:00:00Z");
  CHECK(m.readings[0].utcOffsetMinutes == 60);
}
