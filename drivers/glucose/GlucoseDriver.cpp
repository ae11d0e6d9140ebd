// Descriptor of the Glucose driver (service 0x1808).
#include "drivers/glucose/GlucoseParser.h"

namespace rpm::drivers::glucose {

const DriverDescriptor& descriptor() {
  static const DriverDescriptor d = [] {
    DriverDescriptor x;
    x.name = "glucose";
    x.transport = Transport::kBle;
    x.summary = "Bluetooth Glucose (0x1808): stored meter records with context; features and RACP decoded";
    x.serviceUuids = {0x1808};
    x.characteristics = {kGlucoseMeasurement, kGlucoseMeasurementContext, kGlucoseFeature,
                         kRecordAccessControlPoint};
    x.decode = &decode;
    return x;
  }();
  return d;
}

}  // namespace rpm::drivers::glucose
