#include "drivers/thermometer/ThermometerCollector.h"

#include "drivers/thermometer/TemperatureMeasurementParser.h"

namespace rpm::drivers::thermometer {

ThermometerCollector::ThermometerCollector(std::chrono::milliseconds quietTimeout) {
  spec_.accepted = {kTemperatureMeasurement};
  spec_.ignored = {kIntermediateTemperature};
  spec_.decode = &decodeTemperature;
  spec_.quietTimeout = quietTimeout;
}

Result<MeasurementCollectReport> ThermometerCollector::run(const DeviceKey& device, BleProcedureIo& io,
                                                           ReadingSink& sink) const {
  return collectMeasurements(device, io, sink, spec_);
}

}  // namespace rpm::drivers::thermometer
