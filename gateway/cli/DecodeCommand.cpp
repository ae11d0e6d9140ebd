#include "gateway/cli/DecodeCommand.h"

#include <cctype>
#include <cstdio>
#include <ostream>

#include "drivers/registry/DriverRegistry.h"
#include "fhir/BundleBuilder.h"
#include "fhir/DeviceResources.h"
#include "fhir/FixedOffsetZone.h"
#include "fhir/ObservationMapper.h"
#include "gateway/identity/Identifiers.h"

#ifndef RPM_GATEWAY_VERSION
#define RPM_GATEWAY_VERSION "0.0.0"
#endif

namespace rpm::cli {
namespace {

constexpr std::uint16_t kGlucoseContext = 0x2A34;

int fail(std::ostream& err, const std::string& line) {
  err << "rpm-gateway decode: " << line << "\n";
  return 2;
}

std::optional<std::uint16_t> parseCharacteristic(std::string text) {
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) text = text.substr(2);
  if (text.empty() || text.size() > 4) return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    value = value * 16 + static_cast<unsigned>(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10));
  }
  return static_cast<std::uint16_t>(value);
}

// Hex with spaces, colons or no separators between octets.
std::optional<std::vector<std::uint8_t>> parseHex(const std::string& text) {
  std::vector<std::uint8_t> out;
  std::string digits;
  auto flush = [&]() -> bool {
    if (digits.empty()) return true;
    if (digits.size() % 2 != 0) return false;
    for (size_t i = 0; i < digits.size(); i += 2) {
      out.push_back(static_cast<std::uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
    }
    digits.clear();
    return true;
  };
  for (char c : text) {
    if (std::isxdigit(static_cast<unsigned char>(c))) {
      digits.push_back(c);
    } else if (c == ' ' || c == ':' || c == '\t') {
      if (!flush()) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  if (!flush()) return std::nullopt;
  return out;
}

bool validPatient(const std::string& p) {
  constexpr std::string_view kPrefix = "Patient/";
  if (p.compare(0, kPrefix.size(), kPrefix) != 0 || p.size() == kPrefix.size() || p.size() > kPrefix.size() + 64) {
    return false;
  }
  for (size_t i = kPrefix.size(); i < p.size(); ++i) {
    char c = p[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
  }
  return true;
}

std::string hex4(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04X", v);
  return buf;
}

fhir::Json fieldsJson(std::uint16_t characteristic, const DriverDescriptor& driver, const DecodedPayload& p) {
  fhir::Json j;
  j["characteristic"] = hex4(characteristic);
  j["driver"] = driver.name;
  fhir::Json fields = fhir::Json::array();
  for (const auto& f : p.fields) fields.push_back(fhir::Json{{"name", fhir::fhirString(f.name)}, {"value", fhir::fhirString(f.value)}});
  j["fields"] = fields;
  j["readings"] = p.readings.size();
  if (!p.note.empty()) j["note"] = p.note;
  return j;
}

}  // namespace

int runDecode(const DecodeOptions& o, std::ostream& out, std::ostream& err) {
  auto characteristic = parseCharacteristic(o.characteristic);
  if (!characteristic) return fail(err, "--characteristic: not a 16-bit UUID in hex (e.g. 2A35 or 0x2A35)");
  auto bytes = parseHex(o.hex);
  if (!bytes) return fail(err, "--hex: not hex octets separated by spaces, colons or nothing");
  if (o.format != "fhir" && o.format != "reading") return fail(err, "--format: must be fhir or reading");
  if (!validPatient(o.patient)) return fail(err, "--patient: must be Patient/<id>");
  auto device = DeviceKey::bluetooth(o.deviceAddress);
  if (!device) return fail(err, "--device-address: not a Bluetooth address (B0:49:5F:00:10:71)");
  auto receivedAt = parseDateTime(o.receivedAt);
  if (!receivedAt) return fail(err, "--received-at: not an RFC 3339 date-time with zone");
  auto offset = parseUtcOffset(o.utcOffset);
  if (!offset) return fail(err, "--utc-offset: not an offset such as +01:00");
  std::optional<LocalDateTime> sessionStart;
  if (!o.sessionStart.empty()) {
    sessionStart = LocalDateTime::parse(o.sessionStart);
    if (!sessionStart) return fail(err, "--session-start: not a local date-time YYYY-MM-DDThh:mm:ss");
  }
  std::optional<std::vector<std::uint8_t>> contextBytes;
  if (!o.contextHex.empty()) {
    contextBytes = parseHex(o.contextHex);
    if (!contextBytes) return fail(err, "--context: not hex octets separated by spaces, colons or nothing");
  }

  const DriverDescriptor* driver = drivers::driverForCharacteristic(*characteristic);
  if (!driver || !driver->decode) return fail(err, "no driver decodes characteristic 0x" + hex4(*characteristic));
  DecodeContext ctx;
  ctx.device = *device;
  ctx.receivedAt = *receivedAt;
  ctx.utcOffsetMinutes = *offset;
  ctx.sessionStart = sessionStart;
  auto decoded = driver->decode(*characteristic, *bytes, ctx);
  if (!decoded) return fail(err, decoded.status().message());

  std::optional<DecodedPayload> context;
  const DriverDescriptor* contextDriver = nullptr;
  if (contextBytes) {
    if (*characteristic != 0x2A18) {
      return fail(err, "--context: a Glucose Measurement Context (0x2A34) belongs to a Glucose Measurement (2A18)");
    }
    contextDriver = drivers::driverForCharacteristic(kGlucoseContext);
    if (!contextDriver || !contextDriver->decode) return fail(err, "no driver decodes characteristic 0x2A34 (--context)");
    auto c = contextDriver->decode(kGlucoseContext, *contextBytes, ctx);
    if (!c) return fail(err, c.status().message());
    context = std::move(*c);
  }

  if (o.format == "reading") {
    fhir::Json doc = fieldsJson(*characteristic, *driver, *decoded);
    if (context) doc["context"] = fieldsJson(kGlucoseContext, *contextDriver, *context);
    out << fhir::dumpFhir(doc, 2) << "\n";
    return 0;
  }

  // The readings as the gateway stores them: bound to the patient, with ids.
  std::vector<Reading> readings = decoded->readings;
  if (context) readings.insert(readings.end(), context->readings.begin(), context->readings.end());
  const Reading* glucose = nullptr;
  for (auto& r : readings) {
    r.subject = o.patient;
    r.id = computeReadingId(r);
  }
  for (const auto& r : readings) {
    if (r.kind == ReadingKind::kGlucose) glucose = &r;
  }
  for (auto& r : readings) {
    if (r.kind == ReadingKind::kGlucoseContext && glucose && r.relatedReadingId.empty()) r.relatedReadingId = glucose->id;
  }

  fhir::DeviceRecord record;
  record.key = *device;
  record.source = fhir::DeviceInfoSource::kBleDeviceInformation;
  for (const auto& r : readings) record.kinds.push_back(r.kind);
  fhir::HubRecord hub{"decode", "", RPM_GATEWAY_VERSION};
  fhir::Json phg = fhir::buildPhgDevice(hub);
  fhir::Json phd = fhir::buildPhdDevice(record);
  fhir::FixedOffsetZone zone(*offset);
  fhir::MappingContext mc;
  mc.zone = &zone;
  mc.hubClockSynchronized = false;
  mc.phgDeviceReference = fhir::contentFullUrl(phg);
  mc.phdDeviceReference = fhir::contentFullUrl(phd);

  std::vector<fhir::BundleEntry> observations;
  std::string note = !decoded->note.empty() ? decoded->note : (context ? context->note : std::string());
  for (const auto& r : readings) {
    auto mapped = fhir::mapReading(r, mc, r.kind == ReadingKind::kGlucoseContext ? glucose : nullptr);
    if (!mapped) return fail(err, mapped.status().message());
    for (auto& m : mapped->observations) observations.push_back({"", std::move(m.resource), m.ifNoneExist()});
    if (note.empty()) note = mapped->note;
  }
  std::vector<fhir::BundleEntry> entries;
  if (!observations.empty()) {
    entries.push_back({mc.phgDeviceReference, phg, {}});
    entries.push_back({mc.phdDeviceReference, phd, {}});
    for (auto& e : observations) entries.push_back(std::move(e));
  } else {
    err << "rpm-gateway decode: nothing to upload: " << (note.empty() ? "no readings" : note) << "\n";
  }
  out << fhir::dumpFhir(fhir::buildBundle(fhir::BundleType::kCollection, entries), 2) << "\n";
  return 0;
}

}  // namespace rpm::cli
