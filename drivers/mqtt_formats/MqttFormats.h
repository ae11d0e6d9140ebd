// MqttFormats: the three payload forms MQTT devices may publish, as pure
// parsers (bytes + topic + enrolled identity -> Readings, or a typed
// rejection with a reason). docs/mqtt.md describes each form; the JSON
// Schemas in docs/schemas/ are compiled in and enforced with valijson.
//
//   native  <prefix>/devices/<id>/readings/native    rpm-reading/1 (docs/schemas/rpm-reading-1.schema.json)
//   gatt    <prefix>/devices/<id>/readings/gatt      rpm-gatt/1    (docs/schemas/rpm-gatt-1.schema.json)
//   vendor  <prefix>/devices/<id>/readings/<other>   a declarative template from the config file
//
// Numbers keep their decimal text: "2.00" becomes Decimal(200, -2), never a double.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "gateway/model/DeviceKey.h"
#include "gateway/model/Reading.h"
#include "gateway/model/Status.h"
#include "gateway/model/Time.h"
#include "gateway/ports/TimeZoneRules.h"

namespace rpm::mqtt_formats {

// Why a message was refused. Names are stable (published on the rejected
// topic, counted in status).
enum class RejectReason : std::uint8_t {
  kMalformedJson = 1,     // not JSON, too deep, or a number beyond 18 digits
  kSchemaInvalid = 2,     // JSON that breaks its form's schema
  kOversized = 3,         // payload above the configured limit
  kUnknownTemplate = 4,   // vendor topic/payload no template matches
  kIdentityMismatch = 5,  // device id in the payload differs from the topic/broker identity
  kNotEnrolled = 6,       // the identity has no enrolment
  kUndecodable = 7,       // valid shape, but the content does not decode (bad GATT bytes, bad time, unknown characteristic)
  kBadTopic = 8,          // a topic outside the documented layout
};
inline constexpr std::size_t kRejectReasonCount = 9;  // index by static_cast<size_t>(reason)

std::string_view rejectReasonName(RejectReason reason);

struct Rejection {
  RejectReason reason = RejectReason::kMalformedJson;
  std::string detail;     // names the problem and where (a JSON pointer, a field); never a value
  std::string messageId;  // the producer's message id when it could be read
};

// What a message yielded: readings for the sink, and the ids to acknowledge.
struct ParsedMessage {
  std::vector<Reading> readings;
  std::string messageId;  // producer message id ("" if none)
};

// One unit conversion of a template: from -> to, exact factor numerator/denominator,
// rounded to `decimals` fraction digits (round half away from zero).
struct UnitConversion {
  std::string fromUnit;
  std::string toUnit;
  std::int64_t numerator = 1;
  std::int64_t denominator = 1;
  int decimals = 0;
};

// The conversions a template may name ("[lb_av]->kg"). Exact rational factors only.
std::optional<UnitConversion> builtinConversion(std::string_view from, std::string_view to);

// One component of a vendor template: where its value (and unit) are.
struct TemplateComponent {
  Measure measure = Measure::kHeartRate;
  std::string valuePointer;  // JSON pointer to the number (or number text)
  std::string unit;          // fixed UCUM unit; or
  std::string unitPointer;   // JSON pointer to the unit text
  std::optional<UnitConversion> conversion;  // applied when the unit is conversion->fromUnit
};

// A declarative vendor template ([[mqtt_templates]] in the config file).
struct PayloadTemplate {
  std::string name;
  std::string topicFilter = "#";          // MQTT filter over the topic after ".../readings/"
  std::vector<std::pair<std::string, std::string>> match;  // JSON pointer -> required string/number text
  ReadingKind kind = ReadingKind::kHeartRate;
  std::vector<TemplateComponent> components;
  std::string timePointer;       // RFC 3339 text or integer epoch seconds; empty: receive time
  std::string readingIdPointer;  // producer reading id; empty: none
  std::string sequencePointer;   // unsigned sequence number; empty: none
  std::string devicePointer;     // device id inside the payload, checked against the identity
  std::string messageIdPointer;  // message id for the ack; empty: the reading id
};

// The rows of one [[mqtt_templates]] table in the config file, as text
// (docs/mqtt.md, "Vendor JSON"):
//   values  = ["systolic=/bp/sys", ...]          measure = JSON pointer to its number
//   units   = ["systolic=mm[Hg]", "body-weight=@/unit"]   fixed UCUM unit, or @pointer to the unit text
//   convert = ["body-weight=[lb_av]->kg"]        applied when the unit read is the left side
//   match   = ["/type=bp"]                       JSON pointer = required string or number text
struct TemplateRows {
  std::string name;
  std::string topic = "#";
  std::string kind;
  std::vector<std::string> values;
  std::vector<std::string> units;
  std::vector<std::string> convert;
  std::vector<std::string> match;
  std::string timePointer;
  std::string readingIdPointer;
  std::string sequencePointer;
  std::string devicePointer;
  std::string messageIdPointer;
};

// Checks and compiles template rows; kConfigInvalid names the template and row.
Result<PayloadTemplate> makeTemplate(const TemplateRows& rows);

// True when an MQTT topic filter (+, #) matches a topic.
bool topicMatches(std::string_view filter, std::string_view topic);

struct ParserOptions {
  std::size_t maxPayloadBytes = 65536;
  std::vector<PayloadTemplate> templates;
};

struct MessageContext {
  std::string formTopic;  // the topic after "<prefix>/devices/<id>/readings/": "native", "gatt", "acme/bp"
  DeviceKey device;       // the enrolled identity (mqtt:<id>) established by the caller
  UtcInstant receivedAt;
  int utcOffsetMinutes = 0;  // hub time zone offset at receipt
  // The hub's zone: device wall-clock times ("localTime") are placed on the
  // UTC timeline with it, DST-aware (the device-time decision); nullptr: utcOffsetMinutes.
  const TimeZoneRules* zone = nullptr;
};

// Thread-safe after construction (const parse). Holds the compiled schemas.
class PayloadParser {
 public:
  static Result<std::unique_ptr<PayloadParser>> create(ParserOptions options);
  ~PayloadParser();
  PayloadParser(const PayloadParser&) = delete;
  PayloadParser& operator=(const PayloadParser&) = delete;

  // Readings, or a rejection. Never throws.
  std::variant<ParsedMessage, Rejection> parse(const MessageContext& context, std::string_view payload) const;

  const ParserOptions& options() const;

  struct Impl;  // compiled schemas and options (MqttFormats.cpp)

 private:
  explicit PayloadParser(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The schema text compiled in for each form: "native", "gatt", "vendor".
std::string_view embeddedSchema(std::string_view form);

}  // namespace rpm::mqtt_formats
