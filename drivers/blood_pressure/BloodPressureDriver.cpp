// Descriptor of the Blood Pressure driver (service 0x1810).
#include "drivers/blood_pressure/BloodPressureParser.h"

namespace rpm::drivers::blood_pressure {

const DriverDescriptor& descriptor() {
  static const DriverDescriptor d = [] {
    DriverDescriptor x;
    x.name = "blood_pressure";
    x.transport = Transport::kBle;
    x.summary = "Bluetooth Blood Pressure (0x1810): measurements in mmHg or kPa; cuff pressure and features decoded only";
    x.serviceUuids = {0x1810};
    x.characteristics = {kBloodPressureMeasurement, kIntermediateCuffPressure, kBloodPressureFeature};
    x.decode = &decode;
    return x;
  }();
  return d;
}

}  // namespace rpm::drivers::blood_pressure
