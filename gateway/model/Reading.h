// Reading: what every transport produces and the buffer and FHIR mapper consume.
// Design note: docs/reading-model.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gateway/model/Decimal.h"
#include "gateway/model/DeviceKey.h"
#include "gateway/model/Time.h"

namespace rpm {

// What was measured, at the level of one device measurement. The names are
// frozen: they are hashed into reading ids (docs/decisions/0002-reading-id.md).
enum class ReadingKind : std::uint8_t {
  kBloodPressure = 1,   // systolic, diastolic, mean (+ pulse rate)
  kHeartRate = 2,       // spot or aggregated heart rate
  kRrIntervals = 3,     // RR intervals of one window
  kPulseOximetry = 4,   // SpO2 (+ pulse rate, perfusion index)
  kGlucose = 5,         // one glucose meter record
  kGlucoseContext = 6,  // context record linked to a glucose reading
  kBodyTemperature = 7,
  kBodyWeight = 8,      // weight (+ BMI, height)
  kBodyHeight = 9,
  kCgmGlucose = 10,     // one CGM record
  kEcg = 11,            // a chunk of ECG samples
};

// Frozen lower-case name ("blood-pressure").
std::string_view readingKindName(ReadingKind kind);
std::optional<ReadingKind> readingKindFromName(std::string_view name);

// A measured quantity inside a reading. Names are frozen (stored).
enum class Measure : std::uint16_t {
  kSystolic = 1,
  kDiastolic = 2,
  kMeanArterialPressure = 3,
  kPulseRate = 4,
  kHeartRate = 5,
  kRrInterval = 6,
  kSpo2 = 7,
  kPerfusionIndex = 8,
  kGlucoseConcentration = 9,
  kBodyTemperature = 10,
  kBodyWeight = 11,
  kBodyHeight = 12,
  kBmi = 13,
  kEnergyExpended = 14,
  kHeartRateMin = 15,   // aggregated windows
  kHeartRateMax = 16,
  kEcgLead = 17,
  kCuffPressure = 18,   // intermediate cuff pressure: recognised, never uploaded
  kCarbohydrate = 19,   // glucose context
  kExerciseDuration = 20,
  kExerciseIntensity = 21,
  kMedication = 22,
  kHbA1c = 23,
  kSampleLocation = 24,  // glucose sample location (coded: Component.code)
  kMeal = 25,            // glucose context, coded
  kTester = 26,          // glucose context, coded
  kHealth = 27,          // glucose context, coded
  kCgmTrend = 28,        // CGM rate of change, mg/dL/min
  kCgmQuality = 29,      // CGM quality, %
};

std::string_view measureName(Measure measure);
std::optional<Measure> measureFromName(std::string_view name);

// IEEE 11073 special values (SFLOAT/FLOAT) carried instead of a number.
enum class SpecialValue : std::uint8_t {
  kNone = 0,
  kNaN = 1,
  kNRes = 2,
  kPositiveInfinity = 3,
  kNegativeInfinity = 4,
  kReserved = 5,
};

std::string_view specialValueName(SpecialValue value);

// A number with its UCUM unit, or a special value.
struct Quantity {
  Decimal value;
  SpecialValue special = SpecialValue::kNone;
  std::string unit;  // UCUM code, e.g. "mm[Hg]", "mg/dL", "/min"
  bool operator==(const Quantity& o) const {
    return value == o.value && special == o.special && unit == o.unit;
  }
};

enum class Comparator : std::uint8_t { kNone = 0, kLess = 1, kGreater = 2 };

struct Component {
  Measure measure = Measure::kHeartRate;
  Quantity quantity;
  // The value as the device sent it, when quantity is a conversion of it
  // (kPa -> mm[Hg], 1/1024 s -> ms, kg/L -> mg/dL).
  std::optional<Quantity> original;
  Comparator comparator = Comparator::kNone;  // glucose HI/LO
  // Free-form coded detail for coded components (glucose meal, tester...):
  // a stable lower-case token, never patient text.
  std::string code;
};

// Samples of a waveform: value_i = origin + factor * samples[i].
struct SampledSeries {
  Measure measure = Measure::kEcgLead;
  std::uint32_t mdcLead = 0;  // MDC code of the lead (e.g. 131329 lead I)
  Quantity origin;            // unit of the samples
  Decimal periodMs;           // time between samples
  Decimal factor;
  std::vector<std::int32_t> samples;
};

using ReadingValue = std::variant<std::vector<Component>, SampledSeries>;

// A status or flag word exactly as the device reported it.
struct StatusWord {
  std::string name;  // e.g. "bp-measurement-status", "glucose-sensor-status"
  std::uint32_t bits = 0;
  bool operator==(const StatusWord& o) const { return name == o.name && bits == o.bits; }
};

// Live readings are delivered before backlogs of stored records.
enum class Priority : std::uint8_t { kLive = 0, kStored = 1 };

// Where the bytes came from, kept so a backlog can be re-decoded after a fix.
struct RawPayload {
  std::string format;  // "gatt:2A35", "mqtt-native/1", "mqtt-template:<name>"
  std::vector<std::uint8_t> bytes;
};

struct Reading {
  std::string id;  // reading id (identity module), unique in the buffer
  DeviceKey device;
  ReadingKind kind = ReadingKind::kHeartRate;

  // Bound Patient reference ("Patient/123"), resolved at ingest and never
  // again; empty when the device (or its user slot) has no binding: such a
  // reading is held, never uploaded.
  std::string subject;
  std::optional<std::uint8_t> userSlot;

  // When it happened on the gateway's UTC timeline.
  UtcInstant effectiveStart;
  std::optional<UtcInstant> effectiveEnd;  // set for periods (aggregates)

  // Device-reported time exactly as received (glucose: the Base Time);
  // nullopt when the device sent none; !isKnown() when it said "unknown".
  std::optional<LocalDateTime> deviceTime;
  std::optional<int> deviceTimeOffsetMinutes;  // glucose Time Offset, CGM offset
  std::optional<int> deviceUtcOffsetMinutes;   // only if the device reports its zone

  UtcInstant receivedAt;                     // gateway receive time (UTC)
  std::optional<std::int64_t> clockSkewMs;   // hub local minus device clock at ingest
  int utcOffsetMinutes = 0;                  // hub.timezone offset at effectiveStart

  ReadingValue value;
  std::vector<StatusWord> status;

  std::optional<std::uint32_t> sequence;  // device record number (glucose, CGM)
  std::uint32_t resetEpoch = 0;           // bumps when the device's counter resets
  std::string relatedReadingId;           // e.g. context -> its glucose reading
  Priority priority = Priority::kLive;

  std::string producerMessageId;  // for acknowledgements to the producer
  std::string producerReadingId;  // a reading id the device itself assigned
  RawPayload raw;

  // Convenience: the components when the value holds components, else empty.
  const std::vector<Component>& components() const;
};

}  // namespace rpm
