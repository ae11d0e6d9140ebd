// DriverRegistry: every driver compiled into this gateway, in name order.
#pragma once

#include <cstdint>
#include <vector>

#include "gateway/ports/Driver.h"

namespace rpm::drivers {

// All descriptors; generated from the driver folders.
const std::vector<const DriverDescriptor*>& registeredDrivers();

// The driver that decodes this characteristic, or nullptr.
const DriverDescriptor* driverForCharacteristic(std::uint16_t characteristic);

// The driver with this name, or nullptr.
const DriverDescriptor* driverByName(const std::string& name);

}  // namespace rpm::drivers
