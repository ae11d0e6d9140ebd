// FixedOffsetZone: TimeZoneRules for a constant UTC offset ("--utc-offset"
// of rpm-gateway decode, tests). Production uses IanaTimeZone.
#pragma once

#include <string>

#include "gateway/ports/TimeZoneRules.h"

namespace rpm::fhir {

class FixedOffsetZone final : public TimeZoneRules {
 public:
  explicit FixedOffsetZone(int offsetMinutes) : offset_(offsetMinutes), name_("UTC" + formatUtcOffset(offsetMinutes)) {}
  const std::string& name() const override { return name_; }
  int offsetMinutesAt(UtcInstant) const override { return offset_; }
  UtcInstant toUtc(const LocalDateTime& local) const override { return fromLocal(local, offset_); }

 private:
  int offset_;
  std::string name_;
};

}  // namespace rpm::fhir
