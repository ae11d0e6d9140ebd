// Descriptor of the Pulse Oximeter driver (service 0x1822).
#include "drivers/pulse_oximeter/PulseOximeterParser.h"

namespace rpm::drivers::pulse_oximeter {

const DriverDescriptor& descriptor() {
  static const DriverDescriptor d = [] {
    DriverDescriptor x;
    x.name = "pulse_oximeter";
    x.transport = Transport::kBle;
    x.summary = "Bluetooth Pulse Oximeter (0x1822): spot-check and continuous SpO2 and pulse rate; features decoded";
    x.serviceUuids = {0x1822};
    x.characteristics = {kSpotCheckMeasurement, kContinuousMeasurement, kPlxFeatures};
    x.decode = &decode;
    return x;
  }();
  return d;
}

}  // namespace rpm::drivers::pulse_oximeter
