#include "drivers/common/DecodeSupport.h"

#include <cstdio>

#include "drivers/common/GattTime.h"

namespace rpm::drivers {

Status malformed(const char* characteristicLabel, const std::string& problem) {
  return Status(ErrorKind::kMalformedPayload, std::string(characteristicLabel) + ": " + problem);
}

std::optional<Status> readDateTimeField(ByteReader& reader, const char* characteristicLabel, const char* what,
                                        LocalDateTime& out) {
  switch (readDateTime(reader, out)) {
    case DateTimeError::kTruncated: return malformed(characteristicLabel, std::string("too short for the ") + what);
    case DateTimeError::kInvalid:
      return malformed(characteristicLabel, std::string("impossible date or time in the ") + what);
    case DateTimeError::kNone: break;
  }
  return std::nullopt;
}

std::string hexText(std::uint32_t value, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%0*X", digits, static_cast<unsigned>(value));
  return buf;
}

std::string rawFormat(std::uint16_t characteristic) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "gatt:%04X", static_cast<unsigned>(characteristic));
  return buf;
}

Reading makeReading(ReadingKind kind, std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                    const DecodeContext& context, const std::optional<LocalDateTime>& deviceTime) {
  Reading reading;
  reading.device = context.device;
  reading.kind = kind;
  reading.receivedAt = context.receivedAt;
  reading.utcOffsetMinutes = context.utcOffsetMinutes;
  reading.deviceTime = deviceTime;
  // The device clock is read on the hub's offset; ingest corrects it for
  // clock skew where the hub's own clock allows. Unknown device time: the
  // receive time stands in (ingest decides whether stored data may use it).
  reading.effectiveStart = (deviceTime && deviceTime->isKnown()) ? fromLocal(*deviceTime, context.utcOffsetMinutes)
                                                                 : context.receivedAt;
  reading.raw.format = rawFormat(characteristic);
  reading.raw.bytes = bytes;
  return reading;
}

std::string quantityText(const Quantity& q) {
  std::string text = q.special == SpecialValue::kNone ? q.value.toString() : std::string(specialValueName(q.special));
  if (!q.unit.empty()) text += " " + q.unit;
  return text;
}

std::string componentText(const Component& c) {
  std::string text = quantityText(c.quantity);
  if (c.comparator == Comparator::kGreater) text = "> " + text;
  if (c.comparator == Comparator::kLess) text = "< " + text;
  if (c.original) text += " (from " + quantityText(*c.original) + ")";
  return text;
}

void appendBitFields(std::vector<DecodedField>& fields, std::uint32_t word, const std::vector<BitName>& names) {
  for (const BitName& b : names) fields.push_back({b.name, (word >> b.bit) & 1u ? "yes" : "no"});
}

std::string setBitNames(std::uint32_t word, const std::vector<BitName>& names) {
  std::string out;
  for (const BitName& b : names) {
    if ((word >> b.bit) & 1u) out += (out.empty() ? "" : ", ") + std::string(b.name);
  }
  return out.empty() ? "none" : out;
}

}  // namespace rpm::drivers
