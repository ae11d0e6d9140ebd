#include "drivers/mqtt_formats/MqttFormats.h"

#include <array>
#include <cstring>
#include <exception>
#include <utility>

#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "drivers/mqtt_formats/JsonDocument.h"
#include "drivers/registry/DriverRegistry.h"

namespace rpm::mqtt_formats {

using json = nlohmann::json;

// Generated from docs/schemas/ at build time (EmbeddedSchemas.cpp.in).
extern const char* const kNativeSchemaText;
extern const char* const kGattSchemaText;
extern const char* const kVendorSchemaText;

std::string_view rejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kMalformedJson: return "malformed-json";
    case RejectReason::kSchemaInvalid: return "schema-invalid";
    case RejectReason::kOversized: return "oversized";
    case RejectReason::kUnknownTemplate: return "unknown-template";
    case RejectReason::kIdentityMismatch: return "identity-mismatch";
    case RejectReason::kNotEnrolled: return "not-enrolled";
    case RejectReason::kUndecodable: return "undecodable";
    case RejectReason::kBadTopic: return "bad-topic";
  }
  return "unknown";
}

std::string_view embeddedSchema(std::string_view form) {
  if (form == "native") return kNativeSchemaText;
  if (form == "gatt") return kGattSchemaText;
  if (form == "vendor") return kVendorSchemaText;
  return {};
}

std::optional<UnitConversion> builtinConversion(std::string_view from, std::string_view to) {
  // Exact factors; the target precision is what a clinician reads on such a device.
  static const std::array<UnitConversion, 7> table = {{
      {"[lb_av]", "kg", 45359237, 100000000, 2},  // the international avoirdupois pound, exact
      {"g", "kg", 1, 1000, 3},
      {"[in_i]", "cm", 254, 100, 1},               // the international inch, exact
      {"kPa", "mm[Hg]", 760000, 101325, 0},        // 1 atm = 101.325 kPa = 760 mm[Hg]
      {"mmol/L", "mg/dL", 18016, 1000, 0},         // glucose, M = 180.16 g/mol
      {"mg/dL", "mmol/L", 1000, 18016, 1},
      {"s", "ms", 1000, 1, 0},
  }};
  for (const auto& c : table) {
    if (c.fromUnit == from && c.toUnit == to) return c;
  }
  return std::nullopt;
}

bool topicMatches(std::string_view filter, std::string_view topic) {
  std::size_t f = 0;
  std::size_t t = 0;
  while (true) {
    std::size_t fe = filter.find('/', f);
    std::string_view fl = filter.substr(f, fe == std::string_view::npos ? std::string_view::npos : fe - f);
    if (fl == "#") return true;
    if (t > topic.size()) return false;
    std::size_t te = topic.find('/', t);
    std::string_view tl = topic.substr(t, te == std::string_view::npos ? std::string_view::npos : te - t);
    if (fl != "+" && fl != tl) return false;
    if (fe == std::string_view::npos || te == std::string_view::npos) {
      // "a/#" also matches "a" (MQTT 3.1.1 §4.7.1.2).
      if (fe != std::string_view::npos && te == std::string_view::npos) return filter.substr(fe + 1) == "#";
      return fe == std::string_view::npos && te == std::string_view::npos;
    }
    f = fe + 1;
    t = te + 1;
  }
}

