// GattCharacteristic: one remote characteristic (BlueZ GattCharacteristic1).
// Every call is bounded by the client's call timeout; failures come back as
// Status, never as exceptions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gateway/model/Status.h"
#include "gateway/ports/BleTypes.h"

namespace rpm::ble {

class GattCharacteristic {
 public:
  virtual ~GattCharacteristic() = default;
  // 128-bit lower-case UUIDs of the characteristic and its service.
  virtual const std::string& uuid() const = 0;
  virtual const std::string& serviceUuid() const = 0;
  // BlueZ Flags strings ("read", "notify", "indicate", ...), bluez-dbus-api.md §4.1.
  virtual std::vector<std::string> flags() const = 0;
  // ReadValue; a read result is not delivered to the value handler.
  virtual Result<std::vector<std::uint8_t>> read() = 0;
  // WriteValue; kDefault lets BlueZ pick the procedure from Flags (§4.2).
  virtual Status write(const std::vector<std::uint8_t>& value, WriteType type) = 0;
  // StartNotify/StopNotify: notifications and indications alike (§4.2).
  virtual Status startNotify() = 0;
  virtual Status stopNotify() = 0;
};

}  // namespace rpm::ble
