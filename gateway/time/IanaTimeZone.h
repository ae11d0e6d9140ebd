// IanaTimeZone: hub.timezone from the system tz database (date-tz).
#pragma once

#include <memory>
#include <string>

#include "gateway/model/Status.h"
#include "gateway/ports/TimeZoneRules.h"

namespace rpm {

class IanaTimeZone final : public TimeZoneRules {
 public:
  // Loads a zone by IANA name ("Europe/Berlin"); kConfigInvalid if unknown.
  static Result<std::shared_ptr<IanaTimeZone>> load(const std::string& name);

  const std::string& name() const override { return name_; }
  int offsetMinutesAt(UtcInstant instant) const override;
  UtcInstant toUtc(const LocalDateTime& local) const override;

 private:
  IanaTimeZone(std::string name, const void* zone) : name_(std::move(name)), zone_(zone) {}
  std::string name_;
  const void* zone_;  // const date::time_zone*, kept opaque so callers need no date headers
};

}  // namespace rpm
