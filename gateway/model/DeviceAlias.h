// DeviceAlias: the only way a device appears in logs, status and metrics.
#pragma once

#include <string>
#include <utility>

namespace rpm {

// An opaque per-hub name such as "dev-3f9a1c20". It is derived with a keyed
// hash (identity module) so it reveals no address, serial or system id.
class DeviceAlias {
 public:
  DeviceAlias() = default;
  // Only the identity module's DeviceAliaser and tests should construct one.
  explicit DeviceAlias(std::string text) : text_(std::move(text)) {}
  const std::string& text() const { return text_; }
  bool operator==(const DeviceAlias& o) const { return text_ == o.text_; }

 private:
  std::string text_;
};

}  // namespace rpm
