// Time value types: UTC instants and device-local wall-clock times.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rpm {

// A point on the UTC timeline with microsecond resolution.
using UtcInstant = std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds>;

// A wall-clock time as a device reports it: local time, no zone (GATT Date
// Time 0x2A08). year, month or day 0 means "unknown" (GATT spec).
struct LocalDateTime {
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  int fractions256 = 0;  // 1/256 s (Exact Time 256); 0 when the device has none

  // True when year, month and day are all reported (none is 0).
  bool isKnown() const { return year != 0 && month != 0 && day != 0; }
  // True when every field is in range and the date exists (no 31 April).
  bool isValid() const;
  // Seconds since 2000-01-01T00:00:00 on the same wall clock (PHD IG
  // GeneratingtheTimeStampPartIdentifier); whole seconds.
  std::int64_t secondsSince2000() const;
  // "YYYY-MM-DDThh:mm:ss" (no zone); fractions are not written.
  std::string toString() const;
  // Adds minutes, normalising the date (glucose Time Offset, CGM offsets).
  LocalDateTime plusMinutes(std::int64_t minutes) const;
  // Parses "YYYY-MM-DDThh:mm:ss" (no zone); nullopt if malformed or invalid.
  static std::optional<LocalDateTime> parse(std::string_view text);

  bool operator==(const LocalDateTime& o) const {
    return year == o.year && month == o.month && day == o.day && hour == o.hour && minute == o.minute &&
           second == o.second && fractions256 == o.fractions256;
  }
  bool operator!=(const LocalDateTime& o) const { return !(*this == o); }
};

// Days since 1970-01-01 of a proleptic Gregorian date, and back.
std::int64_t daysFromCivil(int year, int month, int day);
void civilFromDays(std::int64_t days, int& year, int& month, int& day);

// The wall-clock time at offset minutes east of UTC.
LocalDateTime toLocal(UtcInstant instant, int utcOffsetMinutes);
// The instant of a wall-clock time read at a known offset.
UtcInstant fromLocal(const LocalDateTime& local, int utcOffsetMinutes);

// RFC 3339 / FHIR dateTime with the given offset: "2024-05-06T08:09:10+02:00".
// Milliseconds are written only when the instant has a sub-second part.
std::string formatDateTime(UtcInstant instant, int utcOffsetMinutes);
// RFC 3339 in UTC with "Z".
std::string formatUtc(UtcInstant instant);
// Parses an RFC 3339 date-time with "Z" or an offset; fractions up to microseconds.
std::optional<UtcInstant> parseDateTime(std::string_view text);
// Parses a UTC offset "+01:00", "-05:30" or "Z" into minutes.
std::optional<int> parseUtcOffset(std::string_view text);
// "+01:00" style text of an offset in minutes.
std::string formatUtcOffset(int minutes);

}  // namespace rpm
