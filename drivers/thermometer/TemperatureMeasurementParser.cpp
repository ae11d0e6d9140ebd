#include "drivers/thermometer/TemperatureMeasurementParser.h"

#include "drivers/common/ByteReader.h"
#include "drivers/common/GattTime.h"
#include "drivers/common/MedicalFloat.h"

namespace rpm::drivers::thermometer {
namespace {

// Temperature Type 0x2A1D: 1..9; 0 and 10..255 reserved.
const char* siteName(std::uint8_t type) {
  static const char* kSites[] = {nullptr, "armpit", "body", "ear", "finger", "gastro-intestinal-tract",
                                 "mouth", "rectum", "toe", "tympanum"};
  return type >= 1 && type <= 9 ? kSites[type] : nullptr;
}

Status malformed(std::uint16_t characteristic, const std::string& problem) {
  const char* name = characteristic == kTemperatureMeasurement ? "Temperature Measurement (0x2A1C)"
                                                               : "Intermediate Temperature (0x2A1E)";
  return Status(ErrorKind::kMalformedPayload, std::string(name) + ": " + problem);
}

}  // namespace

Result<DecodedPayload> decodeTemperature(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                                         const DecodeContext& context) {
  ByteReader r(bytes);
  std::uint8_t flags = 0;
  if (!r.u8(flags)) return malformed(characteristic, "empty value");
  if (flags & 0xF8) return malformed(characteristic, "reserved flag bits set");
  bool fahrenheit = flags & 0x01;
  std::uint32_t word = 0;
  if (!r.u32(word)) return malformed(characteristic, "too short for the temperature field");
  Quantity temperature = decodeFloat(word, fahrenheit ? "[degF]" : "Cel");

  DecodedPayload out;
  out.fields.push_back({"unit", fahrenheit ? "[degF]" : "Cel"});
  out.fields.push_back({"temperature", temperature.special == SpecialValue::kNone
                                           ? temperature.value.toString()
                                           : std::string(specialValueName(temperature.special))});

  std::optional<LocalDateTime> timestamp;
  if (flags & 0x02) {
    LocalDateTime t;
    switch (readDateTime(r, t)) {
      case DateTimeError::kTruncated: return malformed(characteristic, "too short for the time stamp");
      case DateTimeError::kInvalid: return malformed(characteristic, "impossible date or time in the time stamp");
      case DateTimeError::kNone: break;
    }
    timestamp = t;
    out.fields.push_back({"time-stamp", t.isKnown() ? t.toString() : std::string("unknown")});
  }
  std::string site;
  if (flags & 0x04) {
    std::uint8_t type = 0;
    if (!r.u8(type)) return malformed(characteristic, "too short for the temperature type");
    const char* name = siteName(type);
    if (!name) return malformed(characteristic, "reserved temperature type");
    site = name;
    out.fields.push_back({"temperature-type", site});
  }
  if (!r.atEnd()) return malformed(characteristic, "unexpected trailing bytes");

  if (characteristic == kIntermediateTemperature) {
    out.note = "intermediate temperature is a live display value and is never uploaded";
    return out;
  }

  Reading reading;
  reading.device = context.device;
  reading.kind = ReadingKind::kBodyTemperature;
  reading.receivedAt = context.receivedAt;
  reading.utcOffsetMinutes = context.utcOffsetMinutes;
  reading.deviceTime = timestamp;
  // The effective time is the device time read on the hub's offset; the
  // ingest step corrects it for clock skew where the hub's clock allows.
  reading.effectiveStart = (timestamp && timestamp->isKnown()) ? fromLocal(*timestamp, context.utcOffsetMinutes)
                                                               : context.receivedAt;
  Component c;
  c.measure = Measure::kBodyTemperature;
  c.quantity = temperature;
  c.code = site;
  reading.value = std::vector<Component>{c};
  reading.raw.format = "gatt:2A1C";
  reading.raw.bytes = bytes;
  out.readings.push_back(std::move(reading));
  return out;
}

Result<DecodedPayload> decodeThermometer(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                                         const DecodeContext& context) {
  if (characteristic == kTemperatureType) {
    const std::string label = "Temperature Type (0x2A1D): ";
    if (bytes.empty()) return Status(ErrorKind::kMalformedPayload, label + "empty value");
    if (bytes.size() > 1) return Status(ErrorKind::kMalformedPayload, label + "unexpected trailing bytes");
    const char* name = siteName(bytes[0]);
    if (!name) return Status(ErrorKind::kMalformedPayload, label + "reserved temperature type");
    DecodedPayload out;
    out.fields.push_back({"temperature-type", name});
    out.note = "the temperature type describes the device's site and yields no reading";
    return out;
  }
  if (characteristic == kMeasurementInterval) {
    const std::string label = "Measurement Interval (0x2A21): ";
    ByteReader r(bytes);
    std::uint16_t seconds = 0;
    if (!r.u16(seconds)) return Status(ErrorKind::kMalformedPayload, label + "too short for the interval");
    if (!r.atEnd()) return Status(ErrorKind::kMalformedPayload, label + "unexpected trailing bytes");
    DecodedPayload out;
    out.fields.push_back({"measurement-interval", seconds == 0 ? std::string("no periodic measurement")
                                                               : std::to_string(seconds) + " s"});
    out.note = "the measurement interval is a device setting and yields no reading";
    return out;
  }
  return decodeTemperature(characteristic, bytes, context);
}

}  // namespace rpm::drivers::thermometer
