#include "GattEncoders.h"

#include <cstdio>
#include <stdexcept>

#include "drivers/common/MedicalFloat.h"
#include "gateway/model/Decimal.h"

namespace rpm::emulator {
namespace {
void putU16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}
void putDateTime(Bytes& out, const DateTimeFields& t) {
  putU16(out, t.year);
  out.push_back(t.month);
  out.push_back(t.day);
  out.push_back(t.hours);
  out.push_back(t.minutes);
  out.push_back(t.seconds);
}
}  // namespace

std::optional<DateTimeFields> parseDateTimeFields(const std::string& text) {
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%4u-%2u-%2uT%2u:%2u:%2u%c", &y, &mo, &d, &h, &mi, &s, &tail) != 6) return std::nullopt;
  DateTimeFields f;
  f.year = static_cast<std::uint16_t>(y);
  f.month = static_cast<std::uint8_t>(mo);
  f.day = static_cast<std::uint8_t>(d);
  f.hours = static_cast<std::uint8_t>(h);
  f.minutes = static_cast<std::uint8_t>(mi);
  f.seconds = static_cast<std::uint8_t>(s);
  return f;
}

std::uint16_t sfloatOf(const std::string& decimalText, int exponentShift) {
  auto value = Decimal::parse(decimalText);
  std::uint16_t word = 0;
  if (!value || !drivers::encodeSfloat(value->shifted(exponentShift), word)) {
    throw std::invalid_argument("value does not fit an SFLOAT: " + decimalText);
  }
  return word;
}

Bytes encodeGlucoseMeasurement(const GlucoseRecord& record) {
  Bytes out;
  std::uint8_t flags = 0x02;  // concentration + type/location present, kg/L
  if (record.contextMeal) flags |= 0x10;
  out.push_back(flags);
  putU16(out, record.sequence);
  putDateTime(out, record.baseTime);
  putU16(out, sfloatOf(record.concentrationMgPerDl, -5));
  out.push_back(record.typeAndLocation);
  return out;
}

Bytes encodeGlucoseContext(const GlucoseRecord& record) {
  Bytes out;
  out.push_back(0x02);  // meal present
  putU16(out, record.sequence);
  out.push_back(record.contextMeal.value_or(0));
  return out;
}

Bytes encodeBloodPressure(const BloodPressureRecord& record) {
  Bytes out;
  std::uint8_t flags = 0x00;  // mmHg
  if (record.timeStamp) flags |= 0x02;
  if (record.pulse) flags |= 0x04;
  if (record.userId) flags |= 0x08;
  out.push_back(flags);
  putU16(out, sfloatOf(record.systolic));
  putU16(out, sfloatOf(record.diastolic));
  putU16(out, sfloatOf(record.meanArterial));
  if (record.timeStamp) putDateTime(out, *record.timeStamp);
  if (record.pulse) putU16(out, sfloatOf(*record.pulse));
  if (record.userId) out.push_back(*record.userId);
  return out;
}

Bytes racpResponse(std::uint8_t requestOpCode, std::uint8_t responseValue) {
  return Bytes{0x06, 0x00, requestOpCode, responseValue};
}

Bytes racpNumberOfRecords(std::uint16_t count) {
  Bytes out{0x05, 0x00};
  putU16(out, count);
  return out;
}

}  // namespace rpm::emulator
