// DeviceKey: the stable identity of a device, the root of every identifier.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rpm {

// How a device is identified. Stored; never renumber.
enum class DeviceKeyScheme : unsigned char {
  kBluetoothAddress = 1,  // BLE identity address (EUI-48), 12 upper-case hex digits
  kSystemId = 2,          // DIS System ID (EUI-64) in over-the-air byte order, 16 hex digits
  kMqttIdentity = 3,      // the broker-authenticated or enrolled MQTT device identity
};

class DeviceKey {
 public:
  DeviceKey() = default;

  // Parses the canonical text: "bt:B0495F001071" (colons or dashes between
  // octets are accepted on input), "sysid:711000FEFF5F49B0", "mqtt:<id>".
  // An MQTT id is 1..128 characters of [A-Za-z0-9._-].
  static std::optional<DeviceKey> parse(std::string_view text);
  static std::optional<DeviceKey> bluetooth(std::string_view address);
  static std::optional<DeviceKey> systemId(std::string_view hex);
  static std::optional<DeviceKey> mqtt(std::string_view identity);

  DeviceKeyScheme scheme() const { return scheme_; }
  // The normalised value without scheme: "B0495F001071".
  const std::string& value() const { return value_; }
  // "bt:B0495F001071"; the form stored and hashed into identifiers.
  std::string canonical() const;
  bool empty() const { return value_.empty(); }

  bool operator==(const DeviceKey& o) const { return scheme_ == o.scheme_ && value_ == o.value_; }
  bool operator!=(const DeviceKey& o) const { return !(*this == o); }
  bool operator<(const DeviceKey& o) const {
    return scheme_ != o.scheme_ ? scheme_ < o.scheme_ : value_ < o.value_;
  }

 private:
  DeviceKey(DeviceKeyScheme scheme, std::string value) : scheme_(scheme), value_(std::move(value)) {}
  DeviceKeyScheme scheme_ = DeviceKeyScheme::kBluetoothAddress;
  std::string value_;
};

}  // namespace rpm
