// Descriptor of the Weight Scale driver (service 0x181D).
#include "drivers/weight_scale/WeightScaleParser.h"

namespace rpm::drivers::weight_scale {

const DriverDescriptor& descriptor() {
  static const DriverDescriptor d = [] {
    DriverDescriptor x;
    x.name = "weight_scale";
    x.transport = Transport::kBle;
    x.summary = "Bluetooth Weight Scale (0x181D): weight in kg or lb with BMI and height; features decoded";
    x.serviceUuids = {0x181D};
    x.characteristics = {kWeightMeasurement, kWeightScaleFeature};
    x.decode = &decode;
    return x;
  }();
  return d;
}

}  // namespace rpm::drivers::weight_scale
