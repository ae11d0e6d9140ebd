// BluezClient: the gateway's BlueZ client over D-Bus (sdbus-c++ 1.2), behind
// the BleAdapter / BleDevice / GattCharacteristic ports. This header is free
// of sdbus-c++; only drivers/bluez/*.cpp include it.
//
// One thread runs the D-Bus event loop itself (getEventLoopPollData + poll +
// processPendingRequest) and is the only thread touching sdbus objects:
// callers post work to it and wait on a bounded future. A lost bus or a
// vanished bluetoothd becomes kUnavailable; nothing from sdbus escapes.
#pragma once

#include <chrono>
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
  // Pair() may wait for an agent prompt (bluetoothd's 60 s agent timeout) plus the connection.
  std::chrono::milliseconds pairTimeout{90000};
};

class BluezCore;

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

 private:
  explicit BluezClient(std::shared_ptr<BluezCore> core);
  std::shared_ptr<BluezCore> core_;
  std::shared_ptr<ble::BleAdapter> adapter_;
  std::shared_ptr<ble::BleBonding> bonding_;
};

}  // namespace rpm::bluez
