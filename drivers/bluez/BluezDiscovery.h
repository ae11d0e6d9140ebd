// BluezDiscovery (internal): this client's discovery session on the adapter
// and what it takes to get it back. The owner's intent ("keep discovering
// with this filter") outlives the session: bluetoothd restarts, power loss
// and adapter removal end the session (bluez-dbus-api.md §2.1, §8 item 11),
// and BluezRecovery re-arms it. Every call holds the adapter operation lock.
#pragma once

#include <atomic>
#include <memory>

#include "gateway/model/Status.h"
#include "gateway/ports/BleTypes.h"

namespace rpm::bluez {

class BluezCore;

class BluezDiscovery {
 public:
  explicit BluezDiscovery(std::shared_ptr<BluezCore> core) : core_(std::move(core)) {}

  // BleAdapter::startDiscovery / stopDiscovery. start() records the intent
  // even when bluetoothd refuses now (e.g. NotReady while unpowered): the
  // session is started once the adapter is ready.
  Status start(const ble::DiscoveryFilter& filter);
  Status stop();

  bool wanted() const { return wanted_.load(); }
  bool active() const { return active_.load(); }
  // Our session died with bluetoothd, the bus, the adapter or its power.
  void sessionLost() { active_.store(false); }
  // Filter + StartDiscovery again if wanted and not running.
  Status rearm();
  // Scan watchdog, step 1: StopDiscovery (errors ignored), filter, StartDiscovery.
  Status restart();
  // Scan watchdog, step 2: Powered off, then on (each confirmed by the
  // mirror); the session is re-armed by the recovery afterwards.
  Status powerCycle();
  // Powered=true on an unpowered adapter.
  Status setPowered(bool on);

 private:
  Status startOnce();
  Status startAbsorbingInProgress();
  Status setPoweredLocked(bool on);

  std::shared_ptr<BluezCore> core_;
  std::atomic<bool> wanted_{false}, active_{false};
  ble::DiscoveryFilter filter_;  // guarded by the adapter operation lock
};

}  // namespace rpm::bluez
