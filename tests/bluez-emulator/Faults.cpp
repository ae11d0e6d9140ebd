// Faults of bluetoothd and the controller, played on demand
// (org.rpmgateway.Emulator1, docs/bluez-emulator.md "Faults"):
//   * bluetoothd going away and coming back (bluez-dbus-api.md §9 item 1,
//     §8 item 11): the connection closes without InterfacesRemoved, the new
//     daemon connects under a new unique name, owns org.bluez, announces
//     the adapter unpowered and the stored devices without GATT children,
//     then AutoEnable powers the adapter;
//   * adapter power loss (§2, §9 item 28), optionally rfkill-blocked so that
//     Set(Powered, true) answers org.bluez.Error.Blocked;
//   * adapter removal and return (controller unplugged: devices, then the
//     adapter, InterfacesRemoved child-first; plugged: adapter, stored devices);
//   * a scanner that stops reporting while Discovering stays true (§8 item 7),
//     cleared by a discovery restart or only by a power cycle;
//   * any of these after n records of a glucose download.
#include <cstdio>
#include <cstdlib>

#include "Emulator.h"

namespace rpm::emulator {
namespace {

constexpr const char* kAdapter = "org.bluez.Adapter1";
constexpr const char* kIntrospectable = "org.freedesktop.DBus.Introspectable";
constexpr const char* kProperties = "org.freedesktop.DBus.Properties";
constexpr const char* kControl = "org.rpmgateway.Emulator1";
constexpr const char* kControlPath = "/org/rpmgateway/emulator";
// bluetoothd's AutoEnable (Debian main.conf) powers a new controller right after registering it.
constexpr std::uint32_t kAutoEnableDelayMs = 10;

bool signatureIs(sd_bus_message* m, const char* expected) {
  const char* sig = sd_bus_message_get_signature(m, 1);
  return std::string(sig ? sig : "") == expected;
}

int replyError(sd_bus_message* m, const char* name, const char* message) {
  return sd_bus_reply_method_errorf(m, name, "%s", message);
}

// An object's interfaces without the freedesktop ones addInterfaces adds itself.
std::map<std::string, PropertyMap> ownInterfaces(const std::map<std::string, PropertyMap>& all) {
  std::map<std::string, PropertyMap> out;
  for (const auto& [iface, props] : all) {
    if (iface != kIntrospectable && iface != kProperties) out[iface] = props;
  }
  return out;
}

}  // namespace

int BluezEmulator::handleFaultControl(sd_bus_message* m, const std::string& member) {
  if (member == "RestartDaemon" && signatureIs(m, "u")) {
    std::uint32_t downMs = 0;
    sd_bus_message_read_basic(m, 'u', &downMs);
    int r = sd_bus_reply_method_return(m, "");
    // Outside sd_bus_process: the connection this call came on is closed.
    after(0, [this, downMs] { restartDaemon(downMs); });
    return r < 0 ? r : 1;
  }
  if (member == "SetAdapterPresent" && signatureIs(m, "b")) {
    int present = 0;
    sd_bus_message_read_basic(m, 'b', &present);
    setAdapterPresent(present != 0);
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "SetAdapterPowerLoss" && signatureIs(m, "bb")) {
    int lost = 0, blocked = 0;
    sd_bus_message_read(m, "bb", &lost, &blocked);
    if (lost) {
      powerBlocked_ = blocked != 0;
      if (adapterPresent_) setPowered(false);
      faultCounters_["PowerLosses"]++;
    } else {
      powerBlocked_ = false;
      if (adapterPresent_) setPowered(true);  // rfkill unblock: bluetoothd restores power
    }
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "SetScannerSilent" && signatureIs(m, "bs")) {
    int silent = 0;
    const char* clearedBy = nullptr;
    sd_bus_message_read(m, "bs", &silent, &clearedBy);
    std::string by = clearedBy ? clearedBy : "";
    if (silent && by != "restart_discovery" && by != "power_cycle" && by != "never") {
      return replyError(m, "org.rpmgateway.Emulator.Error.BadArgument",
                        "clearedBy: restart_discovery, power_cycle or never");
    }
    scannerSilent_ = silent != 0;
    silenceClearedBy_ = by;
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "SetFaultAfterRecords" && signatureIs(m, "sisu")) {
    const char *address = nullptr, *fault = nullptr;
    std::int32_t records = -1;
    std::uint32_t ms = 0;
    sd_bus_message_read(m, "sisu", &address, &records, &fault, &ms);
    std::string f = fault ? fault : "";
    if (!deviceByAddress(address ? address : "")) {
      return replyError(m, "org.rpmgateway.Emulator.Error.NoSuchDevice", "no such virtual device");
    }
    if (f != "restart" && f != "power_loss" && f != "adapter_removed") {
      return replyError(m, "org.rpmgateway.Emulator.Error.BadArgument", "fault: restart, power_loss or adapter_removed");
    }
    if (records < 0) {
      faultAfterRecords_.erase(address);
    } else {
      faultAfterRecords_[address] = PlannedFault{records, f, ms};
    }
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "GetFaultCounters" && signatureIs(m, "")) {
    sd_bus_message* reply = nullptr;
    sd_bus_message_new_method_return(m, &reply);
    sd_bus_message_open_container(reply, 'a', "{su}");
    for (const auto& [name, count] : faultCounters_) sd_bus_message_append(reply, "{su}", name.c_str(), count);
    sd_bus_message_close_container(reply);
    int r = sd_bus_send(bus_, reply, nullptr);
    sd_bus_message_unref(reply);
    return r < 0 ? r : 1;
  }
  return 0;
}

int BluezEmulator::attachToBus() {
  int r = sd_bus_add_fallback(bus_, &fallbackSlot_, "/", &BluezEmulator::onMessage, this);
  if (r < 0) return r;
  return sd_bus_match_signal(bus_, &nameOwnerSlot_, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                             "org.freedesktop.DBus", "NameOwnerChanged", &BluezEmulator::onNameOwnerChanged, this);
}

void BluezEmulator::saveAdapterInterfaces() {
  auto it = objects_.find(adapterPath_);
  if (it != objects_.end()) savedAdapterIfaces_ = ownInterfaces(it->second);
}

// What bluetoothd and the controller forget: links (the controller is powered
// down or gone), discovery sessions and filters, notify sessions, exported
// GATT objects (the cache is exported again only after this run's first
// connection, §1), and pairings that were never bonded (§5.3).
void BluezEmulator::forgetRuntimeState() {
  for (auto& [address, dev] : devices_) {
    dev->linkEpoch++;  // stale timers of the old run do nothing
    dev->connected = dev->connecting = dev->resolved = dev->disconnecting = false;
    dev->racpRunning = false;
    dev->pendingConnect.reset();
    dev->pendingPair.reset();
    dev->pendingDisconnects.clear();
    dev->exported = dev->gattExported = dev->batteryExported = false;
    for (auto& svc : dev->services) {
      for (auto& c : svc.characteristics) c.sessions.clear();
    }
    if (dev->paired && !dev->bonded) dev->paired = false;
    if (!dev->paired) dev->temporary = true;  // not stored: not announced again
  }
  discoverySessions_.clear();
  discoveryFilters_.clear();
  seenThisRun_.clear();
}

void BluezEmulator::restartDaemon(std::uint32_t downMs) {
  faultCounters_["Restarts"]++;
  if (adapterPresent_) saveAdapterInterfaces();
  if (auto it = objects_.find("/org/bluez"); it != objects_.end()) savedBluezIfaces_ = ownInterfaces(it->second);
  forgetRuntimeState();
  agents_.clear();  // agents die with the daemon (§5.1)
  defaultAgentSender_.clear();
  powered_ = false;
  pendingChanges_.clear();
  objects_.clear();
  // The process exits: its connection closes, no InterfacesRemoved is sent
  // (§8 item 11); the bus announces NameOwnerChanged(org.bluez, old, "").
  sd_bus_slot_unref(fallbackSlot_);
  sd_bus_slot_unref(nameOwnerSlot_);
  fallbackSlot_ = nameOwnerSlot_ = nullptr;
  sd_bus_flush(bus_);
  if (ownedBus_ && ownedBus_.get() == bus_) {
    ownedBus_.reset();
  } else {
    sd_bus_close(bus_);  // main() still holds (and releases) the first connection
  }
  // The new process connects at once (a new unique name) but owns org.bluez
  // only when it has started, downMs later.
  sd_bus* fresh = nullptr;
  if (sd_bus_open_system(&fresh) < 0) {
    std::fprintf(stderr, "bluez-emulator: cannot reconnect after restart\n");
    std::exit(1);
  }
  ownedBus_.reset(fresh);
  bus_ = fresh;
  if (attachToBus() < 0) {
    std::fprintf(stderr, "bluez-emulator: cannot attach after restart\n");
    std::exit(1);
  }
  objects_["/"] = {};
  after(downMs, [this] { comeBackAfterRestart(); });
}

// bluetoothd main(): owns the name, registers /org/bluez, then adapters as the
// kernel reports them, each with its stored devices (src/main.c, src/adapter.c).
void BluezEmulator::comeBackAfterRestart() {
  if (sd_bus_request_name(bus_, "org.bluez", 0) < 0) {
    std::fprintf(stderr, "bluez-emulator: cannot own org.bluez after restart\n");
    std::exit(1);
  }
  addInterfaces("/org/bluez", savedBluezIfaces_);
  if (adapterPresent_) announceAdapter();
  addInterfaces(kControlPath, {{kControl, {}}});
  flushPropertyChanges();
}

// The adapter appears unpowered (bluetoothd powered it down on exit, or it was
// just plugged in) with its stored devices and no GATT children; AutoEnable
// then powers it (§1, §7).
void BluezEmulator::announceAdapter() {
  auto ifaces = savedAdapterIfaces_;
  auto& a = ifaces[kAdapter];
  a["Powered"] = false;
  a["Discovering"] = false;
  a["Pairable"] = !defaultAgentSender_.empty();
  if (a.count("PowerState")) a["PowerState"] = std::string("off");
  powered_ = false;
  addInterfaces(adapterPath_, ifaces);
  for (auto& [address, dev] : devices_) {
    if (dev->paired) {
      addInterfaces(dev->path, deviceInterfaces(*dev));
      dev->exported = true;
    }
  }
  after(kAutoEnableDelayMs, [this] {
    if (adapterPresent_ && !powered_ && !powerBlocked_ && objects_.count(adapterPath_)) setPowered(true);
  });
}

void BluezEmulator::setAdapterPresent(bool present) {
  if (!present && adapterPresent_) {
    faultCounters_["AdapterRemovals"]++;
    saveAdapterInterfaces();
    forgetRuntimeState();
    powered_ = false;
    adapterPresent_ = false;
    // Index removed: device subtrees, then the adapter, child-first (§1).
    removeSubtree(adapterPath_);
  } else if (present && !adapterPresent_) {
    adapterPresent_ = true;
    if (objects_.count("/org/bluez")) announceAdapter();  // else bluetoothd is down: announced on its return
  }
}

void BluezEmulator::runFault(const std::string& fault, std::uint32_t ms) {
  if (fault == "restart") {
    restartDaemon(ms);
  } else if (fault == "power_loss") {
    faultCounters_["PowerLosses"]++;
    setPowered(false);
    after(ms, [this] {
      if (adapterPresent_ && !powerBlocked_ && objects_.count(adapterPath_)) setPowered(true);
    });
  } else if (fault == "adapter_removed") {
    setAdapterPresent(false);
    after(ms, [this] { setAdapterPresent(true); });
  }
}

bool BluezEmulator::faultAfterRecord(VirtualDevice& dev, std::size_t index) {
  auto it = faultAfterRecords_.find(dev.address);
  if (it == faultAfterRecords_.end() || static_cast<std::size_t>(it->second.records) != index) return false;
  PlannedFault fault = it->second;
  faultAfterRecords_.erase(it);
  runFault(fault.fault, fault.ms);
  return true;
}

void BluezEmulator::onDiscoveryRunEnded() {
  if (!scannerSilent_) return;
  // A wedged controller (bluez #1554, #1126) may need a scan restart or a power cycle.
  if (silenceClearedBy_ == "restart_discovery" || (silenceClearedBy_ == "power_cycle" && !powered_)) {
    scannerSilent_ = false;
    faultCounters_["ScannerRevived"]++;
  }
}

int BluezEmulator::refusePowerOn(sd_bus_message* m, bool on) {
  faultCounters_[on ? "PowerOnRequests" : "PowerOffRequests"]++;
  if (on && powerBlocked_) return replyError(m, "org.bluez.Error.Blocked", "Blocked through rfkill");
  return 0;
}

}  // namespace rpm::emulator
