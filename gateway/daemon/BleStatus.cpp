#include "gateway/daemon/BleStatus.h"

namespace rpm::daemon {

nlohmann::json bleStatusJson(const bluez::BluezHealth& h) {
  const auto& c = h.counters;
  return {{"adapter", h.adapter},
          {"scanner", h.scanner},
          {"recoveries", c.total()},
          {"bus", {{"losses", c.busLosses}, {"reconnects", c.busReconnects}}},
          {"bluetoothd", {{"departures", c.bluezDepartures}, {"returns", c.bluezReturns}}},
          {"adapter_removals", c.adapterRemovals},
          {"adapter_returns", c.adapterReturns},
          {"power_losses", c.powerLosses},
          {"power_restores", c.powerRestores},
          {"power_on_attempts", c.powerOnAttempts},
          {"discovery_rearms", c.discoveryRearms},
          {"watchdog", {{"discovery_restarts", c.watchdogDiscoveryRestarts},
                        {"power_cycles", c.watchdogPowerCycles},
                        {"scanner_recoveries", c.scannerRecoveries}}}};
}

}  // namespace rpm::daemon
