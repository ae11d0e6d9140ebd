// HeartRateStreamCollector: the Heart Rate Service procedure (heart-rate
// belts and cardiac monitors, health-devices-to-fhir.md §3.3). Heart Rate
// Measurement (0x2A37) is notified about once a second while the device is
// worn; every notification (heart rate and its RR intervals) goes to the sink,
// whose StreamAggregator turns the samples into one-minute windows
// (decision 0023). The procedure follows the stream until the link drops, the
// stream stops (no notification for stallTimeout on the injected Clock), the
// session limit is reached, or the owner asks it to stop.
#pragma once

#include "drivers/common/StreamFollower.h"

namespace rpm::drivers::heart_rate {

class HeartRateStreamCollector {
 public:
  explicit HeartRateStreamCollector(StreamFollowOptions options);
  Result<StreamFollowReport> run(const DeviceKey& device, BleProcedureIo& io, ReadingSink& sink,
                                 const Clock& clock) const;

 private:
  StreamFollowOptions options_;
};

}  // namespace rpm::drivers::heart_rate
