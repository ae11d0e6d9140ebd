#include "drivers/common/GattTime.h"

namespace rpm::drivers {

DateTimeError readDateTime(ByteReader& reader, LocalDateTime& out) {
  std::uint16_t year = 0;
  std::uint8_t month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!reader.u16(year) || !reader.u8(month) || !reader.u8(day) || !reader.u8(hour) || !reader.u8(minute) ||
      !reader.u8(second)) {
    return DateTimeError::kTruncated;
  }
  out = LocalDateTime{year, month, day, hour, minute, second, 0};
  if (!out.isKnown()) {
    // Unknown date: the time fields must still be in range.
    return (hour <= 23 && minute <= 59 && second <= 59) ? DateTimeError::kNone : DateTimeError::kInvalid;
  }
  return out.isValid() ? DateTimeError::kNone : DateTimeError::kInvalid;
}

}  // namespace rpm::drivers
