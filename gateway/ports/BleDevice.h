// BleDevice: one remote LE device (BlueZ Device1) and its GATT database.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gateway/model/Status.h"
#include "gateway/ports/BleTypes.h"
#include "gateway/ports/GattCharacteristic.h"

namespace rpm::ble {

class BleDevice {
 public:
  virtual ~BleDevice() = default;
  virtual const std::string& address() const = 0;
  virtual DeviceSnapshot snapshot() const = 0;
  // Device1.Connect: returns once the link is up, before service discovery (§3.1).
  virtual Status connect() = 0;
  // Waits (bounded) for ServicesResolved=true (§3.3); kUnavailable if the link drops.
  virtual Status waitServicesResolved(std::chrono::milliseconds timeout) = 0;
  virtual Status disconnect() = 0;
  virtual Status pair() = 0;
  // The characteristic, or kNotFound when the resolved database lacks it.
  virtual Result<std::shared_ptr<GattCharacteristic>> characteristic(const std::string& serviceUuid,
                                                                     const std::string& characteristicUuid) = 0;
  // Every notification/indication of this device's subscribed characteristics.
  virtual void setValueHandler(ValueHandler handler) = 0;
  virtual void setLinkHandler(LinkHandler handler) = 0;
};

}  // namespace rpm::ble
