// Small encoders for the virtual devices' GATT payloads (the inverse of the
// drivers' parsers), so scenarios are written in clinical units, not bytes.
// Layouts: shared health-devices-to-fhir.md §3.1.1, §3.1.2, §3.1.4, §3.2.1.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rpm::emulator {

using Bytes = std::vector<std::uint8_t>;

struct DateTimeFields {
  std::uint16_t year = 0;
  std::uint8_t month = 0, day = 0, hours = 0, minutes = 0, seconds = 0;
};

// Parses "YYYY-MM-DDTHH:MM:SS"; nullopt when malformed.
std::optional<DateTimeFields> parseDateTimeFields(const std::string& text);

struct GlucoseRecord {
  std::uint16_t sequence = 0;
  DateTimeFields baseTime;
  std::string concentrationMgPerDl;  // decimal text, e.g. "95"; sent in kg/L (= mg/dL x 1e-5, §3.1.1)
  std::uint8_t typeAndLocation = 0x11;  // capillary whole blood, finger
  std::optional<std::uint8_t> contextMeal;  // 1 preprandial ... 5 bedtime
};

// Glucose Measurement 0x2A18 (§3.1.1): flags, sequence, base time, SFLOAT
// concentration + type/location; flag bit4 when a context record follows.
Bytes encodeGlucoseMeasurement(const GlucoseRecord& record);
// Glucose Measurement Context 0x2A34 (§3.1.2) with the meal field only.
Bytes encodeGlucoseContext(const GlucoseRecord& record);

struct BloodPressureRecord {
  std::string systolic, diastolic, meanArterial;  // mmHg decimal text
  std::optional<std::string> pulse;
  std::optional<DateTimeFields> timeStamp;
  std::optional<std::uint8_t> userId;
};

// Blood Pressure Measurement 0x2A35 (§3.2.1), mmHg.
Bytes encodeBloodPressure(const BloodPressureRecord& record);

// SFLOAT of an exact decimal (drivers/common encodeSfloat); throws
// std::invalid_argument when the scenario's value does not fit.
std::uint16_t sfloatOf(const std::string& decimalText, int exponentShift = 0);

// RACP (§3.1.4) server-to-client frames.
Bytes racpResponse(std::uint8_t requestOpCode, std::uint8_t responseValue);
Bytes racpNumberOfRecords(std::uint16_t count);

}  // namespace rpm::emulator
