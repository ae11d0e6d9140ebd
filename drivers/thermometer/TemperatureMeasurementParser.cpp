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

}  // namespace rpm::drivers::thermometer
