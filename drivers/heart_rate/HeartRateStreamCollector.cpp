#include "drivers/heart_rate/HeartRateStreamCollector.h"

#include <utility>

#include "drivers/heart_rate/HeartRateParser.h"

namespace rpm::drivers::heart_rate {

HeartRateStreamCollector::HeartRateStreamCollector(StreamFollowOptions options) : options_(std::move(options)) {
  options_.characteristics = {kHeartRateMeasurement};
  options_.decode = &decode;
}

Result<StreamFollowReport> HeartRateStreamCollector::run(const DeviceKey& device, BleProcedureIo& io,
                                                         ReadingSink& sink, const Clock& clock) const {
  return followStream(device, io, sink, clock, options_);
}

}  // namespace rpm::drivers::heart_rate
