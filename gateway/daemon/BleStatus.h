// The BlueZ client's recovery state and counters as the `status` JSON shows
// them (docs/ble-client.md "Recovery"). Counts and states only: no addresses.
#pragma once

#include <nlohmann/json.hpp>

#include "drivers/bluez/BluezClient.h"

namespace rpm::daemon {

nlohmann::json bleStatusJson(const bluez::BluezHealth& health);

}  // namespace rpm::daemon