namespace {

bool validPointer(const std::string& p) {
  if (p.empty()) return true;
  try {
    json::json_pointer check(p);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

Status templateProblem(const TemplateRows& rows, const std::string& what) {
  return Status(ErrorKind::kConfigInvalid, "mqtt template '" + rows.name + "': " + what);
}

bool splitAt(const std::string& row, char sep, std::string& left, std::string& right) {
  auto pos = row.find(sep);
  if (pos == std::string::npos || pos == 0) return false;
  left = row.substr(0, pos);
  right = row.substr(pos + 1);
  return true;
}

}  // namespace

Result<PayloadTemplate> makeTemplate(const TemplateRows& rows) {
  PayloadTemplate t;
  if (rows.name.empty()) return Status(ErrorKind::kConfigInvalid, "mqtt template without a name");
  t.name = rows.name;
  if (rows.topic.empty() || rows.topic == "native" || rows.topic == "gatt") {
    return templateProblem(rows, "topic must be a filter other than 'native' and 'gatt'");
  }
  t.topicFilter = rows.topic;
  auto kind = readingKindFromName(rows.kind);
  if (!kind) return templateProblem(rows, "unknown kind '" + rows.kind + "'");
  if (*kind == ReadingKind::kEcg) return templateProblem(rows, "ecg needs the native form (sample series)");
  t.kind = *kind;
  if (rows.values.empty()) return templateProblem(rows, "values is empty");
  for (const auto& row : rows.values) {
    std::string name, pointer;
    if (!splitAt(row, '=', name, pointer)) return templateProblem(rows, "values row '" + row + "' is not measure=/pointer");
    auto measure = measureFromName(name);
    if (!measure) return templateProblem(rows, "unknown measure '" + name + "'");
    if (pointer.empty() || pointer[0] != '/' || !validPointer(pointer)) {
      return templateProblem(rows, "values row '" + row + "' has no valid JSON pointer");
    }
    TemplateComponent c;
    c.measure = *measure;
    c.valuePointer = pointer;
    t.components.push_back(c);
  }
  auto component = [&](const std::string& name) -> TemplateComponent* {
    auto measure = measureFromName(name);
    if (!measure) return nullptr;
    for (auto& c : t.components) {
      if (c.measure == *measure) return &c;
    }
    return nullptr;
  };
  for (const auto& row : rows.units) {
    std::string name, unit;
    if (!splitAt(row, '=', name, unit) || unit.empty()) return templateProblem(rows, "units row '" + row + "' is not measure=unit");
    TemplateComponent* c = component(name);
    if (c == nullptr) return templateProblem(rows, "units row '" + row + "' names no measure of values");
    if (unit[0] == '@') {
      if (!validPointer(unit.substr(1)) || unit.size() < 2) return templateProblem(rows, "units row '" + row + "' has a bad pointer");
      c->unitPointer = unit.substr(1);
    } else {
      c->unit = unit;
    }
  }
  for (const auto& c : t.components) {
    if (c.unit.empty() && c.unitPointer.empty()) {
      return templateProblem(rows, "measure '" + std::string(measureName(c.measure)) + "' has no units row");
    }
  }
  for (const auto& row : rows.convert) {
    std::string name, spec;
    auto arrow = row.find("->");
    if (!splitAt(row, '=', name, spec) || arrow == std::string::npos) {
      return templateProblem(rows, "convert row '" + row + "' is not measure=from->to");
    }
    auto sArrow = spec.find("->");
    auto conversion = builtinConversion(spec.substr(0, sArrow), spec.substr(sArrow + 2));
    if (!conversion) return templateProblem(rows, "convert row '" + row + "' names no known conversion");
    TemplateComponent* c = component(name);
    if (c == nullptr) return templateProblem(rows, "convert row '" + row + "' names no measure of values");
    c->conversion = conversion;
  }
  for (const auto& row : rows.match) {
    std::string pointer, value;
    if (!splitAt(row, '=', pointer, value) || pointer[0] != '/' || !validPointer(pointer)) {
      return templateProblem(rows, "match row '" + row + "' is not /pointer=value");
    }
    t.match.emplace_back(pointer, value);
  }
  for (const auto* p : {&rows.timePointer, &rows.readingIdPointer, &rows.sequencePointer, &rows.devicePointer,
                        &rows.messageIdPointer}) {
    if (!p->empty() && ((*p)[0] != '/' || !validPointer(*p))) return templateProblem(rows, "pointer '" + *p + "' is malformed");
  }
  t.timePointer = rows.timePointer;
  t.readingIdPointer = rows.readingIdPointer;
  t.sequencePointer = rows.sequencePointer;
  t.devicePointer = rows.devicePointer;
  t.messageIdPointer = rows.messageIdPointer;
  return t;
}

struct PayloadParser::Impl {
  ParserOptions options;
  valijson::Schema nativeSchema;
  valijson::Schema gattSchema;
  valijson::Schema vendorSchema;
};

namespace {

Status loadSchema(std::string_view text, valijson::Schema& schema, const char* form) {
  try {
    json doc = json::parse(text);
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(doc);
    parser.populateSchema(adapter, schema);
    return Status::ok();
  } catch (const std::exception&) {
    return Status(ErrorKind::kInternal, std::string("embedded JSON Schema of form ") + form + " does not load");
  }
}

using Outcome = std::variant<ParsedMessage, Rejection>;

Rejection reject(RejectReason reason, std::string detail, std::string messageId = {}) {
  return Rejection{reason, std::move(detail), std::move(messageId)};
}

// The first violation's location only: valijson descriptions can quote the
// payload, and a rejection never carries values.
std::optional<std::string> schemaViolation(const valijson::Schema& schema, const json& doc) {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(doc);
  bool ok = false;
  try {
    ok = validator.validate(schema, adapter, &results);
  } catch (const std::exception&) {
    return std::string("schema validation failed");
  }
  if (ok) return std::nullopt;
  valijson::ValidationResults::Error error;
  std::string where;
  // The deepest context names the offending member best.
  std::size_t depth = 0;
  while (results.popError(error)) {
    if (error.context.size() >= depth) {
      depth = error.context.size();
      where.clear();
      for (const auto& c : error.context) where += c;
    }
  }
  return "schema violation at " + where;
}

std::string stringMember(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

// A payload's device id must name the identity the broker/topic established.
bool sameDevice(const std::string& payloadDevice, const DeviceKey& identity) {
  return payloadDevice == identity.value() || payloadDevice == identity.canonical();
}

struct ParsedTime {
  UtcInstant instant;
  std::optional<LocalDateTime> local;
  std::optional<int> offset;
};

std::optional<ParsedTime> rfc3339(const std::string& text) {
  auto instant = parseDateTime(text);
  if (!instant) return std::nullopt;
  ParsedTime t;
  t.instant = *instant;
  std::optional<int> offset;
  if (!text.empty() && (text.back() == 'Z' || text.back() == 'z')) {
    offset = 0;
  } else if (text.size() >= 6) {
    offset = parseUtcOffset(std::string_view(text).substr(text.size() - 6));
  }
  if (offset) {
    t.offset = offset;
    t.local = toLocal(*instant, *offset);
  }
  return t;
}

std::vector<std::uint8_t> payloadBytes(std::string_view payload) {
  return std::vector<std::uint8_t>(payload.begin(), payload.end());
}

Outcome parseNative(const PayloadParser::Impl&, const MessageContext& ctx, const JsonDocument& doc,
                    std::string_view payload) {
  const json& root = doc.root();
  std::string messageId = stringMember(root, "messageId");
  std::string device = stringMember(root, "device");
  if (!device.empty() && !sameDevice(device, ctx.device)) {
    return reject(RejectReason::kIdentityMismatch, "/device differs from the topic identity", messageId);
  }
  ParsedMessage out;
  out.messageId = messageId;
  const json& readings = root.at("readings");
  for (std::size_t i = 0; i < readings.size(); ++i) {
    const json& r = readings[i];
    const std::string base = "/readings/" + std::to_string(i);
    Reading reading;
    reading.device = ctx.device;
    reading.kind = *readingKindFromName(r.at("kind").get<std::string>());
    reading.receivedAt = ctx.receivedAt;
    reading.utcOffsetMinutes = ctx.utcOffsetMinutes;
    reading.producerMessageId = messageId;
    reading.producerReadingId = stringMember(r, "id");
    if (r.contains("sequence")) reading.sequence = r.at("sequence").get<std::uint32_t>();
    if (r.contains("userSlot")) reading.userSlot = static_cast<std::uint8_t>(r.at("userSlot").get<int>());
    if (r.value("stored", false)) reading.priority = Priority::kStored;
    reading.effectiveStart = ctx.receivedAt;
    if (r.contains("time")) {
      auto t = rfc3339(r.at("time").get<std::string>());
      if (!t) return reject(RejectReason::kUndecodable, base + "/time is not RFC 3339", messageId);
      reading.effectiveStart = t->instant;
      reading.deviceTime = t->local;
      reading.deviceUtcOffsetMinutes = t->offset;
    } else if (r.contains("localTime")) {
      auto local = LocalDateTime::parse(r.at("localTime").get<std::string>());
      if (!local) return reject(RejectReason::kUndecodable, base + "/localTime is not YYYY-MM-DDThh:mm:ss", messageId);
      reading.deviceTime = local;
      reading.effectiveStart = ctx.zone != nullptr ? ctx.zone->toUtc(*local) : fromLocal(*local, ctx.utcOffsetMinutes);
    }
    if (r.contains("endTime")) {
      auto t = rfc3339(r.at("endTime").get<std::string>());
      if (!t || t->instant < reading.effectiveStart) {
        return reject(RejectReason::kUndecodable, base + "/endTime is not RFC 3339 after the start", messageId);
      }
      reading.effectiveEnd = t->instant;
    }
    if (r.contains("components")) {
      if (reading.kind == ReadingKind::kEcg) {
        return reject(RejectReason::kUndecodable, base + " ecg needs series, not components", messageId);
      }
      std::vector<Component> components;
      const json& cs = r.at("components");
      for (std::size_t j = 0; j < cs.size(); ++j) {
        const json& c = cs[j];
        const std::string cp = base + "/components/" + std::to_string(j);
        Component component;
        component.measure = *measureFromName(c.at("measure").get<std::string>());
        if (c.contains("value")) {
          auto value = doc.decimalAt(cp + "/value");
          if (!value) return reject(RejectReason::kMalformedJson, cp + "/value exceeds 18 digits", messageId);
          component.quantity.value = *value;
          component.quantity.unit = c.at("unit").get<std::string>();
        }
        component.code = stringMember(c, "code");
        auto comparator = stringMember(c, "comparator");
        if (comparator == "<") component.comparator = Comparator::kLess;
        if (comparator == ">") component.comparator = Comparator::kGreater;
        components.push_back(std::move(component));
      }
      if (reading.kind == ReadingKind::kBloodPressure) {
        bool sys = false, dia = false;
        for (const auto& c : components) {
          sys = sys || c.measure == Measure::kSystolic;
          dia = dia || c.measure == Measure::kDiastolic;
        }
        if (!sys || !dia) {
          return reject(RejectReason::kUndecodable, base + " blood-pressure needs systolic and diastolic", messageId);
        }
      }
      reading.value = std::move(components);
    } else {
      if (reading.kind != ReadingKind::kEcg) {
        return reject(RejectReason::kUndecodable, base + " series is only for ecg", messageId);
      }
      const json& s = r.at("series");
      const std::string sp = base + "/series";
      SampledSeries series;
      series.measure = Measure::kEcgLead;
      series.mdcLead = s.at("lead").get<std::uint32_t>();
      auto period = doc.decimalAt(sp + "/periodMs");
      auto factor = doc.decimalAt(sp + "/factor");
      auto origin = doc.decimalAt(sp + "/origin");
      if (!period || !factor || !origin) {
        return reject(RejectReason::kMalformedJson, sp + " has a number beyond 18 digits", messageId);
      }
      series.periodMs = *period;
      series.factor = *factor;
      series.origin.value = *origin;
      series.origin.unit = s.at("unit").get<std::string>();
      for (const auto& sample : s.at("samples")) series.samples.push_back(sample.get<std::int32_t>());
      reading.value = std::move(series);
    }
    if (r.contains("status")) {
      for (const auto& st : r.at("status")) {
        reading.status.push_back(StatusWord{st.at("name").get<std::string>(), st.at("bits").get<std::uint32_t>()});
      }
    }
    reading.raw.format = "mqtt-native/1";
    reading.raw.bytes = payloadBytes(payload);
    out.readings.push_back(std::move(reading));
  }
  return out;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::vector<std::uint8_t>> fromHex(const std::string& text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    int hi = hexValue(text[i]);
    int lo = hexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> fromBase64(const std::string& text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (text.size() % 4 != 0) return std::nullopt;
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::uint32_t acc = 0;
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      char c = text[i + k];
      if (c == '=') {
        if (i + 4 != text.size() || k < 2) return std::nullopt;
        ++pad;
        acc <<= 6;
        continue;
      }
      if (pad > 0) return std::nullopt;
      int v = value(c);
      if (v < 0) return std::nullopt;
      acc = (acc << 6) | static_cast<std::uint32_t>(v);
    }
    out.push_back(static_cast<std::uint8_t>(acc >> 16));
    if (pad < 2) out.push_back(static_cast<std::uint8_t>(acc >> 8));
    if (pad < 1) out.push_back(static_cast<std::uint8_t>(acc));
  }
  return out;
}

Outcome parseGatt(const PayloadParser::Impl&, const MessageContext& ctx, const JsonDocument& doc) {
  const json& root = doc.root();
  std::string messageId = stringMember(root, "messageId");
  std::string device = stringMember(root, "device");
  if (!device.empty() && !sameDevice(device, ctx.device)) {
    return reject(RejectReason::kIdentityMismatch, "/device differs from the topic identity", messageId);
  }
  std::string uuid = stringMember(root, "characteristic");
  std::string shortUuid = uuid.size() == 4 ? uuid : uuid.substr(4, 4);
  auto uuidBytes = fromHex(shortUuid);
  auto characteristic = static_cast<std::uint16_t>((*uuidBytes)[0] << 8 | (*uuidBytes)[1]);
  std::optional<std::vector<std::uint8_t>> bytes =
      root.contains("hex") ? fromHex(stringMember(root, "hex")) : fromBase64(stringMember(root, "base64"));
  if (!bytes) return reject(RejectReason::kSchemaInvalid, "/base64 is not canonical base64", messageId);
  auto bridgeTime = parseDateTime(stringMember(root, "receivedAt"));
  if (!bridgeTime) return reject(RejectReason::kUndecodable, "/receivedAt is not RFC 3339", messageId);
  const DriverDescriptor* driver = drivers::driverForCharacteristic(characteristic);
  if (driver == nullptr || driver->decode == nullptr) {
    return reject(RejectReason::kUndecodable, "no driver decodes characteristic " + shortUuid, messageId);
  }
  DecodeContext dc;
  dc.device = ctx.device;
  dc.receivedAt = *bridgeTime;
  dc.utcOffsetMinutes = ctx.utcOffsetMinutes;
  if (root.contains("sessionStart")) {
    dc.sessionStart = LocalDateTime::parse(stringMember(root, "sessionStart"));
    if (!dc.sessionStart) return reject(RejectReason::kUndecodable, "/sessionStart is not YYYY-MM-DDThh:mm:ss", messageId);
  }
  Result<DecodedPayload> decoded = drivers::driverForCharacteristic(characteristic)->decode(characteristic, *bytes, dc);
  if (!decoded) {
    return reject(RejectReason::kUndecodable, "characteristic " + shortUuid + ": " + decoded.status().message(),
                  messageId);
  }
  ParsedMessage out;
  out.messageId = messageId;
  std::string id = stringMember(root, "id");
  auto& readings = decoded->readings;
  for (std::size_t i = 0; i < readings.size(); ++i) {
    Reading& r = readings[i];
    r.device = ctx.device;
    r.producerMessageId = messageId;
    if (!id.empty()) r.producerReadingId = readings.size() == 1 ? id : id + "." + std::to_string(i);
    out.readings.push_back(std::move(r));
  }
  return out;
}

bool matchesTemplate(const PayloadTemplate& t, const MessageContext& ctx, const JsonDocument& doc) {
  if (!topicMatches(t.topicFilter, ctx.formTopic)) return false;
  for (const auto& [pointer, expected] : t.match) {
    auto text = doc.textAt(pointer);
    if (!text || *text != expected) return false;
  }
  return true;
}

Outcome parseVendor(const PayloadParser::Impl& impl, const MessageContext& ctx, const JsonDocument& doc,
                    std::string_view payload) {
  const PayloadTemplate* chosen = nullptr;
  for (const auto& t : impl.options.templates) {
    if (matchesTemplate(t, ctx, doc)) {
      chosen = &t;
      break;
    }
  }
  auto text = [&](const std::string& pointer) -> std::string {
    if (pointer.empty()) return {};
    return doc.textAt(pointer).value_or(std::string());
  };
  if (chosen == nullptr) return reject(RejectReason::kUnknownTemplate, "no template matches topic and fields");
  const PayloadTemplate& t = *chosen;
  std::string readingId = text(t.readingIdPointer);
  std::string messageId = t.messageIdPointer.empty() ? readingId : text(t.messageIdPointer);
  if (!t.devicePointer.empty()) {
    auto device = doc.textAt(t.devicePointer);
    if (!device) return reject(RejectReason::kSchemaInvalid, "template " + t.name + ": no device at " + t.devicePointer, messageId);
    if (!sameDevice(*device, ctx.device)) {
      return reject(RejectReason::kIdentityMismatch, "template " + t.name + ": " + t.devicePointer +
                                                         " differs from the topic identity", messageId);
    }
  }
  Reading reading;
  reading.device = ctx.device;
  reading.kind = t.kind;
  reading.receivedAt = ctx.receivedAt;
  reading.utcOffsetMinutes = ctx.utcOffsetMinutes;
  reading.effectiveStart = ctx.receivedAt;
  reading.producerMessageId = messageId;
  reading.producerReadingId = readingId;
  if (!t.sequencePointer.empty()) {
    const json* s = doc.at(t.sequencePointer);
    if (s == nullptr || !s->is_number_unsigned() || s->get<std::uint64_t>() > 0xFFFFFFFFULL) {
      return reject(RejectReason::kSchemaInvalid, "template " + t.name + ": " + t.sequencePointer + " is not a sequence number", messageId);
    }
    reading.sequence = static_cast<std::uint32_t>(s->get<std::uint64_t>());
  }
  if (!t.timePointer.empty()) {
    const json* tv = doc.at(t.timePointer);
    if (tv != nullptr && tv->is_number_unsigned()) {
      reading.effectiveStart = UtcInstant(std::chrono::seconds(tv->get<std::uint64_t>()));
      reading.deviceUtcOffsetMinutes = 0;
      reading.deviceTime = toLocal(reading.effectiveStart, 0);
    } else if (tv != nullptr && tv->is_string()) {
      auto parsed = rfc3339(tv->get<std::string>());
      if (!parsed) return reject(RejectReason::kUndecodable, "template " + t.name + ": " + t.timePointer + " is not RFC 3339", messageId);
      reading.effectiveStart = parsed->instant;
      reading.deviceTime = parsed->local;
      reading.deviceUtcOffsetMinutes = parsed->offset;
    } else {
      return reject(RejectReason::kSchemaInvalid, "template " + t.name + ": no time at " + t.timePointer, messageId);
    }
  }
  std::vector<Component> components;
  for (const auto& tc : t.components) {
    auto value = doc.decimalAt(tc.valuePointer);
    if (!value) {
      return reject(RejectReason::kSchemaInvalid, "template " + t.name + ": no number at " + tc.valuePointer, messageId);
    }
    std::string unit = tc.unit;
    if (!tc.unitPointer.empty()) {
      auto u = doc.textAt(tc.unitPointer);
      if (!u || u->empty() || u->size() > 32) {
        return reject(RejectReason::kSchemaInvalid, "template " + t.name + ": no unit at " + tc.unitPointer, messageId);
      }
      unit = *u;
    }
    Component c;
    c.measure = tc.measure;
    c.quantity.value = *value;
    c.quantity.unit = unit;
    if (tc.conversion && unit == tc.conversion->fromUnit) {
      auto converted = value->convert(tc.conversion->numerator, tc.conversion->denominator, -tc.conversion->decimals);
      if (!converted) return reject(RejectReason::kUndecodable, "template " + t.name + ": conversion overflows", messageId);
      c.original = c.quantity;
      c.quantity.value = *converted;
      c.quantity.unit = tc.conversion->toUnit;
    }
    components.push_back(std::move(c));
  }
  reading.value = std::move(components);
  reading.raw.format = "mqtt-template:" + t.name;
  reading.raw.bytes = payloadBytes(payload);
  ParsedMessage out;
  out.messageId = messageId;
  out.readings.push_back(std::move(reading));
  return out;
}

}  // namespace

PayloadParser::PayloadParser(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PayloadParser::~PayloadParser() = default;

const ParserOptions& PayloadParser::options() const { return impl_->options; }

Result<std::unique_ptr<PayloadParser>> PayloadParser::create(ParserOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  Status s = loadSchema(kNativeSchemaText, impl->nativeSchema, "native");
  if (s.isOk()) s = loadSchema(kGattSchemaText, impl->gattSchema, "gatt");
  if (s.isOk()) s = loadSchema(kVendorSchemaText, impl->vendorSchema, "vendor");
  if (!s.isOk()) return s;
  return std::unique_ptr<PayloadParser>(new PayloadParser(std::move(impl)));
}

std::variant<ParsedMessage, Rejection> PayloadParser::parse(const MessageContext& context,
                                                             std::string_view payload) const {
  try {
    if (payload.size() > impl_->options.maxPayloadBytes) {
      return reject(RejectReason::kOversized, "payload above mqtt.max_payload_bytes");
    }
    if (context.formTopic.empty()) return reject(RejectReason::kBadTopic, "no form after readings/");
    auto doc = JsonDocument::parse(payload);
    if (!doc) return reject(RejectReason::kMalformedJson, "payload is not JSON (or nests deeper than 32)");
    const valijson::Schema* schema = &impl_->vendorSchema;
    if (context.formTopic == "native") schema = &impl_->nativeSchema;
    if (context.formTopic == "gatt") schema = &impl_->gattSchema;
    if (auto violation = schemaViolation(*schema, doc->root())) {
      std::string messageId;
      if (doc->root().is_object()) messageId = stringMember(doc->root(), "messageId");
      return reject(RejectReason::kSchemaInvalid, *violation, messageId);
    }
    Outcome outcome = context.formTopic == "native" ? parseNative(*impl_, context, *doc, payload)
                      : context.formTopic == "gatt" ? parseGatt(*impl_, context, *doc)
                                                    : parseVendor(*impl_, context, *doc, payload);
    if (auto* parsed = std::get_if<ParsedMessage>(&outcome); parsed != nullptr && context.zone != nullptr) {
      // Reading.utcOffsetMinutes is the hub zone's offset at the reading's own time.
      for (auto& r : parsed->readings) r.utcOffsetMinutes = context.zone->offsetMinutesAt(r.effectiveStart);
    }
    return outcome;
  } catch (const std::exception&) {
    // A broken invariant (a schema that let an unexpected type through):
    // refuse the message rather than crash the intake.
    return reject(RejectReason::kUndecodable, "payload content could not be read");
  }
}

}  // namespace rpm::mqtt_formats
