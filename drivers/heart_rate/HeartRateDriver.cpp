// Descriptor of the Heart Rate driver (service 0x180D).
#include "drivers/heart_rate/HeartRateParser.h"

namespace rpm::drivers::heart_rate {

const DriverDescriptor& descriptor() {
  static const DriverDescriptor d = [] {
    DriverDescriptor x;
    x.name = "heart_rate";
    x.transport = Transport::kBle;
    x.summary = "Bluetooth Heart Rate (0x180D): heart rate, energy expended and RR intervals (aggregated per window)";
    x.serviceUuids = {0x180D};
    x.characteristics = {kHeartRateMeasurement};
    x.decode = &decode;
    return x;
  }();
  return d;
}

}  // namespace rpm::drivers::heart_rate
