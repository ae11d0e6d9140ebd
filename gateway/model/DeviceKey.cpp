#include "gateway/model/DeviceKey.h"

#include <cctype>

namespace rpm {
namespace {

// Upper-case hex with separators (':' or '-') removed; nullopt unless exactly
// `digits` hex digits remain and separators, if any, sit between octets.
std::optional<std::string> normaliseHex(std::string_view text, size_t digits) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ':' || c == '-') {
      if (out.empty() || out.size() % 2 != 0 || i + 1 == text.size()) return std::nullopt;
      continue;
    }
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  if (out.size() != digits) return std::nullopt;
  return out;
}

}  // namespace

std::optional<DeviceKey> DeviceKey::bluetooth(std::string_view address) {
  auto hex = normaliseHex(address, 12);
  if (!hex) return std::nullopt;
  return DeviceKey(DeviceKeyScheme::kBluetoothAddress, *hex);
}

std::optional<DeviceKey> DeviceKey::systemId(std::string_view hexText) {
  auto hex = normaliseHex(hexText, 16);
  if (!hex) return std::nullopt;
  return DeviceKey(DeviceKeyScheme::kSystemId, *hex);
}

std::optional<DeviceKey> DeviceKey::mqtt(std::string_view identity) {
  if (identity.empty() || identity.size() > 128) return std::nullopt;
  for (char c : identity) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return std::nullopt;
  }
  return DeviceKey(DeviceKeyScheme::kMqttIdentity, std::string(identity));
}

std::optional<DeviceKey> DeviceKey::parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view scheme = text.substr(0, colon);
  std::string_view rest = text.substr(colon + 1);
  if (scheme == "bt") return bluetooth(rest);
  if (scheme == "sysid") return systemId(rest);
  if (scheme == "mqtt") return mqtt(rest);
  return std::nullopt;
}

std::string DeviceKey::canonical() const {
  switch (scheme_) {
    case DeviceKeyScheme::kBluetoothAddress: return "bt:" + value_;
    case DeviceKeyScheme::kSystemId: return "sysid:" + value_;
    case DeviceKeyScheme::kMqttIdentity: return "mqtt:" + value_;
  }
  return value_;
}

}  // namespace rpm
