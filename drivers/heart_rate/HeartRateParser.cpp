#include "drivers/heart_rate/HeartRateParser.h"

#include "drivers/common/ByteReader.h"
#include "drivers/common/DecodeSupport.h"

namespace rpm::drivers::heart_rate {
namespace {

constexpr const char* kLabel = "Heart Rate Measurement (0x2A37)";

const char* contactName(unsigned contact) {
  switch (contact) {
    case 2: return "no-contact";
    case 3: return "contact";
    default: return "not-supported";
  }
}

}  // namespace

Result<DecodedPayload> decode(std::uint16_t /*characteristic*/, const std::vector<std::uint8_t>& bytes,
                              const DecodeContext& context) {
  ByteReader r(bytes);
  std::uint8_t flags = 0;
  if (!r.u8(flags)) return malformed(kLabel, "empty value");
  if (flags & 0xE0) return malformed(kLabel, "reserved flag bits set");
  std::uint16_t rate = 0;
  if (flags & 0x01) {
    if (!r.u16(rate)) return malformed(kLabel, "too short for the 16-bit heart rate");
  } else {
    std::uint8_t rate8 = 0;
    if (!r.u8(rate8)) return malformed(kLabel, "too short for the heart rate");
    rate = rate8;
  }
  const unsigned contact = (flags >> 1) & 0x3;

  DecodedPayload out;
  Component hr;
  hr.measure = Measure::kHeartRate;
  hr.quantity.value = Decimal(rate, 0);
  hr.quantity.unit = "/min";
  std::vector<Component> hrComponents{hr};
  out.fields.push_back({"heart-rate", componentText(hr)});
  out.fields.push_back({"sensor-contact", contactName(contact)});
  if (flags & 0x08) {
    std::uint16_t energy = 0;
    if (!r.u16(energy)) return malformed(kLabel, "too short for the energy expended");
    Component e;
    e.measure = Measure::kEnergyExpended;
    e.quantity.value = Decimal(energy, 0);
    e.quantity.unit = "kJ";
    out.fields.push_back({"energy-expended", componentText(e)});
    hrComponents.push_back(e);
  }
  std::vector<Component> rr;
  if (flags & 0x10) {
    if (r.remaining() == 0) return malformed(kLabel, "too short for the RR intervals");
    if (r.remaining() % 2 != 0) return malformed(kLabel, "odd number of bytes for the RR intervals");
    while (!r.atEnd()) {
      std::uint16_t ticks = 0;
      if (!r.u16(ticks)) return malformed(kLabel, "too short for the RR intervals");
      Component c;
      c.measure = Measure::kRrInterval;
      // 1/1024 s to ms, rounded half away from zero; 65535 ticks fit easily.
      c.quantity.value = *Decimal(ticks, 0).convert(1000, 1024, 0);
      c.quantity.unit = "ms";
      c.original = Quantity{Decimal(ticks, 0), SpecialValue::kNone, "s/1024"};
      out.fields.push_back({"rr-interval", componentText(c)});
      rr.push_back(c);
    }
  }
  if (!r.atEnd()) return malformed(kLabel, "unexpected trailing bytes");

  if (contact == 2) {
    out.note = "the sensor reports no skin contact; nothing is recorded";
    return out;
  }
  Reading reading = makeReading(ReadingKind::kHeartRate, kHeartRateMeasurement, bytes, context, std::nullopt);
  reading.status.push_back({kSensorContactName, contact});
  if (!rr.empty()) {
    Reading intervals = reading;
    intervals.kind = ReadingKind::kRrIntervals;
    intervals.value = std::move(rr);
    reading.value = std::move(hrComponents);
    out.readings.push_back(std::move(reading));
    out.readings.push_back(std::move(intervals));
  } else {
    reading.value = std::move(hrComponents);
    out.readings.push_back(std::move(reading));
  }
  return out;
}

}  // namespace rpm::drivers::heart_rate
