// Descriptor of the Health Thermometer driver (service 0x1809).
#include "drivers/thermometer/TemperatureMeasurementParser.h"

namespace rpm::drivers::thermometer {

const DriverDescriptor& descriptor() {
  static const DriverDescriptor d = [] {
    DriverDescriptor x;
    x.name = "thermometer";
    x.transport = Transport::kBle;
    x.summary = "Bluetooth Health Thermometer (0x1809): temperature measurements; intermediate values not uploaded";
    x.serviceUuids = {0x1809};
    x.characteristics = {kTemperatureMeasurement, kIntermediateTemperature, kTemperatureType, kMeasurementInterval};
    x.decode = &decodeThermometer;
    return x;
  }();
  return d;
}

}  // namespace rpm::drivers::thermometer
