// BleAdapter: the local Bluetooth adapter (BlueZ Adapter1): discovery and the
// devices it knows. Operations on one adapter are serialized by the
// implementation so bluetoothd never answers InProgress because of us.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gateway/model/Status.h"
#include "gateway/ports/BleDevice.h"
#include "gateway/ports/BleTypes.h"

namespace rpm::ble {

class BleAdapter {
 public:
  virtual ~BleAdapter() = default;
  // Ok when the adapter exists and is powered; kUnavailable otherwise.
  virtual Status ready() const = 0;
  // Sets the LE filter, then starts this client's discovery session (§2.1).
  virtual Status startDiscovery(const DiscoveryFilter& filter) = 0;
  virtual Status stopDiscovery() = 0;
  virtual std::vector<DeviceSnapshot> devices() const = 0;
  // Waits (bounded) until a device with this address is known.
  virtual Result<DeviceSnapshot> waitForDevice(const std::string& address, std::chrono::milliseconds timeout) = 0;
  // A handle for a known device; kNotFound otherwise.
  virtual Result<std::shared_ptr<BleDevice>> device(const std::string& address) = 0;
  // Adapter1.RemoveDevice: forgets the device and its bond.
  virtual Status removeDevice(const std::string& address) = 0;
};

}  // namespace rpm::ble
