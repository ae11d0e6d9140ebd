// The BlueZ client's recovery state and counters as the `status` JSON shows
// them (docs/ble-client.md "Recovery"). Counts and states only: no addresses.
#pragma once

#include <nlohmann/json.hpp>

#include "drivers/bluez/BluezClient.h"
#include "gateway/metrics/GatewayMetrics.h"

namespace rpm::daemon {

nlohmann::json bleStatusJson(const bluez::BluezHealth& health);

// Adds the recoveries since `seen` to rpm_gateway_ble_recoveries_total and
// remembers `now`: bluetoothd returns -> bluetoothd_return; adapter power
// restores (watchdog power cycles included) and adapter returns -> adapter_reset.
void feedBleRecoveryMetrics(const bluez::BluezRecoveryCounters& now, bluez::BluezRecoveryCounters& seen,
                            metrics::GatewayMetrics& metrics);

}  // namespace rpm::daemon
