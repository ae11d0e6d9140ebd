#include "drivers/bluez/BluezDiscovery.h"

#include <map>
#include <mutex>
#include <sdbus-c++/sdbus-c++.h>

#include "drivers/bluez/BluezCore.h"

namespace rpm::bluez {
namespace {
constexpr const char* kAdapter = "org.bluez.Adapter1";
constexpr const char* kProperties = "org.freedesktop.DBus.Properties";
}  // namespace

Status BluezDiscovery::start(const ble::DiscoveryFilter& filter) {
  std::lock_guard<std::mutex> lock(core_->adapterOperations());
  filter_ = filter;
  wanted_.store(true);
  return startAbsorbingInProgress();
}

Status BluezDiscovery::startAbsorbingInProgress() {
  Status s = startOnce();
  if (s.kind() == ErrorKind::kConflict) {
    // InProgress: this connection may already scan, or the kernel refused;
    // stop (ignoring "No discovery started"), re-apply the filter, start again (§8 item 1).
    core_->call(core_->adapterPath(), kAdapter, "StopDiscovery", nullptr);
    active_.store(false);
    s = startOnce();
  }
  return s;
}

Status BluezDiscovery::stop() {
  std::lock_guard<std::mutex> lock(core_->adapterOperations());
  wanted_.store(false);
  if (!active_.load()) return Status::ok();  // we track our own session, never Discovering (§8 item 1)
  auto s = core_->call(core_->adapterPath(), kAdapter, "StopDiscovery", nullptr).status();
  active_.store(false);
  if (!s.isOk() && s.message().find("No discovery started") != std::string::npos) return Status::ok();
  return s;
}

Status BluezDiscovery::rearm() {
  std::lock_guard<std::mutex> lock(core_->adapterOperations());
  if (!wanted_.load() || active_.load()) return Status::ok();
  return startAbsorbingInProgress();
}

Status BluezDiscovery::restart() {
  std::lock_guard<std::mutex> lock(core_->adapterOperations());
  if (!wanted_.load()) return Status::ok();
  // The session may already be gone; "No discovery started" is fine here.
  core_->call(core_->adapterPath(), kAdapter, "StopDiscovery", nullptr);
  active_.store(false);
  return startOnce();
}

Status BluezDiscovery::powerCycle() {
  std::lock_guard<std::mutex> lock(core_->adapterOperations());
  Status off = setPoweredLocked(false);
  active_.store(false);  // power off ends every discovery session (§9 item 28)
  if (!off.isOk()) return off;
  return setPoweredLocked(true);
}

Status BluezDiscovery::setPowered(bool on) {
  std::lock_guard<std::mutex> lock(core_->adapterOperations());
  return setPoweredLocked(on);
}

Status BluezDiscovery::setPoweredLocked(bool on) {
  auto s = core_->call(core_->adapterPath(), kProperties, "Set", [on](sdbus::MethodCall& m) {
    m << std::string(kAdapter) << std::string("Powered") << sdbus::Variant(on);
  }).status();
  if (!s.isOk()) return s;
  // The reply can come before the Powered change is signalled: wait for the
  // mirror, so the next step sees the new state.
  auto* core = core_.get();
  std::string path = core_->adapterPath();
  bool seen = core_->waitFor(core_->options().callTimeout, [core, &path, on] {
    auto it = core->mirrorLocked().find(path);
    return core->busLostLocked() || (it != core->mirrorLocked().end() && it->second.powered == on);
  });
  if (!seen || !core_->busAlive()) return Status(ErrorKind::kTimeout, "Adapter1.Powered: change not signalled");
  return Status::ok();
}

Status BluezDiscovery::startOnce() {
  // Always set a filter: LE only and the health services; with a filter
  // BlueZ reports advertisers without discoverable flags too (§2.3, §8 item 8).
  std::map<std::string, sdbus::Variant> dict;
  dict["Transport"] = sdbus::Variant(std::string("le"));
  if (!filter_.serviceUuids.empty()) dict["UUIDs"] = sdbus::Variant(filter_.serviceUuids);
  auto s = core_->call(core_->adapterPath(), kAdapter, "SetDiscoveryFilter",
                       [dict](sdbus::MethodCall& m) { m << dict; }).status();
  if (!s.isOk()) return s;
  s = core_->call(core_->adapterPath(), kAdapter, "StartDiscovery", nullptr).status();
  if (s.isOk()) active_.store(true);
  return s;
}

}  // namespace rpm::bluez
