// GATT Date Time (0x2A08) decoding; shared health-devices-to-fhir.md §2.3.
#pragma once

#include <optional>
#include <string>

#include "drivers/common/ByteReader.h"
#include "gateway/model/Time.h"

namespace rpm::drivers {

enum class DateTimeError { kNone, kTruncated, kInvalid };

// Reads 7 bytes: year u16, month, day, hours, minutes, seconds. A date with
// year, month or day 0 is "unknown" and returned as such (isKnown() false);
// any other out-of-range field (month 13, 31 April, hour 24) is kInvalid.
DateTimeError readDateTime(ByteReader& reader, LocalDateTime& out);

}  // namespace rpm::drivers
