// ConfigKeySpec: one row of a configuration table (type, default, help).
// The gateway's table and each driver's table use this one shape.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rpm {

enum class ConfigValueType : std::uint8_t { kString, kInteger, kBoolean, kStringArray };

// Extra checks on string values.
enum class ConfigFormat : std::uint8_t {
  kAny,
  kTimeZone,          // an IANA zone name known to the system tz database
  kHttpUrl,           // http:// or https:// URL
  kMqttUri,           // tcp://, ssl://, mqtt://, mqtts:// host:port
  kPatientReference,  // "Patient/<id>"
  kDeviceKey,         // "bt:..", "sysid:..", "mqtt:.."
  kAbsolutePath,
};

struct ConfigKeySpec {
  std::string key;            // dotted path, "fhir.batch_size"
  ConfigValueType type = ConfigValueType::kString;
  std::string defaultValue;   // TOML text of the default; empty: none
  std::string help;
  bool required = false;
  std::int64_t min = INT64_MIN;  // integers only
  std::int64_t max = INT64_MAX;
  std::vector<std::string> choices;  // strings only; empty: any
  ConfigFormat format = ConfigFormat::kAny;
  bool secretPath = false;  // a path to a secret: never printed, permissions checked by its user
};

}  // namespace rpm
