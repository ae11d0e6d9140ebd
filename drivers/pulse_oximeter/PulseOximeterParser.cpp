#include "drivers/pulse_oximeter/PulseOximeterParser.h"

#include "drivers/common/ByteReader.h"
#include "drivers/common/DecodeSupport.h"
#include "drivers/common/MedicalFloat.h"

namespace rpm::drivers::pulse_oximeter {
namespace {

const char* labelOf(std::uint16_t characteristic) {
  switch (characteristic) {
    case kSpotCheckMeasurement: return "PLX Spot-check Measurement (0x2A5E)";
    case kContinuousMeasurement: return "PLX Continuous Measurement (0x2A5F)";
    default: return "PLX Features (0x2A60)";
  }
}

const std::vector<BitName> kMeasurementStatusBits{
    {5, "measurement-ongoing"},   {6, "early-estimated-data"},    {7, "validated-data"},
    {8, "fully-qualified-data"},  {9, "data-from-storage"},       {10, "data-for-demonstration"},
    {11, "data-for-testing"},     {12, "calibration-ongoing"},    {13, "measurement-unavailable"},
    {14, "questionable-measurement"}, {15, "invalid-measurement"}};

const std::vector<BitName> kDeviceSensorStatusBits{
    {0, "extended-display-update-ongoing"}, {1, "equipment-malfunction"},  {2, "signal-processing-irregularity"},
    {3, "inadequate-signal"},               {4, "poor-signal"},            {5, "low-perfusion"},
    {6, "erratic-signal"},                  {7, "non-pulsatile-signal"},   {8, "questionable-pulse"},
    {9, "signal-analysis-ongoing"},         {10, "sensor-interference"},   {11, "sensor-unconnected-to-user"},
    {12, "unknown-sensor-connected"},       {13, "sensor-displaced"},      {14, "sensor-malfunctioning"},
    {15, "sensor-disconnected"}};

const std::vector<BitName> kFeatureBits{
    {0, "measurement-status-support"}, {1, "device-sensor-status-support"}, {2, "spot-check-storage"},
    {3, "spot-check-timestamp"},       {4, "spo2pr-fast"},                  {5, "spo2pr-slow"},
    {6, "pulse-amplitude-index"},      {7, "multiple-bonds"}};

Result<DecodedPayload> decodeFeatures(const std::vector<std::uint8_t>& bytes) {
  const char* label = labelOf(kPlxFeatures);
  ByteReader r(bytes);
  std::uint16_t features = 0;
  if (!r.u16(features)) return malformed(label, "too short for the supported features");
  DecodedPayload out;
  out.fields.push_back({"features", hexText(features, 4)});
  appendBitFields(out.fields, features, kFeatureBits);
  if (features & 0x0001) {
    std::uint16_t support = 0;
    if (!r.u16(support)) return malformed(label, "too short for the measurement status support");
    out.fields.push_back({"supported-measurement-status", setBitNames(support, kMeasurementStatusBits)});
  }
  if (features & 0x0002) {
    std::uint32_t support = 0;
    if (!r.u24(support)) return malformed(label, "too short for the device and sensor status support");
    out.fields.push_back({"supported-device-sensor-status", setBitNames(support, kDeviceSensorStatusBits)});
  }
  if (!r.atEnd()) return malformed(label, "unexpected trailing bytes");
  out.note = "a feature characteristic describes the device and yields no reading";
  return out;
}

// Reads an SpO2 + pulse-rate pair tagged with code.
bool readPair(ByteReader& r, const char* code, std::vector<Component>& components, DecodedPayload& out) {
  std::uint16_t spo2 = 0, pr = 0;
  if (!r.u16(spo2) || !r.u16(pr)) return false;
  Component s{Measure::kSpo2, decodeSfloat(spo2, "%"), std::nullopt, Comparator::kNone, code};
  Component p{Measure::kPulseRate, decodeSfloat(pr, "/min"), std::nullopt, Comparator::kNone, code};
  out.fields.push_back({std::string("spo2-") + code, componentText(s)});
  out.fields.push_back({std::string("pulse-rate-") + code, componentText(p)});
  components.push_back(s);
  components.push_back(p);
  return true;
}

}  // namespace

Result<DecodedPayload> decode(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                              const DecodeContext& context) {
  if (characteristic == kPlxFeatures) return decodeFeatures(bytes);
  const bool spot = characteristic == kSpotCheckMeasurement;
  const char* label = labelOf(characteristic);
  ByteReader r(bytes);
  std::uint8_t flags = 0;
  if (!r.u8(flags)) return malformed(label, "empty value");
  if (flags & 0xE0) return malformed(label, "reserved flag bits set");

  DecodedPayload out;
  std::vector<Component> components;
  if (!readPair(r, spot ? "spot-check" : "normal", components, out)) {
    return malformed(label, "too short for the SpO2 and pulse rate");
  }
  std::optional<LocalDateTime> timestamp;
  bool hasStatus = false, hasDeviceStatus = false, hasPai = false;
  if (spot) {
    if (flags & 0x01) {
      LocalDateTime t;
      if (auto bad = readDateTimeField(r, label, "timestamp", t)) return *bad;
      timestamp = t;
      out.fields.push_back({"timestamp", t.isKnown() ? t.toString() : std::string("unknown")});
    }
    hasStatus = flags & 0x02;
    hasDeviceStatus = flags & 0x04;
    hasPai = flags & 0x08;
    out.fields.push_back({"device-clock-set", (flags & 0x10) ? "no" : "yes"});
  } else {
    if ((flags & 0x01) && !readPair(r, "fast", components, out)) return malformed(label, "too short for SpO2PR-Fast");
    if ((flags & 0x02) && !readPair(r, "slow", components, out)) return malformed(label, "too short for SpO2PR-Slow");
    hasStatus = flags & 0x04;
    hasDeviceStatus = flags & 0x08;
    hasPai = flags & 0x10;
  }
  std::vector<StatusWord> status;
  if (hasStatus) {
    std::uint16_t word = 0;
    if (!r.u16(word)) return malformed(label, "too short for the measurement status");
    status.push_back({kMeasurementStatusName, word});
    out.fields.push_back({"measurement-status", hexText(word, 4)});
    out.fields.push_back({"measurement-status-flags", setBitNames(word, kMeasurementStatusBits)});
  }
  if (hasDeviceStatus) {
    std::uint32_t word = 0;
    if (!r.u24(word)) return malformed(label, "too short for the device and sensor status");
    status.push_back({kDeviceSensorStatusName, word});
    out.fields.push_back({"device-sensor-status", hexText(word, 6)});
    out.fields.push_back({"device-sensor-status-flags", setBitNames(word, kDeviceSensorStatusBits)});
  }
  if (hasPai) {
    std::uint16_t word = 0;
    if (!r.u16(word)) return malformed(label, "too short for the pulse amplitude index");
    Component pai{Measure::kPerfusionIndex, decodeSfloat(word, "%"), std::nullopt, Comparator::kNone, ""};
    out.fields.push_back({"pulse-amplitude-index", componentText(pai)});
    components.push_back(pai);
  }
  if (!r.atEnd()) return malformed(label, "unexpected trailing bytes");

  // A spot-check from a device whose clock is not set carries a timestamp
  // that cannot be placed: the receive time stands in, the flag is kept.
  const bool clockNotSet = spot && (flags & 0x10);
  Reading reading = makeReading(ReadingKind::kPulseOximetry, characteristic, bytes, context,
                                clockNotSet ? std::nullopt : timestamp);
  reading.deviceTime = timestamp;
  reading.value = std::move(components);
  if (spot) reading.status.push_back({kSpotCheckFlagsName, flags});
  for (const StatusWord& s : status) {
    reading.status.push_back(s);
    if (s.name == kMeasurementStatusName && (s.bits & 0x0200)) reading.priority = Priority::kStored;
  }
  out.readings.push_back(std::move(reading));
  return out;
}

}  // namespace rpm::drivers::pulse_oximeter
