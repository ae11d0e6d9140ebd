// BluezClient: the gateway's BlueZ client over D-Bus (sdbus-c++ 1.2), behind
// the BleAdapter / BleDevice / GattCharacteristic ports. This header is free
// of sdbus-c++; only drivers/bluez/*.cpp include it.
//
// One thread runs the D-Bus event loop itself (getEventLoopPollData + poll +
// processPendingRequest) and is the only thread touching sdbus objects:
// callers post work to it and wait on a bounded future. A lost bus or a
// vanished bluetoothd becomes kUnavailable; nothing from sdbus escapes.
// The client heals itself (docs/ble-client.md "Recovery"): it reconnects to a
// restarted bus, reloads the ObjectManager tree when bluetoothd or the
// adapter comes back, restarts the discovery its owner asked for, and a scan
// watchdog restarts discovery, then power-cycles the adapter, when the
// scanner goes silent while devices are expected.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "gateway/model/Status.h"
#include "gateway/ports/BleAdapter.h"
#include "gateway/ports/BleBonding.h"
#include "gateway/ports/Clock.h"

namespace rpm::bluez {

struct BluezClientOptions {
  std::string adapterName = "hci0";                    // config ble.adapter
  std::chrono::milliseconds callTimeout{10000};        // config ble.call_timeout_ms; ≥5 s (§8 item 13)
  // Recovery (all measured on the injected Clock).
  std::chrono::milliseconds scanSilence{900000};       // config ble.scan_silence_ms; 0: no scan watchdog
  std::chrono::milliseconds scanSilenceMax{21600000};  // repeated power cycles back off up to this
  std::chrono::milliseconds busRetryFirst{200};        // reconnect to a lost bus: first retry, doubling
  std::chrono::milliseconds busRetryMax{10000};
  std::chrono::milliseconds powerOnGrace{10000};       // unpowered this long while devices are expected: power on
  // How often the recovery thread looks at the clock (a wake-up granularity, not a timer).
  std::chrono::milliseconds recoveryPoll{1000};
  // Test-only: leave a lost bus lost (shows the reconnect test can fail).
  bool skipBusReconnectForTest = false;
  // Pair() may wait for an agent prompt (bluetoothd's 60 s agent timeout) plus the connection.
  std::chrono::milliseconds pairTimeout{90000};
};

// What the client has recovered from, for `status` and the health summary.
// Counts only: no addresses.
struct BluezRecoveryCounters {
  std::uint64_t busLosses = 0, busReconnects = 0;         // D-Bus connection lost / re-established
  std::uint64_t bluezDepartures = 0, bluezReturns = 0;    // bluetoothd left the bus / came back
  std::uint64_t adapterRemovals = 0, adapterReturns = 0;  // hci0 InterfacesRemoved / InterfacesAdded
  std::uint64_t powerLosses = 0, powerRestores = 0;       // Powered true->false / false->true
  std::uint64_t powerOnAttempts = 0;                      // we set Powered=true on an unpowered adapter
  std::uint64_t discoveryRearms = 0;                      // discovery started again after any of the above
  std::uint64_t watchdogDiscoveryRestarts = 0;            // scanner silent: discovery stopped and started
  std::uint64_t watchdogPowerCycles = 0;                  // still silent: adapter powered off and on
  std::uint64_t scannerRecoveries = 0;                    // the scanner reported again after a watchdog step
  // Recoveries: faults come back from and watchdog actions (re-arms are a consequence, not counted).
  std::uint64_t total() const {
    return busReconnects + bluezReturns + adapterReturns + powerRestores + watchdogDiscoveryRestarts +
           watchdogPowerCycles;
  }
};

struct BluezHealth {
  // "ready", "unpowered", "absent" (no adapter), "bluetoothd-absent", "bus-lost".
  std::string adapter;
  // "off" (no discovery of ours, or nothing expected), "ok", "silent" (the watchdog is acting).
  std::string scanner;
  BluezRecoveryCounters counters;
};

class BluezCore;
class BluezDiscovery;
class BluezRecovery;

class BluezClient {
 public:
  // Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS redirects it) and
  // starts tracking org.bluez through its ObjectManager.
  static Result<std::shared_ptr<BluezClient>> connectSystemBus(const BluezClientOptions& options, const Clock& clock);
  ~BluezClient();

  std::shared_ptr<ble::BleAdapter> adapter() const { return adapter_; }
  // Pairing through the gateway's own Agent1 (BluezAgent.cpp).
  std::shared_ptr<ble::BleBonding> bonding() const { return bonding_; }
  // False once the bus connection is lost (the client then only returns errors).
  bool busAlive() const;
  // True while org.bluez has an owner and its objects were loaded.
  bool bluezPresent() const;
  // Waits (bounded) until org.bluez is present and the adapter is known.
  Status waitReady(std::chrono::milliseconds timeout) const;

  // Whether devices are expected (e.g. enrolled BLE devices exist): arms the
  // scan watchdog and powering on an unpowered adapter. Called on the
  // recovery thread, only when a decision needs it; must be cheap and thread-safe.
  void setDevicesExpected(std::function<bool()> expected);
  // Called on the recovery thread once bluetoothd (or the bus) is back and the
  // adapter is ready again, after discovery was re-armed: the place to
  // re-register what bluetoothd forgot (agents, applications).
  void setRestoredHandler(std::function<void()> handler);
  BluezHealth health() const;
  // Recovery passes run so far: a test waits for two more than it saw to know
  // the recovery has looked at the state the test just set up.
  std::uint64_t recoveryPassesForTest() const;

 private:
  explicit BluezClient(std::shared_ptr<BluezCore> core);
  std::shared_ptr<BluezCore> core_;
  std::shared_ptr<BluezDiscovery> discovery_;
  std::shared_ptr<ble::BleAdapter> adapter_;
  std::unique_ptr<BluezRecovery> recovery_;
  std::shared_ptr<ble::BleBonding> bonding_;
};

}  // namespace rpm::bluez
