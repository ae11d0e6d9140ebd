// Property values of the emulated objects and how they are written to sd-bus
// messages. Every object's properties live in one map, so optional BlueZ
// properties can be truly absent (bluez-dbus-api.md §9 item 5).
#pragma once

#include <systemd/sd-bus.h>

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace rpm::emulator {

struct ObjectPathValue {
  std::string path;
  bool operator==(const ObjectPathValue& o) const { return path == o.path; }
};

// Advertising data (§3.2): ManufacturerData a{qv} and ServiceData a{sv}, each value "ay".
using ManufacturerDataValue = std::map<std::uint16_t, std::vector<std::uint8_t>>;
using ServiceDataValue = std::map<std::string, std::vector<std::uint8_t>>;
using BusValue = std::variant<bool, std::uint8_t, std::int16_t, std::uint16_t, std::uint32_t, std::string,
                              ObjectPathValue, std::vector<std::string>, std::vector<std::uint8_t>,
                              std::vector<ObjectPathValue>, ManufacturerDataValue, ServiceDataValue>;
using PropertyMap = std::map<std::string, BusValue>;

// D-Bus signature of the value held.
const char* signatureOf(const BusValue& value);
// Appends the value wrapped in a variant ("v").
int appendVariant(sd_bus_message* m, const BusValue& value);
// Appends a{sv}.
int appendPropertyDict(sd_bus_message* m, const PropertyMap& props);

}  // namespace rpm::emulator
