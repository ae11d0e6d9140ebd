#include "drivers/cgm/CgmParser.h"

#include "drivers/common/ByteReader.h"
#include "drivers/common/DecodeSupport.h"
#include "drivers/common/MedicalFloat.h"

namespace rpm::drivers::cgm {
namespace {

constexpr const char* kLabel = "CGM Measurement (0x2AA7)";

const std::vector<BitName> kStatusBits{
    {0, "session-stopped"},        {1, "device-battery-low"},       {2, "sensor-type-incorrect"},
    {3, "sensor-malfunction"},     {4, "device-specific-alert"},    {5, "general-device-fault"},
    {8, "time-sync-required"},     {9, "calibration-not-allowed"},  {10, "calibration-recommended"},
    {11, "calibration-required"},  {12, "sensor-temperature-too-high"}, {13, "sensor-temperature-too-low"},
    {16, "below-patient-low"},     {17, "above-patient-high"},      {18, "below-hypo"},
    {19, "above-hyper"},           {20, "rate-of-decrease-exceeded"}, {21, "rate-of-increase-exceeded"},
    {22, "below-device-range"},    {23, "above-device-range"}};

struct Record {
  std::vector<Component> components;
  std::uint16_t offset = 0;
  std::optional<std::uint32_t> status;
  std::vector<std::uint8_t> bytes;  // this record alone: it decodes on its own
};

std::string recordProblem(std::size_t index, const char* problem) {
  return "record " + std::to_string(index + 1) + ": " + problem;
}

}  // namespace

std::uint16_t crc16Mcrf4xx(const std::uint8_t* data, std::size_t size) {
  std::uint16_t crc = 0xFFFF;
  for (std::size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int b = 0; b < 8; ++b) crc = (crc & 1) ? static_cast<std::uint16_t>((crc >> 1) ^ 0x8408) : crc >> 1;
  }
  return crc;
}

Result<DecodedPayload> decode(std::uint16_t /*characteristic*/, const std::vector<std::uint8_t>& bytes,
                              const DecodeContext& context) {
  if (bytes.empty()) return malformed(kLabel, "empty value");
  DecodedPayload out;
  std::vector<Record> records;
  std::size_t start = 0;
  while (start < bytes.size()) {
    const std::size_t index = records.size();
    const std::size_t size = bytes[start];
    if (size < 6) return malformed(kLabel, recordProblem(index, "size below the minimum of 6"));
    if (size > bytes.size() - start) return malformed(kLabel, recordProblem(index, "size exceeds the value"));
    const std::uint8_t* rec = bytes.data() + start;
    ByteReader r(rec + 1, size - 1);
    std::uint8_t flags = 0;
    std::uint16_t conc = 0, offset = 0;
    r.u8(flags);  // size >= 6 guarantees flags, concentration and offset
    r.u16(conc);
    r.u16(offset);
    if (flags & 0x1C) return malformed(kLabel, recordProblem(index, "reserved flag bits set"));
    std::size_t expected = 6 + ((flags & 0x80) ? 1 : 0) + ((flags & 0x40) ? 1 : 0) + ((flags & 0x20) ? 1 : 0) +
                           ((flags & 0x01) ? 2 : 0) + ((flags & 0x02) ? 2 : 0);
    bool hasCrc = false;
    if (size == expected + 2) {
      hasCrc = true;
    } else if (size != expected) {
      return malformed(kLabel, recordProblem(index, "size does not match its flags"));
    }
    if (hasCrc) {
      const std::uint16_t sent = static_cast<std::uint16_t>(rec[size - 2] | (rec[size - 1] << 8));
      if (crc16Mcrf4xx(rec, size - 2) != sent) return malformed(kLabel, recordProblem(index, "E2E-CRC mismatch"));
    }
    Record record;
    record.offset = offset;
    record.bytes.assign(rec, rec + size);
    const std::string n = std::to_string(index + 1);
    Component glucose{Measure::kGlucoseConcentration, decodeSfloat(conc, "mg/dL"), std::nullopt, Comparator::kNone,
                      "interstitial-fluid"};
    out.fields.push_back({"record-" + n + "-glucose-concentration", componentText(glucose)});
    out.fields.push_back({"record-" + n + "-time-offset", std::to_string(offset) + " min"});
    record.components.push_back(glucose);
    // Annunciation octets in the XML order: Status, Cal/Temp, Warning.
    std::uint8_t octet = 0;
    std::uint32_t status = 0;
    const bool anyStatus = flags & 0xE0;
    if (flags & 0x80) { r.u8(octet); status |= octet; }
    if (flags & 0x40) { r.u8(octet); status |= std::uint32_t(octet) << 8; }
    if (flags & 0x20) { r.u8(octet); status |= std::uint32_t(octet) << 16; }
    if (anyStatus) {
      record.status = status;
      out.fields.push_back({"record-" + n + "-sensor-status", hexText(status, 6)});
      out.fields.push_back({"record-" + n + "-sensor-status-flags", setBitNames(status, kStatusBits)});
    }
    std::uint16_t word = 0;
    if (flags & 0x01) {
      r.u16(word);
      Component trend{Measure::kCgmTrend, decodeSfloat(word, "mg/dL/min"), std::nullopt, Comparator::kNone, ""};
      out.fields.push_back({"record-" + n + "-trend", componentText(trend)});
      record.components.push_back(trend);
    }
    if (flags & 0x02) {
      r.u16(word);
      Component quality{Measure::kCgmQuality, decodeSfloat(word, "%"), std::nullopt, Comparator::kNone, ""};
      out.fields.push_back({"record-" + n + "-quality", componentText(quality)});
      record.components.push_back(quality);
    }
    if (hasCrc) out.fields.push_back({"record-" + n + "-e2e-crc", "valid"});
    records.push_back(std::move(record));
    start += size;
  }

  if (!context.sessionStart || !context.sessionStart->isKnown()) {
    out.note = "CGM records need the session start time to be placed on a timeline; nothing is recorded";
    return out;
  }
  for (Record& record : records) {
    Reading reading = makeReading(ReadingKind::kCgmGlucose, kCgmMeasurement, record.bytes, context, context.sessionStart);
    reading.effectiveStart = fromLocal(context.sessionStart->plusMinutes(record.offset), context.utcOffsetMinutes);
    reading.deviceTimeOffsetMinutes = record.offset;
    reading.sequence = record.offset;
    reading.value = std::move(record.components);
    if (record.status) reading.status.push_back({kSensorStatusName, *record.status});
    out.readings.push_back(std::move(reading));
  }
  return out;
}

}  // namespace rpm::drivers::cgm
