#include "gateway/model/Time.h"

#include <cstdio>

namespace rpm {
namespace {

bool isLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int daysInMonth(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && isLeap(y)) return 29;
  return kDays[m - 1];
}

std::int64_t floorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Reads exactly `width` digits at text[pos]; advances pos.
bool readDigits(std::string_view text, size_t& pos, size_t width, int& out) {
  if (pos + width > text.size()) return false;
  int v = 0;
  for (size_t i = 0; i < width; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  pos += width;
  return true;
}

bool expect(std::string_view text, size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

// Parses "YYYY-MM-DDThh:mm:ss" at the start of text; pos ends after seconds.
bool parseLocalPrefix(std::string_view text, size_t& pos, LocalDateTime& out) {
  return readDigits(text, pos, 4, out.year) && expect(text, pos, '-') && readDigits(text, pos, 2, out.month) &&
         expect(text, pos, '-') && readDigits(text, pos, 2, out.day) && expect(text, pos, 'T') &&
         readDigits(text, pos, 2, out.hour) && expect(text, pos, ':') && readDigits(text, pos, 2, out.minute) &&
         expect(text, pos, ':') && readDigits(text, pos, 2, out.second);
}

}  // namespace

bool LocalDateTime::isValid() const {
  if (year < 1582 || year > 9999 || month < 1 || month > 12) return false;
  if (day < 1 || day > daysInMonth(year, month)) return false;
  return hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 59 &&
         fractions256 >= 0 && fractions256 <= 255;
}

std::int64_t daysFromCivil(int year, int month, int day) {
  // Howard Hinnant's days_from_civil (public domain algorithm description).
  std::int64_t y = year - (month <= 2 ? 1 : 0);
  std::int64_t era = floorDiv(y, 400);
  std::int64_t yoe = y - era * 400;
  std::int64_t mp = (month + 9) % 12;
  std::int64_t doy = (153 * mp + 2) / 5 + day - 1;
  std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void civilFromDays(std::int64_t z, int& year, int& month, int& day) {
  z += 719468;
  std::int64_t era = floorDiv(z, 146097);
  std::int64_t doe = z - era * 146097;
  std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = yoe + era * 400;
  std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  std::int64_t mp = (5 * doy + 2) / 153;
  day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  year = static_cast<int>(y + (month <= 2 ? 1 : 0));
}

std::int64_t LocalDateTime::secondsSince2000() const {
  std::int64_t days = daysFromCivil(year, month, day) - daysFromCivil(2000, 1, 1);
  return days * 86400 + hour * 3600 + minute * 60 + second;
}

std::string LocalDateTime::toString() const {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", year, month, day, hour, minute, second);
  return buf;
}

LocalDateTime LocalDateTime::plusMinutes(std::int64_t minutes) const {
  std::int64_t secs = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second + minutes * 60;
  std::int64_t days = floorDiv(secs, 86400);
  std::int64_t rem = secs - days * 86400;
  LocalDateTime out = *this;
  civilFromDays(days, out.year, out.month, out.day);
  out.hour = static_cast<int>(rem / 3600);
  out.minute = static_cast<int>((rem % 3600) / 60);
  out.second = static_cast<int>(rem % 60);
  return out;
}

std::optional<LocalDateTime> LocalDateTime::parse(std::string_view text) {
  LocalDateTime out;
  size_t pos = 0;
  if (!parseLocalPrefix(text, pos, out) || pos != text.size() || !out.isValid()) return std::nullopt;
  return out;
}

LocalDateTime toLocal(UtcInstant instant, int utcOffsetMinutes) {
  std::int64_t micros = instant.time_since_epoch().count() + std::int64_t(utcOffsetMinutes) * 60'000'000;
  std::int64_t secs = floorDiv(micros, 1'000'000);
  std::int64_t subMicros = micros - secs * 1'000'000;
  std::int64_t days = floorDiv(secs, 86400);
  std::int64_t rem = secs - days * 86400;
  LocalDateTime out;
  civilFromDays(days, out.year, out.month, out.day);
  out.hour = static_cast<int>(rem / 3600);
  out.minute = static_cast<int>((rem % 3600) / 60);
  out.second = static_cast<int>(rem % 60);
  out.fractions256 = static_cast<int>(subMicros * 256 / 1'000'000);
  return out;
}

UtcInstant fromLocal(const LocalDateTime& local, int utcOffsetMinutes) {
  std::int64_t secs = daysFromCivil(local.year, local.month, local.day) * 86400 + local.hour * 3600 +
                      local.minute * 60 + local.second - std::int64_t(utcOffsetMinutes) * 60;
  std::int64_t micros = secs * 1'000'000 + std::int64_t(local.fractions256) * 1'000'000 / 256;
  return UtcInstant(std::chrono::microseconds(micros));
}

std::string formatUtcOffset(int minutes) {
  char sign = minutes < 0 ? '-' : '+';
  int a = minutes < 0 ? -minutes : minutes;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", sign, a / 60, a % 60);
  return buf;
}

namespace {
std::string formatWithOffset(UtcInstant instant, int utcOffsetMinutes, bool zulu) {
  std::int64_t micros = instant.time_since_epoch().count() + std::int64_t(utcOffsetMinutes) * 60'000'000;
  std::int64_t secs = floorDiv(micros, 1'000'000);
  std::int64_t subMicros = micros - secs * 1'000'000;
  std::int64_t days = floorDiv(secs, 86400);
  std::int64_t rem = secs - days * 86400;
  int y, m, d;
  civilFromDays(days, y, m, d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, static_cast<int>(rem / 3600),
                static_cast<int>((rem % 3600) / 60), static_cast<int>(rem % 60));
  std::string out = buf;
  if (subMicros != 0) {
    std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(subMicros / 1000));
    out += buf;
  }
  out += zulu ? std::string("Z") : formatUtcOffset(utcOffsetMinutes);
  return out;
}
}  // namespace

std::string formatDateTime(UtcInstant instant, int utcOffsetMinutes) {
  return formatWithOffset(instant, utcOffsetMinutes, false);
}

std::string formatUtc(UtcInstant instant) { return formatWithOffset(instant, 0, true); }

std::optional<int> parseUtcOffset(std::string_view text) {
  if (text == "Z" || text == "z") return 0;
  size_t pos = 1;
  int h = 0, m = 0;
  if (text.size() != 6 || (text[0] != '+' && text[0] != '-')) return std::nullopt;
  if (!readDigits(text, pos, 2, h) || !expect(text, pos, ':') || !readDigits(text, pos, 2, m)) return std::nullopt;
  if (h > 18 || m > 59) return std::nullopt;
  int total = h * 60 + m;
  return text[0] == '-' ? -total : total;
}

std::optional<UtcInstant> parseDateTime(std::string_view text) {
  LocalDateTime local;
  size_t pos = 0;
  if (!parseLocalPrefix(text, pos, local)) return std::nullopt;
  std::int64_t micros = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 6) micros = micros * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (int i = digits; i < 6; ++i) micros *= 10;
  }
  auto offset = parseUtcOffset(text.substr(pos));
  if (!offset || !local.isValid()) return std::nullopt;
  return fromLocal(local, *offset) + std::chrono::microseconds(micros);
}

}  // namespace rpm
