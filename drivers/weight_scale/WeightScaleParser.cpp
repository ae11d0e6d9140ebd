#include "drivers/weight_scale/WeightScaleParser.h"

#include "drivers/common/ByteReader.h"
#include "drivers/common/DecodeSupport.h"

namespace rpm::drivers::weight_scale {
namespace {

constexpr const char* kMeasurementLabel = "Weight Measurement (0x2A9D)";
constexpr const char* kFeatureLabel = "Weight Scale Feature (0x2A9E)";

const char* const kWeightResolutionSi[] = {"unspecified", "0.5 kg",  "0.2 kg",  "0.1 kg",
                                            "0.05 kg",     "0.02 kg", "0.01 kg", "0.005 kg"};
const char* const kWeightResolutionImperial[] = {"unspecified", "1 lb",   "0.5 lb",  "0.2 lb",
                                                  "0.1 lb",      "0.05 lb", "0.02 lb", "0.01 lb"};
const char* const kHeightResolutionSi[] = {"unspecified", "0.01 m", "0.005 m", "0.001 m"};
const char* const kHeightResolutionImperial[] = {"unspecified", "1 in", "0.5 in", "0.1 in"};

Result<DecodedPayload> decodeFeature(const std::vector<std::uint8_t>& bytes) {
  ByteReader r(bytes);
  std::uint32_t features = 0;
  if (!r.u32(features)) return malformed(kFeatureLabel, "too short for the feature bits");
  if (!r.atEnd()) return malformed(kFeatureLabel, "unexpected trailing bytes");
  const unsigned weightRes = (features >> 3) & 0xF;
  const unsigned heightRes = (features >> 7) & 0x7;
  if (weightRes > 7) return malformed(kFeatureLabel, "reserved weight resolution");
  if (heightRes > 3) return malformed(kFeatureLabel, "reserved height resolution");
  DecodedPayload out;
  out.fields.push_back({"features", hexText(features, 8)});
  appendBitFields(out.fields, features, {{0, "time-stamp"}, {1, "multiple-users"}, {2, "bmi"}});
  out.fields.push_back({"weight-resolution", std::string(kWeightResolutionSi[weightRes]) + " / " +
                                                 kWeightResolutionImperial[weightRes]});
  out.fields.push_back({"height-resolution", std::string(kHeightResolutionSi[heightRes]) + " / " +
                                                 kHeightResolutionImperial[heightRes]});
  out.note = "a feature characteristic describes the device and yields no reading";
  return out;
}

}  // namespace

Result<DecodedPayload> decode(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                              const DecodeContext& context) {
  if (characteristic == kWeightScaleFeature) return decodeFeature(bytes);
  ByteReader r(bytes);
  std::uint8_t flags = 0;
  if (!r.u8(flags)) return malformed(kMeasurementLabel, "empty value");
  if (flags & 0xF0) return malformed(kMeasurementLabel, "reserved flag bits set");
  const bool imperial = flags & 0x01;
  std::uint16_t raw = 0;
  if (!r.u16(raw)) return malformed(kMeasurementLabel, "too short for the weight");
  const bool unsuccessful = raw == 0xFFFF;

  DecodedPayload out;
  std::vector<Component> components;
  Component weight;
  weight.measure = Measure::kBodyWeight;
  weight.quantity = imperial ? Quantity{Decimal(raw, -2), SpecialValue::kNone, "[lb_av]"}
                             : Quantity{Decimal(std::int64_t(raw) * 5, -3), SpecialValue::kNone, "kg"};
  out.fields.push_back({"weight", unsuccessful ? std::string("measurement unsuccessful") : componentText(weight)});
  components.push_back(weight);

  std::optional<LocalDateTime> timestamp;
  if (flags & 0x02) {
    LocalDateTime t;
    if (auto bad = readDateTimeField(r, kMeasurementLabel, "time stamp", t)) return *bad;
    timestamp = t;
    out.fields.push_back({"time-stamp", t.isKnown() ? t.toString() : std::string("unknown")});
  }
  std::optional<std::uint8_t> user;
  if (flags & 0x04) {
    std::uint8_t id = 0;
    if (!r.u8(id)) return malformed(kMeasurementLabel, "too short for the user id");
    user = id;
    out.fields.push_back({"user-id", id == 0xFF ? std::string("unknown (255)") : std::to_string(id)});
  }
  if (flags & 0x08) {
    std::uint16_t bmi = 0, height = 0;
    if (!r.u16(bmi) || !r.u16(height)) return malformed(kMeasurementLabel, "too short for the BMI and height");
    Component b{Measure::kBmi, Quantity{Decimal(bmi, -1), SpecialValue::kNone, "kg/m2"}, std::nullopt,
                Comparator::kNone, ""};
    Component h;
    h.measure = Measure::kBodyHeight;
    if (imperial) {
      h.quantity = Quantity{Decimal(height, -1), SpecialValue::kNone, "[in_i]"};
    } else {
      // Metres at 0.001 m are exactly centimetres at 0.1 cm; R4 bodyheight
      // lists cm and [in_i], not m.
      h.original = Quantity{Decimal(height, -3), SpecialValue::kNone, "m"};
      h.quantity = Quantity{Decimal(height, -3).shifted(2), SpecialValue::kNone, "cm"};
    }
    out.fields.push_back({"bmi", componentText(b)});
    out.fields.push_back({"height", componentText(h)});
    components.push_back(b);
    components.push_back(h);
  }
  if (!r.atEnd()) return malformed(kMeasurementLabel, "unexpected trailing bytes");

  if (unsuccessful) {
    out.note = "the scale reports the measurement as unsuccessful; nothing is recorded";
    return out;
  }
  Reading reading = makeReading(ReadingKind::kBodyWeight, characteristic, bytes, context, timestamp);
  reading.userSlot = user;
  reading.value = std::move(components);
  out.readings.push_back(std::move(reading));
  return out;
}

}  // namespace rpm::drivers::weight_scale
