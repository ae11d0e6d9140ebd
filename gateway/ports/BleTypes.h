// Value types shared by the Bluetooth LE ports (BleAdapter, BleDevice,
// GattCharacteristic). Standard library and model only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gateway/model/Time.h"

namespace rpm::ble {

// 16-bit SIG UUID -> the lower-case 128-bit form BlueZ uses on D-Bus
// (health-devices-to-fhir.md §1.1).
inline std::string sigUuid(std::uint16_t shortUuid) {
  char text[40];
  std::snprintf(text, sizeof text, "0000%04x-0000-1000-8000-00805f9b34fb", shortUuid);
  return text;
}

// What discovery looks for. BlueZ reports every advertiser once any filter is
// set, so the client always sets one (bluez-dbus-api.md §2.3).
struct DiscoveryFilter {
  std::vector<std::string> serviceUuids;  // 128-bit lower case; empty = any
};

// A device as the adapter currently knows it.
struct DeviceSnapshot {
  std::string address;      // identity key (never the object path)
  std::string addressType;  // "public" or "random"
  std::optional<std::int16_t> rssi;  // absent outside discovery
  std::vector<std::string> uuids;    // advertised, then resolved services
  bool connected = false;
  bool servicesResolved = false;
  bool paired = false;
  bool bonded = false;
  // Advertisements reported for this device since the client started: every
  // RSSI report during discovery counts one (with a discovery filter BlueZ
  // reports each advert, §2.3). A rise means "advertising now".
  std::uint64_t advertisements = 0;
};

// One value received from a device: a notification or an indication (BlueZ
// does not say which), passed on unchanged with its receive time.
struct CharacteristicValue {
  std::string serviceUuid;
  std::string characteristicUuid;
  std::vector<std::uint8_t> bytes;
  UtcInstant receivedAt;
};

enum class WriteType { kDefault, kRequest, kCommand };

using ValueHandler = std::function<void(const CharacteristicValue&)>;
// Called with false when the link drops (device, bluetoothd or bus), true when it comes up.
using LinkHandler = std::function<void(bool connected)>;

}  // namespace rpm::ble
