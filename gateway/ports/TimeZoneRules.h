// TimeZoneRules: hub.timezone as a port, so mapping and ingest stay pure.
#pragma once

#include <string>

#include "gateway/model/Time.h"

namespace rpm {

class TimeZoneRules {
 public:
  virtual ~TimeZoneRules() = default;
  // The IANA name, e.g. "Europe/Berlin".
  virtual const std::string& name() const = 0;
  // UTC offset in minutes in force at that instant (DST-aware).
  virtual int offsetMinutesAt(UtcInstant instant) const = 0;
  // The instant of a wall-clock time in this zone. Ambiguous times (DST
  // fall-back) take the earlier instant; times in a DST gap are shifted
  // forward by the gap (docs/decisions/0004-time.md).
  virtual UtcInstant toUtc(const LocalDateTime& local) const = 0;
};

}  // namespace rpm
