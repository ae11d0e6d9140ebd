// Descriptor of the Continuous Glucose Monitoring driver (service 0x181F).
#include "drivers/cgm/CgmParser.h"

namespace rpm::drivers::cgm {

const DriverDescriptor& descriptor() {
  static const DriverDescriptor d = [] {
    DriverDescriptor x;
    x.name = "cgm";
    x.transport = Transport::kBle;
    x.summary = "Bluetooth Continuous Glucose Monitoring (0x181F): CGM records placed on a given session start";
    x.serviceUuids = {0x181F};
    x.characteristics = {kCgmMeasurement};
    x.decode = &decode;
    return x;
  }();
  return d;
}

}  // namespace rpm::drivers::cgm
