#include "drivers/registry/DriverRegistry.h"

#include <algorithm>

namespace rpm::drivers {

const DriverDescriptor* driverForCharacteristic(std::uint16_t characteristic) {
  for (const DriverDescriptor* d : registeredDrivers()) {
    if (std::find(d->characteristics.begin(), d->characteristics.end(), characteristic) != d->characteristics.end()) {
      return d;
    }
  }
  return nullptr;
}

const DriverDescriptor* driverByName(const std::string& name) {
  for (const DriverDescriptor* d : registeredDrivers()) {
    if (d->name == name) return d;
  }
  return nullptr;
}

}  // namespace rpm::drivers
