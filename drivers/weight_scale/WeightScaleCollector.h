// WeightScaleCollector: the Weight Scale procedure (health-devices-to-fhir.md
// §3.6). A scale indicates its Weight Measurements (0x2A9D) once the gateway
// subscribes, then goes quiet or drops the link. The measurement's User ID
// becomes Reading.userSlot, as for a cuff: the buffer binds the slot's
// enrolled patient at append and holds a reading of an unbound slot (or of
// the "unknown user" 0xFF), never guessing whose weight it is.
#pragma once

#include <chrono>

#include "drivers/common/MeasurementCollector.h"

namespace rpm::drivers::weight_scale {

class WeightScaleCollector {
 public:
  explicit WeightScaleCollector(std::chrono::milliseconds quietTimeout);
  Result<MeasurementCollectReport> run(const DeviceKey& device, BleProcedureIo& io, ReadingSink& sink) const;

 private:
  MeasurementCollectSpec spec_;
};

}  // namespace rpm::drivers::weight_scale
