// PulseOximeterCollector: the Pulse Oximeter Service procedure
// (health-devices-to-fhir.md §3.4), for spot-check and continuous oximeters.
//  1. Spot-check: with a Record Access Control Point, ask for all stored
//     records (RACP "report stored records", operator "all") and take the
//     PLX Spot-check Measurement (0x2A5E) indications until the RACP
//     response; without one, take the indications the device sends on its
//     own until it goes quiet. Spot-checks are stored as they are, never
//     aggregated (decision 0023).
//  2. Continuous: then follow PLX Continuous Measurement (0x2A5F)
//     notifications like a heart-rate stream; the aggregator keeps the
//     per-window medians.
// The caller subscribes the characteristics the device has (they are all
// optional but one) and says which it found.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "drivers/common/MeasurementCollector.h"
#include "drivers/common/StreamFollower.h"

namespace rpm::drivers::pulse_oximeter {

inline constexpr std::uint16_t kRecordAccessControlPoint = 0x2A52;

struct PlxCapabilities {
  bool spotCheck = false;   // 0x2A5E present and subscribed
  bool continuous = false;  // 0x2A5F present and subscribed
  bool racp = false;        // 0x2A52 present and subscribed (stored spot-checks)
};

struct PulseOximeterOptions {
  std::chrono::milliseconds quietTimeout{3000};   // spot-check indications without RACP
  std::chrono::milliseconds recordTimeout{10000}; // between stored records with RACP
  StreamFollowOptions stream;                     // continuous part
  // Subscribes PLX Continuous; called after the spot-checks, so a stream
  // does not start while stored records are coming (a bonded device's
  // re-armed stream may, and its samples are kept for the stream part).
  std::function<Status()> startContinuous;
};

struct PulseOximeterReport {
  MeasurementCollectReport spotChecks;
  bool racpCompleted = false;        // the device answered the stored-records request
  std::uint8_t racpResponse = 0;     // its response code (1 success, 6 no records)
  bool followedStream = false;
  StreamFollowReport continuous;
};

class PulseOximeterCollector {
 public:
  PulseOximeterCollector(PlxCapabilities capabilities, PulseOximeterOptions options);
  Result<PulseOximeterReport> run(const DeviceKey& device, BleProcedureIo& io, ReadingSink& sink,
                                  const Clock& clock) const;

 private:
  PlxCapabilities capabilities_;
  PulseOximeterOptions options_;
};

}  // namespace rpm::drivers::pulse_oximeter
