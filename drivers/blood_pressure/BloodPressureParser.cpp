#include "drivers/blood_pressure/BloodPressureParser.h"

#include "drivers/common/ByteReader.h"
#include "drivers/common/DecodeSupport.h"
#include "drivers/common/MedicalFloat.h"

namespace rpm::drivers::blood_pressure {
namespace {

const char* labelOf(std::uint16_t characteristic) {
  switch (characteristic) {
    case kBloodPressureMeasurement: return "Blood Pressure Measurement (0x2A35)";
    case kIntermediateCuffPressure: return "Intermediate Cuff Pressure (0x2A36)";
    default: return "Blood Pressure Feature (0x2A49)";
  }
}

const std::vector<BitName> kFeatureBits{
    {0, "body-movement-detection"}, {1, "cuff-fit-detection"},          {2, "irregular-pulse-detection"},
    {3, "pulse-rate-range-detection"}, {4, "measurement-position-detection"}, {5, "multiple-bonds"},
    {6, "e2e-crc"},                 {7, "user-data-service"},            {8, "user-facing-time"}};

const std::vector<BitName> kStatusFlagBits{
    {0, "body-movement"}, {1, "cuff-too-loose"}, {2, "irregular-pulse"}, {5, "improper-measurement-position"}};

// UCUM mm[Hg] = 133.3220 Pa, so 1 kPa = 10000000/1333220 mm[Hg]; the result
// keeps the device's exponent (docs/decisions/0011-kpa-to-mmhg.md).
Component pressure(Measure measure, std::uint16_t word, bool kPa, bool& overflow) {
  Component c;
  c.measure = measure;
  if (!kPa) {
    c.quantity = decodeSfloat(word, "mm[Hg]");
    return c;
  }
  Quantity original = decodeSfloat(word, "kPa");
  c.quantity.unit = "mm[Hg]";
  c.quantity.special = original.special;
  if (original.special == SpecialValue::kNone) {
    auto converted = original.value.convert(10000000, 1333220, original.value.exponent());
    if (!converted) {
      overflow = true;
    } else {
      c.quantity.value = *converted;
    }
  }
  c.original = original;
  return c;
}

const char* pulseRangeName(unsigned range) {
  switch (range) {
    case 0: return "within-range";
    case 1: return "above-upper-limit";
    default: return "below-lower-limit";
  }
}

Result<DecodedPayload> decodeFeature(const std::vector<std::uint8_t>& bytes) {
  const char* label = labelOf(kBloodPressureFeature);
  ByteReader r(bytes);
  std::uint16_t features = 0;
  if (!r.u16(features)) return malformed(label, "too short for the feature bits");
  if (!r.atEnd()) return malformed(label, "unexpected trailing bytes");
  DecodedPayload out;
  out.fields.push_back({"features", hexText(features, 4)});
  appendBitFields(out.fields, features, kFeatureBits);
  out.note = "a feature characteristic describes the device and yields no reading";
  return out;
}

}  // namespace

Result<DecodedPayload> decode(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                              const DecodeContext& context) {
  if (characteristic == kBloodPressureFeature) return decodeFeature(bytes);
  const char* label = labelOf(characteristic);
  ByteReader r(bytes);
  std::uint8_t flags = 0;
  if (!r.u8(flags)) return malformed(label, "empty value");
  if (flags & 0xE0) return malformed(label, "reserved flag bits set");
  const bool kPa = flags & 0x01;
  std::uint16_t sys = 0, dia = 0, map = 0;
  if (!r.u16(sys) || !r.u16(dia) || !r.u16(map)) return malformed(label, "too short for the pressure values");

  DecodedPayload out;
  out.fields.push_back({"unit", kPa ? "kPa" : "mm[Hg]"});
  bool overflow = false;
  std::vector<Component> components;
  if (characteristic == kIntermediateCuffPressure) {
    // Only the first SFLOAT is meaningful (current cuff pressure); the
    // other two are unused (NaN per BLS, zero on some devices).
    Component cuff = pressure(Measure::kCuffPressure, sys, kPa, overflow);
    out.fields.push_back({"cuff-pressure", componentText(cuff)});
  } else {
    components.push_back(pressure(Measure::kSystolic, sys, kPa, overflow));
    components.push_back(pressure(Measure::kDiastolic, dia, kPa, overflow));
    components.push_back(pressure(Measure::kMeanArterialPressure, map, kPa, overflow));
    out.fields.push_back({"systolic", componentText(components[0])});
    out.fields.push_back({"diastolic", componentText(components[1])});
    out.fields.push_back({"mean-arterial-pressure", componentText(components[2])});
  }
  if (overflow) return malformed(label, "pressure value out of the convertible range");

  std::optional<LocalDateTime> timestamp;
  if (flags & 0x02) {
    LocalDateTime t;
    if (auto bad = readDateTimeField(r, label, "time stamp", t)) return *bad;
    timestamp = t;
    out.fields.push_back({"time-stamp", t.isKnown() ? t.toString() : std::string("unknown")});
  }
  if (flags & 0x04) {
    std::uint16_t word = 0;
    if (!r.u16(word)) return malformed(label, "too short for the pulse rate");
    Component pulse;
    pulse.measure = Measure::kPulseRate;
    pulse.quantity = decodeSfloat(word, "/min");
    out.fields.push_back({"pulse-rate", componentText(pulse)});
    components.push_back(pulse);
  }
  std::optional<std::uint8_t> user;
  if (flags & 0x08) {
    std::uint8_t id = 0;
    if (!r.u8(id)) return malformed(label, "too short for the user id");
    user = id;
    out.fields.push_back({"user-id", id == 0xFF ? std::string("unknown (255)") : std::to_string(id)});
  }
  std::optional<std::uint16_t> status;
  if (flags & 0x10) {
    std::uint16_t word = 0;
    if (!r.u16(word)) return malformed(label, "too short for the measurement status");
    const unsigned range = (word >> 3) & 0x3;
    if (range == 3) return malformed(label, "reserved pulse rate range value in the measurement status");
    status = word;
    out.fields.push_back({"measurement-status", hexText(word, 4)});
    out.fields.push_back({"measurement-status-flags", setBitNames(word, kStatusFlagBits)});
    out.fields.push_back({"pulse-rate-range", pulseRangeName(range)});
  }
  if (!r.atEnd()) return malformed(label, "unexpected trailing bytes");

  if (characteristic == kIntermediateCuffPressure) {
    out.note = "intermediate cuff pressure is a live display value and is never uploaded";
    return out;
  }
  Reading reading = makeReading(ReadingKind::kBloodPressure, characteristic, bytes, context, timestamp);
  reading.userSlot = user;
  reading.value = std::move(components);
  if (status) reading.status.push_back({kMeasurementStatusName, *status});
  out.readings.push_back(std::move(reading));
  return out;
}

}  // namespace rpm::drivers::blood_pressure
