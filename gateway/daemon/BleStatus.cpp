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

void feedBleRecoveryMetrics(const bluez::BluezRecoveryCounters& now, bluez::BluezRecoveryCounters& seen,
                            metrics::GatewayMetrics& metrics) {
  auto feed = [&](std::uint64_t from, std::uint64_t to, metrics::BleRecovery what) {
    for (std::uint64_t i = from; i < to; ++i) metrics.bleRecovery(what);
  };
  feed(seen.bluezReturns, now.bluezReturns, metrics::BleRecovery::kBluetoothdReturn);
  feed(seen.powerRestores + seen.adapterReturns, now.powerRestores + now.adapterReturns,
       metrics::BleRecovery::kAdapterReset);
  seen = now;
}

}  // namespace rpm::daemon
