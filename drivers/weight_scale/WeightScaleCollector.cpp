#include "drivers/weight_scale/WeightScaleCollector.h"

#include "drivers/weight_scale/WeightScaleParser.h"

namespace rpm::drivers::weight_scale {

WeightScaleCollector::WeightScaleCollector(std::chrono::milliseconds quietTimeout) {
  spec_.accepted = {kWeightMeasurement};
  spec_.decode = &decode;
  spec_.quietTimeout = quietTimeout;
}

Result<MeasurementCollectReport> WeightScaleCollector::run(const DeviceKey& device, BleProcedureIo& io,
                                                           ReadingSink& sink) const {
  return collectMeasurements(device, io, sink, spec_);
}

}  // namespace rpm::drivers::weight_scale
