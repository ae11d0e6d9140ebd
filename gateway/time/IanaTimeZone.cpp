#include "gateway/time/IanaTimeZone.h"

#include <date/tz.h>

namespace rpm {
namespace {
const date::time_zone* zoneOf(const void* p) { return static_cast<const date::time_zone*>(p); }
}  // namespace

Result<std::shared_ptr<IanaTimeZone>> IanaTimeZone::load(const std::string& name) {
  try {
    const date::time_zone* zone = date::locate_zone(name);
    return std::shared_ptr<IanaTimeZone>(new IanaTimeZone(name, zone));
  } catch (const std::exception&) {
    return Status(ErrorKind::kConfigInvalid, "unknown IANA time zone name");
  }
}

int IanaTimeZone::offsetMinutesAt(UtcInstant instant) const {
  auto info = zoneOf(zone_)->get_info(std::chrono::time_point_cast<std::chrono::seconds>(instant));
  return static_cast<int>(info.offset.count() / 60);
}

UtcInstant IanaTimeZone::toUtc(const LocalDateTime& local) const {
  // Treat the wall clock as if it were UTC, then find the zone's offset there.
  UtcInstant asUtc = fromLocal(local, 0);
  date::local_seconds ls{std::chrono::duration_cast<std::chrono::seconds>(asUtc.time_since_epoch())};
  auto info = zoneOf(zone_)->get_info(ls);
  std::chrono::seconds offset{0};
  switch (info.result) {
    case date::local_info::unique:
    case date::local_info::ambiguous:  // earlier instant: the first offset
      offset = info.first.offset;
      break;
    case date::local_info::nonexistent:  // in a gap: read with the offset before it, i.e. shifted forward
      offset = info.first.offset;
      break;
  }
  return asUtc - std::chrono::duration_cast<std::chrono::microseconds>(offset);
}

}  // namespace rpm
