// ThermometerCollector: the Health Thermometer procedure
// (health-devices-to-fhir.md §3.5). Temperature Measurement (0x2A1C)
// indications are decoded and stored as they arrive; Intermediate
// Temperature (0x2A1E) notifications are the live display while measuring:
// counted and dropped, never uploaded. Ends when the thermometer drops the
// link or goes quiet.
#pragma once

#include <chrono>

#include "drivers/common/MeasurementCollector.h"

namespace rpm::drivers::thermometer {

class ThermometerCollector {
 public:
  explicit ThermometerCollector(std::chrono::milliseconds quietTimeout);
  // report.ignored counts the intermediate temperatures.
  Result<MeasurementCollectReport> run(const DeviceKey& device, BleProcedureIo& io, ReadingSink& sink) const;

 private:
  MeasurementCollectSpec spec_;
};

}  // namespace rpm::drivers::thermometer
