#include "Emulator.h"

#include <poll.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

namespace rpm::emulator {
namespace {

constexpr const char* kObjectManager = "org.freedesktop.DBus.ObjectManager";
constexpr const char* kProperties = "org.freedesktop.DBus.Properties";
constexpr const char* kIntrospectable = "org.freedesktop.DBus.Introspectable";
constexpr const char* kAdapter = "org.bluez.Adapter1";
constexpr const char* kDevice = "org.bluez.Device1";
constexpr const char* kService = "org.bluez.GattService1";
constexpr const char* kCharacteristic = "org.bluez.GattCharacteristic1";
constexpr const char* kDescriptor = "org.bluez.GattDescriptor1";
constexpr const char* kBattery = "org.bluez.Battery1";
constexpr const char* kAgentManager = "org.bluez.AgentManager1";
constexpr const char* kProfileManager = "org.bluez.ProfileManager1";
constexpr const char* kControl = "org.rpmgateway.Emulator1";
constexpr const char* kControlPath = "/org/rpmgateway/emulator";

// UUIDs are always 128-bit lower case on BlueZ's D-Bus API (§9 item 4).
std::string uuid128(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (text.size() == 4) return "0000" + text + "-0000-1000-8000-00805f9b34fb";
  return text;
}

std::string hex4(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04x", v);
  return buf;
}

CallRef hold(sd_bus_message* m) { return CallRef(sd_bus_message_ref(m), sd_bus_message_unref); }

int replyError(sd_bus_message* m, const std::string& name, const std::string& message) {
  return sd_bus_reply_method_errorf(m, name.c_str(), "%s", message.c_str());
}

// gdbus (bluez gdbus/object.c) dispatches only on an exact in-signature;
// anything else is UnknownMethod (§1, §9 item 7).
bool signatureIs(sd_bus_message* m, const char* expected) {
  const char* sig = sd_bus_message_get_signature(m, 1);
  return std::string(sig ? sig : "") == expected;
}

int unknownMethod(sd_bus_message* m) {
  const char* sig = sd_bus_message_get_signature(m, 1);
  std::string text = std::string("Method \"") + sd_bus_message_get_member(m) + "\" with signature \"" +
                     (sig ? sig : "") + "\" on interface \"" + sd_bus_message_get_interface(m) + "\" doesn't exist";
  return replyError(m, "org.freedesktop.DBus.Error.UnknownMethod", text);
}

std::string readString(sd_bus_message* m) {
  const char* s = nullptr;
  sd_bus_message_read_basic(m, 's', &s);
  return s ? s : "";
}

// Reads a{sv} into JSON for option/filter parsing, keeping each value's
// D-Bus signature so strict type checks stay possible. Returns false when
// the dict holds a type we do not model.
bool readOptions(sd_bus_message* m, std::map<std::string, std::pair<std::string, nlohmann::json>>& out) {
  if (sd_bus_message_enter_container(m, 'a', "{sv}") < 0) return false;
  while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
    std::string key = readString(m);
    char type = 0;
    const char* contents = nullptr;
    if (sd_bus_message_peek_type(m, &type, &contents) < 0 || type != 'v') return false;
    std::string sig = contents ? contents : "";
    sd_bus_message_enter_container(m, 'v', contents);
    nlohmann::json value;
    if (sig == "s" || sig == "o") {
      const char* s = nullptr;
      sd_bus_message_read_basic(m, sig[0], &s);
      value = s ? s : "";
    } else if (sig == "q") {
      std::uint16_t v = 0;
      sd_bus_message_read_basic(m, 'q', &v);
      value = v;
    } else if (sig == "n") {
      std::int16_t v = 0;
      sd_bus_message_read_basic(m, 'n', &v);
      value = v;
    } else if (sig == "b") {
      int v = 0;
      sd_bus_message_read_basic(m, 'b', &v);
      value = v != 0;
    } else if (sig == "as") {
      value = nlohmann::json::array();
      sd_bus_message_enter_container(m, 'a', "s");
      const char* s = nullptr;
      while (sd_bus_message_read_basic(m, 's', &s) > 0) value.push_back(s);
      sd_bus_message_exit_container(m);
    } else {
      sd_bus_message_skip(m, sig.c_str());
    }
    sd_bus_message_exit_container(m);
    sd_bus_message_exit_container(m);
    out[key] = {sig, value};
  }
  sd_bus_message_exit_container(m);
  return true;
}

Bytes readBytes(sd_bus_message* m) {
  const void* data = nullptr;
  size_t size = 0;
  if (sd_bus_message_read_array(m, 'y', &data, &size) < 0 || data == nullptr) return {};
  const auto* p = static_cast<const std::uint8_t*>(data);
  return Bytes(p, p + size);
}

const std::set<std::string> kCapabilities = {"DisplayOnly", "DisplayYesNo", "KeyboardOnly", "NoInputNoOutput",
                                             "KeyboardDisplay", ""};

}  // namespace

bool VirtualCharacteristic::hasCcc() const {
  return std::find(flags.begin(), flags.end(), "notify") != flags.end() ||
         std::find(flags.begin(), flags.end(), "indicate") != flags.end();
}

BluezEmulator::BluezEmulator(sd_bus* bus, const nlohmann::json& scenario) : bus_(bus) { loadScenario(scenario); }

BluezEmulator::~BluezEmulator() {
  sd_bus_slot_unref(fallbackSlot_);
  sd_bus_slot_unref(nameOwnerSlot_);
}

// ---------------------------------------------------------------- scenario

void BluezEmulator::loadScenario(const nlohmann::json& s) {
  const auto adapter = s.value("adapter", nlohmann::json::object());
  adapterAddress_ = adapter.value("address", adapterAddress_);
  powered_ = adapter.value("powered", true);
  experimental_ = s.value("experimental", false);
  plantedBug_ = s.value("plant_bug_for_test", "");
  const auto timing = s.value("timing", nlohmann::json::object());
  disconnectDelayMs_ = timing.value("disconnect_delay_ms", disconnectDelayMs_);
  temporaryTimeoutMs_ = timing.value("temporary_timeout_ms", temporaryTimeoutMs_);
  advertisingIntervalMs_ = timing.value("advertising_interval_ms", advertisingIntervalMs_);
  connectDelayMs_ = timing.value("connect_delay_ms", connectDelayMs_);
  discoveryDelayMs_ = timing.value("service_discovery_delay_ms", discoveryDelayMs_);
  loadGattScenario(s);
  agentTimeoutMs_ = timing.value("agent_timeout_ms", agentTimeoutMs_);

  for (const auto& d : s.value("devices", nlohmann::json::array())) {
    auto dev = std::make_unique<VirtualDevice>();
    dev->address = d.at("address").get<std::string>();
    dev->addressType = d.value("address_type", "public");
    dev->name = d.value("name", "");
    dev->kind = d.value("kind", "generic");
    dev->rssi = d.value("rssi", static_cast<std::int16_t>(-60));
    dev->advertising = d.value("advertising", true);
    dev->discoverableFlags = d.value("discoverable_flags", true);
    dev->paired = d.value("paired", false);
    dev->bonded = d.value("bonded", dev->paired);
    dev->trusted = d.value("trusted", false);
    dev->battery = d.value("battery", static_cast<std::uint8_t>(90));
    dev->deviceTime = parseDateTimeFields(d.value("device_time", "2024-03-01T12:00:00")).value_or(DateTimeFields{});
    dev->temporary = !dev->paired;
    loadDiscoveryScenario(d, *dev);  // Discovery.cpp: advertising data, connectable, identity (§2.3, §3.6)
    // Keys: manufacturer, model, serial, firmware, software, hardware (UTF-8 text) and system_id (16 hex digits).
    static const std::map<std::string, std::string> kDisKeys = {
        {"manufacturer", "2a29"}, {"model", "2a24"},    {"serial", "2a25"},   {"firmware", "2a26"},
        {"software", "2a28"},     {"hardware", "2a27"}, {"system_id", "2a23"}};
    for (const auto& [key, uuid] : kDisKeys) {
      const auto& info = d.value("device_information", nlohmann::json::object());
      if (info.contains(key)) dev->deviceInformation[uuid] = info[key].get<std::string>();
    }
    if (d.contains("glucose")) {
      const auto& g = d["glucose"];
      for (const auto& r : g.value("records", nlohmann::json::array())) {
        GlucoseRecord rec;
        rec.sequence = r.at("seq").get<std::uint16_t>();
        rec.baseTime = parseDateTimeFields(r.value("time", "2024-03-01T08:00:00")).value_or(DateTimeFields{});
        rec.concentrationMgPerDl = r.value("mg_dl", "100");
        rec.typeAndLocation = r.value("type_location", static_cast<std::uint8_t>(0x11));
        if (r.contains("meal")) rec.contextMeal = r["meal"].get<std::uint8_t>();
        dev->glucoseRecords.push_back(rec);
      }
      for (const auto& op : g.value("unsupported_operators", nlohmann::json::array())) {
        dev->unsupportedRacpOperators.insert(op.get<std::uint8_t>());
      }
      dev->reportOrder = g.value("report_order", "stored");
    }
    if (d.contains("blood_pressure")) {
      const auto& b = d["blood_pressure"];
      for (const auto& r : b.value("records", nlohmann::json::array())) {
        BloodPressureRecord rec;
        rec.systolic = r.value("systolic", "120");
        rec.diastolic = r.value("diastolic", "80");
        rec.meanArterial = r.value("map", "93");
        if (r.contains("pulse")) rec.pulse = r["pulse"].get<std::string>();
        if (r.contains("time")) rec.timeStamp = parseDateTimeFields(r["time"].get<std::string>());
        if (r.contains("user")) rec.userId = r["user"].get<std::uint8_t>();
        dev->bpRecords.push_back(rec);
      }
      dev->disconnectAfterIndications = b.value("disconnect_after_indications", true);
    }
    loadProfileDevice(*dev, d);
    std::string pathAddress = dev->address;
    for (auto& c : pathAddress) c = c == ':' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    dev->path = adapterPath_ + "/dev_" + pathAddress;  // §1: upper-case address, ':' -> '_'
    buildGatt(*dev);
    if (d.contains("advertised_uuids")) {
      for (const auto& u : d["advertised_uuids"]) dev->advertisedUuids.push_back(uuid128(u.get<std::string>()));
    } else if (dev->kind == "glucose_meter") {
      dev->advertisedUuids = {uuid128("1808")};
    } else if (dev->kind == "bp_cuff") {
      dev->advertisedUuids = {uuid128("1810")};
    }
    loadPairingKnobs(*dev, d);
    devices_[dev->address] = std::move(dev);
  }
}

// Handles: service start handle, characteristic declaration handle, value =
// declaration + 1, CCC = declaration + 2 (§1 path naming).
void BluezEmulator::buildGatt(VirtualDevice& dev) {
  std::uint16_t next = 0x0001;
  auto addService = [&](const std::string& uuid, bool exported) -> VirtualService& {
    VirtualService svc;
    svc.uuid = uuid128(uuid);
    svc.handle = next++;
    svc.exported = exported;
    svc.path = dev.path + "/service" + hex4(svc.handle);
    dev.services.push_back(svc);
    return dev.services.back();
  };
  auto addChar = [&](VirtualService& svc, const std::string& uuid, std::vector<std::string> flags, Bytes value) {
    VirtualCharacteristic ch;
    ch.uuid = uuid128(uuid);
    ch.handle = next;
    ch.flags = std::move(flags);
    ch.readValue = std::move(value);
    ch.path = svc.path + "/char" + hex4(ch.handle);
    next = static_cast<std::uint16_t>(next + (ch.hasCcc() ? 3 : 2));
    svc.characteristics.push_back(ch);
  };
  auto text = [](const std::string& s) { return Bytes(s.begin(), s.end()); };

  // GAP is claimed by bluetoothd's internal plugin and never exported (§3.3 step 5).
  auto& gap = addService("1800", false);
  addChar(gap, "2a00", {"read"}, text(dev.name));
  auto& dis = addService("180a", true);
  auto disText = [&](const std::string& uuid, const std::string& fallback) {
    auto it = dev.deviceInformation.find(uuid);
    return text(it == dev.deviceInformation.end() ? fallback : it->second);
  };
  addChar(dis, "2a29", {"read"}, disText("2a29", "Emulated Health Inc."));
  addChar(dis, "2a24", {"read"}, disText("2a24", dev.kind == "bp_cuff" ? "EBP-2" : "EGM-1"));
  addChar(dis, "2a25", {"read"}, disText("2a25", "SN" + dev.address.substr(dev.address.size() - 5)));
  addChar(dis, "2a26", {"read"}, disText("2a26", "1.0.7"));
  // Optional DIS characteristics exist only when the scenario names them, as on real devices.
  for (const char* uuid : {"2a27", "2a28"}) {
    if (dev.deviceInformation.count(uuid)) addChar(dis, uuid, {"read"}, disText(uuid, ""));
  }
  if (auto it = dev.deviceInformation.find("2a23"); it != dev.deviceInformation.end()) {
    Bytes id;  // over-the-air order, as written in the scenario
    for (std::size_t i = 0; i + 1 < it->second.size(); i += 2) {
      id.push_back(static_cast<std::uint8_t>(std::stoul(it->second.substr(i, 2), nullptr, 16)));
    }
    addChar(dis, "2a23", {"read"}, id);
  }
  auto& battery = addService("180f", true);
  addChar(battery, "2a19", {"read", "notify"}, Bytes{dev.battery});
  auto& cts = addService("1805", true);
  const auto& t = dev.deviceTime;
  addChar(cts, "2a2b", dev.profile.currentTimeWritable ? std::vector<std::string>{"read", "write", "notify"}
                                                        : std::vector<std::string>{"read", "notify"},
          Bytes{static_cast<std::uint8_t>(t.year & 0xFF), static_cast<std::uint8_t>(t.year >> 8), t.month, t.day,
                t.hours, t.minutes, t.seconds, 0, 0, 0});
  if (dev.kind == "glucose_meter") {
    auto& gls = addService("1808", true);
    addChar(gls, "2a18", {"notify"}, {});
    addChar(gls, "2a34", {"notify"}, {});
    addChar(gls, "2a51", {"read"}, Bytes{0x00, 0x04});
    addChar(gls, "2a52", {"write", "indicate"}, {});
  } else if (dev.kind == "bp_cuff") {
    auto& bps = addService("1810", true);
    addChar(bps, "2a35", {"indicate"}, {});
    addChar(bps, "2a36", {"notify"}, {});
    addChar(bps, "2a49", {"read"}, Bytes{0x20, 0x00});
  } else if (dev.kind == "vendor") {
    // A vendor service for the Acquire* and read/write rules (Gatt.cpp).
    auto& v = addService("0000fff0-0000-1000-8000-00805f9b34fb", true);
    addChar(v, "0000fff1-0000-1000-8000-00805f9b34fb", {"read", "notify", "write-without-response", "write"},
            Bytes{0x01, 0x02, 0x03, 0x04});
    addChar(v, "0000fff2-0000-1000-8000-00805f9b34fb", {"indicate"}, {});
  } else {
    buildProfileGatt(dev, addService, addChar);
  }
}

// ---------------------------------------------------------------- object tree

void BluezEmulator::addInterfaces(const std::string& path, const std::map<std::string, PropertyMap>& ifaces) {
  auto& obj = objects_[path];
  bool isNew = obj.empty();
  std::map<std::string, PropertyMap> announced = ifaces;
  if (isNew) {
    // Every gdbus object also carries the freedesktop interfaces, with empty dicts (§1).
    announced[kIntrospectable] = {};
    announced[kProperties] = {};
  }
  for (const auto& [iface, props] : announced) obj[iface] = props;
  sd_bus_message* sig = nullptr;
  if (sd_bus_message_new_signal(bus_, &sig, "/", kObjectManager, "InterfacesAdded") < 0) return;
  sd_bus_message_append_basic(sig, 'o', path.c_str());
  sd_bus_message_open_container(sig, 'a', "{sa{sv}}");
  for (const auto& [iface, props] : announced) {
    sd_bus_message_open_container(sig, 'e', "sa{sv}");
    sd_bus_message_append_basic(sig, 's', iface.c_str());
    appendPropertyDict(sig, props);
    sd_bus_message_close_container(sig);
  }
  sd_bus_message_close_container(sig);
  sd_bus_send(bus_, sig, nullptr);
  sd_bus_message_unref(sig);
}

void BluezEmulator::removeInterfaces(const std::string& path, const std::vector<std::string>& ifaces) {
  auto it = objects_.find(path);
  if (it == objects_.end()) return;
  for (const auto& iface : ifaces) {
    it->second.erase(iface);
    pendingChanges_.erase({path, iface});
  }
  sd_bus_message* sig = nullptr;
  if (sd_bus_message_new_signal(bus_, &sig, "/", kObjectManager, "InterfacesRemoved") >= 0) {
    sd_bus_message_append_basic(sig, 'o', path.c_str());
    sd_bus_message_open_container(sig, 'a', "s");
    for (const auto& iface : ifaces) sd_bus_message_append_basic(sig, 's', iface.c_str());
    sd_bus_message_close_container(sig);
    sd_bus_send(bus_, sig, nullptr);
    sd_bus_message_unref(sig);
  }
  if (it->second.size() <= 2) objects_.erase(it);
}

// Children first: desc -> char -> service -> device (§1).
void BluezEmulator::removeSubtree(const std::string& path) {
  std::vector<std::string> paths;
  for (const auto& [p, ifaces] : objects_) {
    if (p == path || p.rfind(path + "/", 0) == 0) paths.push_back(p);
  }
  std::sort(paths.begin(), paths.end(), [](const std::string& a, const std::string& b) {
    auto depth = [](const std::string& s) { return std::count(s.begin(), s.end(), '/'); };
    return depth(a) > depth(b);
  });
  for (const auto& p : paths) {
    std::vector<std::string> ifaces;
    for (const auto& [iface, props] : objects_[p]) ifaces.push_back(iface);
    objects_[p].clear();
    removeInterfaces(p, ifaces);
    objects_.erase(p);
  }
}

void BluezEmulator::setProperty(const std::string& path, const std::string& iface, const std::string& name,
                                BusValue value) {
  auto obj = objects_.find(path);
  if (obj == objects_.end() || obj->second.count(iface) == 0) return;
  auto& props = obj->second[iface];
  auto existing = props.find(name);
  if (existing != props.end() && existing->second == value) return;
  props[name] = std::move(value);
  auto& pending = pendingChanges_[{path, iface}];
  pending.changed.insert(name);
  pending.invalidated.erase(name);
}

void BluezEmulator::invalidateProperty(const std::string& path, const std::string& iface, const std::string& name) {
  auto obj = objects_.find(path);
  if (obj == objects_.end() || obj->second.count(iface) == 0) return;
  if (obj->second[iface].erase(name) == 0) return;
  auto& pending = pendingChanges_[{path, iface}];
  pending.changed.erase(name);
  pending.invalidated.insert(name);
}

// PropertiesChanged is coalesced per main-loop turn with the values at
// emission time, vanished properties in the invalidated list (gdbus/object.c
// process_changes; §1).
void BluezEmulator::flushPropertyChanges() {
  auto pending = std::move(pendingChanges_);
  pendingChanges_.clear();
  for (const auto& [key, change] : pending) {
    const auto& [path, iface] = key;
    auto obj = objects_.find(path);
    if (obj == objects_.end() || obj->second.count(iface) == 0) continue;
    PropertyMap changed;
    for (const auto& name : change.changed) {
      auto it = obj->second[iface].find(name);
      if (it != obj->second[iface].end()) changed[name] = it->second;
    }
    if (changed.empty() && change.invalidated.empty()) continue;
    sd_bus_message* sig = nullptr;
    if (sd_bus_message_new_signal(bus_, &sig, path.c_str(), kProperties, "PropertiesChanged") < 0) continue;
    sd_bus_message_append_basic(sig, 's', iface.c_str());
    appendPropertyDict(sig, changed);
    sd_bus_message_open_container(sig, 'a', "s");
    for (const auto& name : change.invalidated) sd_bus_message_append_basic(sig, 's', name.c_str());
    sd_bus_message_close_container(sig);
    sd_bus_send(bus_, sig, nullptr);
    sd_bus_message_unref(sig);
  }
}

// GATT Value is flushed at once, one signal per update, repeats included
// (src/gatt-client.c notify_cb -> g_dbus_emit_property_changed_full with
// G_DBUS_PROPERTY_CHANGED_FLAG_FLUSH; §4.4).
void BluezEmulator::emitValue(const std::string& charPath, const Bytes& value) {
  auto obj = objects_.find(charPath);
  if (obj == objects_.end()) return;
  obj->second[kCharacteristic]["Value"] = value;
  sd_bus_message* sig = nullptr;
  if (sd_bus_message_new_signal(bus_, &sig, charPath.c_str(), kProperties, "PropertiesChanged") < 0) return;
  sd_bus_message_append_basic(sig, 's', kCharacteristic);
  appendPropertyDict(sig, PropertyMap{{"Value", value}});
  sd_bus_message_open_container(sig, 'a', "s");
  sd_bus_message_close_container(sig);
  sd_bus_send(bus_, sig, nullptr);
  sd_bus_message_unref(sig);
}

std::map<std::string, PropertyMap> BluezEmulator::deviceInterfaces(const VirtualDevice& dev) const {
  PropertyMap p;
  p["Address"] = dev.address;
  p["AddressType"] = dev.addressType;
  std::string alias = dev.name;
  if (alias.empty()) {
    alias = dev.address;
    std::replace(alias.begin(), alias.end(), ':', '-');
  }
  p["Alias"] = alias;
  if (!dev.name.empty()) p["Name"] = dev.name;  // opt: only once known (§3.2)
  p["Paired"] = dev.paired;
  p["Bonded"] = dev.bonded;
  p["Trusted"] = dev.trusted;
  p["Blocked"] = false;
  p["LegacyPairing"] = false;
  p["Connected"] = dev.connected;
  p["ServicesResolved"] = dev.resolved;
  p["Adapter"] = ObjectPathValue{adapterPath_};
  p["UUIDs"] = dev.advertisedUuids;
  return {{kDevice, p}};
}

// ---------------------------------------------------------------- start/run

int BluezEmulator::start() {
  int r = sd_bus_add_fallback(bus_, &fallbackSlot_, "/", &BluezEmulator::onMessage, this);
  if (r < 0) return r;
  r = sd_bus_match_signal(bus_, &nameOwnerSlot_, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "NameOwnerChanged", &BluezEmulator::onNameOwnerChanged, this);
  if (r < 0) return r;
  objects_["/"] = {};  // the ObjectManager root; not itself a managed object
  addInterfaces("/org/bluez", {{kAgentManager, {}}, {kProfileManager, {}}});
  PropertyMap a;
  a["Address"] = adapterAddress_;
  a["AddressType"] = std::string("public");
  a["Name"] = std::string("BlueZ 5.66");
  a["Alias"] = std::string("BlueZ 5.66");
  a["Class"] = std::uint32_t{0};
  a["Powered"] = powered_;
  a["Discoverable"] = false;
  a["DiscoverableTimeout"] = std::uint32_t{180};
  a["Pairable"] = false;  // no default agent yet and AlwaysPairable=false (§5.3)
  a["PairableTimeout"] = std::uint32_t{0};
  a["Discovering"] = false;
  a["UUIDs"] = std::vector<std::string>{uuid128("1800"), uuid128("1801")};
  a["Roles"] = std::vector<std::string>{"central", "peripheral"};
  if (experimental_) a["PowerState"] = std::string(powered_ ? "on" : "off");
  addInterfaces(adapterPath_, {{kAdapter, a}, {"org.bluez.GattManager1", {}}});
  // Stored (paired) devices are announced at start with no GATT children (§1).
  for (auto& [address, dev] : devices_) {
    if (dev->paired) {
      addInterfaces(dev->path, deviceInterfaces(*dev));
      dev->exported = true;
    }
  }
  addInterfaces(kControlPath, {{kControl, {}}});
  after(advertisingIntervalMs_, [this] { advertisingTick(); });
  after(advertisingIntervalMs_, [this] { pollAcquired(); });  // Gatt.cpp
  flushPropertyChanges();
  // The name last: once org.bluez is owned, every object above exists.
  return sd_bus_request_name(bus_, "org.bluez", 0);
}

void BluezEmulator::after(std::uint32_t ms, std::function<void()> action) {
  timers_.emplace(std::chrono::steady_clock::now() + std::chrono::milliseconds(ms), std::move(action));
}

int BluezEmulator::run() {
  for (;;) {
    if (shutdownRequested()) {
      releaseAgentsAtShutdown();
      return 0;
    }
    for (;;) {
      int r = sd_bus_process(bus_, nullptr);
      if (r < 0) {
        std::fprintf(stderr, "bluez-emulator: bus lost (%d)\n", r);
        return 1;
      }
      if (r == 0) break;
    }
    auto now = std::chrono::steady_clock::now();
    while (!timers_.empty() && timers_.begin()->first <= now) {
      auto action = std::move(timers_.begin()->second);
      timers_.erase(timers_.begin());
      action();
    }
    flushPropertyChanges();
    if (sd_bus_flush(bus_) < 0) return 1;
    int timeoutMs = 1000;
    if (!timers_.empty()) {
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(timers_.begin()->first - now).count();
      timeoutMs = static_cast<int>(std::max<long long>(0, std::min<long long>(wait + 1, timeoutMs)));
    }
    std::uint64_t busTimeout = 0;
    if (sd_bus_get_timeout(bus_, &busTimeout) > 0 && busTimeout != UINT64_MAX) {
      struct timespec ts {};
      clock_gettime(CLOCK_MONOTONIC, &ts);
      std::uint64_t nowUs = static_cast<std::uint64_t>(ts.tv_sec) * 1000000ULL + static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
      int busMs = busTimeout <= nowUs ? 0 : static_cast<int>((busTimeout - nowUs + 999) / 1000);
      timeoutMs = std::min(timeoutMs, busMs);
    }
    struct pollfd pfd {};
    pfd.fd = sd_bus_get_fd(bus_);
    pfd.events = static_cast<short>(sd_bus_get_events(bus_));
    ::poll(&pfd, 1, timeoutMs);
  }
}

// ---------------------------------------------------------------- dispatch

int BluezEmulator::onMessage(sd_bus_message* m, void* userdata, sd_bus_error* /*error*/) {
  std::uint8_t type = 0;
  if (sd_bus_message_get_type(m, &type) < 0 || type != SD_BUS_MESSAGE_METHOD_CALL) return 0;
  return static_cast<BluezEmulator*>(userdata)->dispatch(m);
}

int BluezEmulator::onNameOwnerChanged(sd_bus_message* m, void* userdata, sd_bus_error* /*error*/) {
  const char *name = nullptr, *oldOwner = nullptr, *newOwner = nullptr;
  if (sd_bus_message_read(m, "sss", &name, &oldOwner, &newOwner) < 0) return 0;
  if (name && name[0] == ':' && newOwner && newOwner[0] == '\0') {
    static_cast<BluezEmulator*>(userdata)->senderGone(name);
  }
  return 0;
}

int BluezEmulator::dispatch(sd_bus_message* m) {
  const std::string path = sd_bus_message_get_path(m) ? sd_bus_message_get_path(m) : "";
  const char* ifaceC = sd_bus_message_get_interface(m);
  const std::string member = sd_bus_message_get_member(m) ? sd_bus_message_get_member(m) : "";
  if (!ifaceC) return unknownMethod(m);
  const std::string iface = ifaceC;
  if (iface == kIntrospectable && member == "Introspect") return handleIntrospect(m, path);
  if (path == "/" && iface == kObjectManager) return handleObjectManager(m, member);
  if (path == kControlPath && iface == kControl) return handleControl(m, member);
  if (!hasObject(path) || path == "/") return 0;  // sd-bus answers UnknownObject
  if (iface == kProperties) return handleProperties(m, path, member);
  if (objects_[path].count(iface) == 0) return unknownMethod(m);
  if (iface == kAdapter) return handleAdapter(m, member);
  if (iface == kAgentManager) return handleAgentManager(m, member);
  VirtualCharacteristic* ch = nullptr;
  bool isDescriptor = false;
  VirtualDevice* dev = deviceByPath(path, &ch, &isDescriptor);
  if (iface == kDevice && dev) return handleDevice(m, *dev, member);
  if (iface == kCharacteristic && dev && ch) return handleCharacteristic(m, *dev, *ch, member);
  if (iface == kDescriptor) return handleDescriptor(m, member);
  return unknownMethod(m);
}

VirtualDevice* BluezEmulator::deviceByPath(const std::string& path, VirtualCharacteristic** ch, bool* isDescriptor) {
  for (auto& [address, dev] : devices_) {
    if (path == dev->path) return dev.get();
    if (path.rfind(dev->path + "/", 0) != 0) continue;
    for (auto& svc : dev->services) {
      for (auto& c : svc.characteristics) {
        if (path == c.path || path.rfind(c.path + "/", 0) == 0) {
          if (ch) *ch = &c;
          if (isDescriptor) *isDescriptor = path != c.path;
          return dev.get();
        }
      }
    }
    return dev.get();
  }
  return nullptr;
}

VirtualDevice* BluezEmulator::deviceByAddress(const std::string& address) {
  auto it = devices_.find(address);
  return it == devices_.end() ? nullptr : it->second.get();
}

bool BluezEmulator::takeFault(const std::string& target, const std::string& member, Fault& out) {
  auto it = faults_.find(target + "/" + member);
  if (it == faults_.end() || it->second.empty()) return false;
  out = it->second.front();
  it->second.pop_front();
  return true;
}

int BluezEmulator::handleObjectManager(sd_bus_message* m, const std::string& member) {
  if (member != "GetManagedObjects" || !signatureIs(m, "")) return unknownMethod(m);
  sd_bus_message* reply = nullptr;
  int r = sd_bus_message_new_method_return(m, &reply);
  if (r < 0) return r;
  sd_bus_message_open_container(reply, 'a', "{oa{sa{sv}}}");
  for (const auto& [path, ifaces] : objects_) {
    if (path == "/" || path == kControlPath) continue;
    sd_bus_message_open_container(reply, 'e', "oa{sa{sv}}");
    sd_bus_message_append_basic(reply, 'o', path.c_str());
    sd_bus_message_open_container(reply, 'a', "{sa{sv}}");
    for (const auto& [iface, props] : ifaces) {
      sd_bus_message_open_container(reply, 'e', "sa{sv}");
      sd_bus_message_append_basic(reply, 's', iface.c_str());
      appendPropertyDict(reply, props);
      sd_bus_message_close_container(reply);
    }
    sd_bus_message_close_container(reply);
    sd_bus_message_close_container(reply);
  }
  sd_bus_message_close_container(reply);
  r = sd_bus_send(bus_, reply, nullptr);
  sd_bus_message_unref(reply);
  return r < 0 ? r : 1;
}

int BluezEmulator::handleIntrospect(sd_bus_message* m, const std::string& path) {
  std::string xml = "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\" "
                    "\"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n<node>";
  auto it = objects_.find(path);
  if (it != objects_.end()) {
    for (const auto& [iface, props] : it->second) xml += "<interface name=\"" + iface + "\"/>";
  }
  std::set<std::string> children;
  const std::string prefix = path == "/" ? "/" : path + "/";
  for (const auto& [p, ifaces] : objects_) {
    if (p.size() > prefix.size() && p.rfind(prefix, 0) == 0) children.insert(p.substr(prefix.size(), p.find('/', prefix.size()) - prefix.size()));
  }
  for (const auto& c : children) xml += "<node name=\"" + c + "\"/>";
  xml += "</node>";
  return sd_bus_reply_method_return(m, "s", xml.c_str());
}

int BluezEmulator::handleProperties(sd_bus_message* m, const std::string& path, const std::string& member) {
  auto& obj = objects_[path];
  if (member == "Get" && signatureIs(m, "ss")) {
    std::string iface = readString(m), name = readString(m);
    if (obj.count(iface) == 0) return replyError(m, "org.freedesktop.DBus.Error.InvalidArgs", "No such interface '" + iface + "'");
    auto it = obj[iface].find(name);
    // Absent optional properties: InvalidArgs "No such property" (§ legend, §9 item 5).
    if (it == obj[iface].end()) return replyError(m, "org.freedesktop.DBus.Error.InvalidArgs", "No such property '" + name + "'");
    sd_bus_message* reply = nullptr;
    sd_bus_message_new_method_return(m, &reply);
    appendVariant(reply, it->second);
    int r = sd_bus_send(bus_, reply, nullptr);
    sd_bus_message_unref(reply);
    return r < 0 ? r : 1;
  }
  if (member == "GetAll" && signatureIs(m, "s")) {
    std::string iface = readString(m);
    if (obj.count(iface) == 0) return replyError(m, "org.freedesktop.DBus.Error.InvalidArgs", "No such interface '" + iface + "'");
    sd_bus_message* reply = nullptr;
    sd_bus_message_new_method_return(m, &reply);
    appendPropertyDict(reply, obj[iface]);
    int r = sd_bus_send(bus_, reply, nullptr);
    sd_bus_message_unref(reply);
    return r < 0 ? r : 1;
  }
  if (member == "Set" && signatureIs(m, "ssv")) {
    std::string iface = readString(m), name = readString(m);
    return setProperty(m, path, iface, name);
  }
  return unknownMethod(m);
}

// Properties.Set errors as in gdbus/object.c properties_set (§1 table).
int BluezEmulator::setProperty(sd_bus_message* m, const std::string& path, const std::string& iface,
                               const std::string& name) {
  auto& obj = objects_[path];
  if (obj.count(iface) == 0) return replyError(m, "org.freedesktop.DBus.Error.InvalidArgs", "No such interface '" + iface + "'");
  static const std::map<std::string, std::map<std::string, std::string>> kWritable = {
      {kAdapter, {{"Powered", "b"}, {"Alias", "s"}, {"Discoverable", "b"}, {"DiscoverableTimeout", "u"},
                  {"Pairable", "b"}, {"PairableTimeout", "u"}}},
      {kDevice, {{"Trusted", "b"}, {"Alias", "s"}, {"Blocked", "b"}}}};
  if (obj[iface].count(name) == 0) return replyError(m, "org.freedesktop.DBus.Error.UnknownProperty", "No such property '" + name + "'");
  auto ifaceIt = kWritable.find(iface);
  if (ifaceIt == kWritable.end() || ifaceIt->second.count(name) == 0) {
    return replyError(m, "org.freedesktop.DBus.Error.PropertyReadOnly", "Property '" + name + "' is not writable");
  }
  char type = 0;
  const char* contents = nullptr;
  sd_bus_message_peek_type(m, &type, &contents);
  if (!contents || ifaceIt->second.at(name) != contents) {
    return replyError(m, "org.freedesktop.DBus.Error.InvalidSignature", "Invalid signature for '" + name + "'");
  }
  sd_bus_message_enter_container(m, 'v', contents);
  BusValue value;
  if (contents[0] == 'b') {
    int b = 0;
    sd_bus_message_read_basic(m, 'b', &b);
    value = b != 0;
  } else if (contents[0] == 'u') {
    std::uint32_t u = 0;
    sd_bus_message_read_basic(m, 'u', &u);
    value = u;
  } else {
    value = readString(m);
  }
  if (iface == kAdapter && name == "Powered") {
    Fault fault;
    if (takeFault("adapter", "SetPowered", fault)) return replyError(m, fault.errorName, fault.message);
    if (int r = refusePowerOn(m, std::get<bool>(value)); r != 0) return r;  // Faults.cpp: rfkill
    setPowered(std::get<bool>(value));
    return sd_bus_reply_method_return(m, "");
  }
  VirtualCharacteristic* ch = nullptr;
  if (iface == kDevice) {
    if (auto* dev = deviceByPath(path, &ch, nullptr); dev && name == "Trusted") dev->trusted = std::get<bool>(value);
  }
  setProperty(path, iface, name, value);
  return sd_bus_reply_method_return(m, "");
}

// ---------------------------------------------------------------- Adapter1

int BluezEmulator::handleAdapter(sd_bus_message* m, const std::string& member) {
  const std::string sender = sd_bus_message_get_sender(m) ? sd_bus_message_get_sender(m) : "";
  Fault fault;
  if (member == "StartDiscovery" && signatureIs(m, "")) {
    if (takeFault("adapter", member, fault)) return replyError(m, fault.errorName, fault.message);
    if (!powered_) return replyError(m, "org.bluez.Error.NotReady", "Resource Not Ready");
    // One session per sender; a second start is InProgress (src/adapter.c start_discovery).
    if (discoverySessions_.count(sender)) return replyError(m, "org.bluez.Error.InProgress", "Operation already in progress");
    discoverySessions_.insert(sender);
    auto call = hold(m);
    // Reply deferred until the (virtual) kernel confirms; Discovering=true on confirmation (§2.1).
    after(discoveryDelayMs_, [this, call] {
      if (discoverySessions_.empty()) return;
      if (seenThisRun_.empty()) seenThisRun_.clear();
      setProperty(adapterPath_, kAdapter, "Discovering", true);
      sd_bus_reply_method_return(call.get(), "");
      advertisingTick();
    });
    return 1;
  }
  if (member == "StopDiscovery" && signatureIs(m, "")) {
    if (takeFault("adapter", member, fault)) return replyError(m, fault.errorName, fault.message);
    if (!powered_) return replyError(m, "org.bluez.Error.NotReady", "Resource Not Ready");
    if (!discoverySessions_.count(sender)) return replyError(m, "org.bluez.Error.Failed", "No discovery started");
    discoverySessions_.erase(sender);  // the sender's filter is kept for its next start (§2.1)
    if (!discoverySessions_.empty()) return sd_bus_reply_method_return(m, "");
    auto call = hold(m);
    after(discoveryDelayMs_, [this, call] {
      if (discoverySessions_.empty()) endDiscoveryRun();
      sd_bus_reply_method_return(call.get(), "");
    });
    return 1;
  }
  if (member == "SetDiscoveryFilter" && signatureIs(m, "a{sv}")) {
    if (takeFault("adapter", member, fault)) return replyError(m, fault.errorName, fault.message);
    if (!powered_) return replyError(m, "org.bluez.Error.NotReady", "Resource Not Ready");
    std::map<std::string, std::pair<std::string, nlohmann::json>> options;
    if (!readOptions(m, options)) return replyError(m, "org.bluez.Error.InvalidArguments", "Invalid arguments in method call");
    // src/adapter.c parse_discovery_filter_dict: strict keys and variant types.
    static const std::map<std::string, std::string> kKeys = {{"UUIDs", "as"}, {"RSSI", "n"}, {"Pathloss", "q"},
                                                             {"Transport", "s"}, {"DuplicateData", "b"},
                                                             {"Discoverable", "b"}, {"Pattern", "s"}};
    nlohmann::json filter = nlohmann::json::object();
    for (const auto& [key, typed] : options) {
      auto known = kKeys.find(key);
      if (known == kKeys.end() || known->second != typed.first) {
        return replyError(m, "org.bluez.Error.InvalidArguments", "Invalid arguments in method call");
      }
      filter[key] = typed.second;
    }
    if (filter.contains("RSSI") && filter.contains("Pathloss")) return replyError(m, "org.bluez.Error.InvalidArguments", "Invalid arguments in method call");
    if (filter.contains("RSSI") && (filter["RSSI"].get<int>() < -127 || filter["RSSI"].get<int>() > 20)) return replyError(m, "org.bluez.Error.InvalidArguments", "Invalid arguments in method call");
    if (filter.contains("Transport")) {
      auto t = filter["Transport"].get<std::string>();
      if (t != "auto" && t != "le" && t != "bredr") return replyError(m, "org.bluez.Error.InvalidArguments", "Invalid arguments in method call");
    }
    if (filter.empty()) {
      discoveryFilters_.erase(sender);  // {} clears (§2.1)
    } else {
      discoveryFilters_[sender] = filter;
    }
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "GetDiscoveryFilters" && signatureIs(m, "")) {
    return sd_bus_reply_method_return(m, "as", 7, "UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData",
                                      "Discoverable", "Pattern");
  }
  if (member == "RemoveDevice" && signatureIs(m, "o")) {
    const char* target = nullptr;
    sd_bus_message_read_basic(m, 'o', &target);
    if (!powered_) return replyError(m, "org.bluez.Error.NotReady", "Resource Not Ready");
    VirtualDevice* dev = nullptr;
    for (auto& [a, d] : devices_) {
      if (d->exported && d->path == target) dev = d.get();
    }
    if (!dev) {
      bool isDevicePath = std::string(target).rfind(adapterPath_ + "/dev_", 0) == 0 &&
                          std::string(target).find('/', adapterPath_.size() + 1) == std::string::npos;
      return isDevicePath ? replyError(m, "org.bluez.Error.DoesNotExist", "Does Not Exist")
                          : replyError(m, "org.bluez.Error.InvalidArguments", "Invalid arguments in method call");
    }
    auto remove = [this, dev] {
      removeSubtree(dev->path);
      dev->exported = dev->gattExported = dev->batteryExported = false;
      dev->paired = dev->bonded = dev->trusted = false;
      dev->temporary = true;
      for (auto& svc : dev->services) {
        for (auto& c : svc.characteristics) c.sessions.clear();
      }
    };
    if (!dev->connected) {
      remove();
      return sd_bus_reply_method_return(m, "");
    }
    // Connected: disconnect first (2 s timer) and reply after (§2.1).
    auto call = hold(m);
    dev->disconnecting = true;
    after(disconnectDelayMs_, [this, dev, call, remove] {
      linkDown(*dev);
      remove();
      sd_bus_reply_method_return(call.get(), "");
    });
    return 1;
  }
  return unknownMethod(m);
}

void BluezEmulator::endDiscoveryRun() {
  setProperty(adapterPath_, kAdapter, "Discovering", false);
  // At discovery end RSSI and TxPower are invalidated for every device seen,
  // non-connectable temporary devices removed (Discovery.cpp; §2.3, §3.5).
  discoveryRunEnded(seenThisRun_);
  seenThisRun_.clear();
  onDiscoveryRunEnded();  // Faults.cpp: a restart or power cycle may revive a silent scanner
}

void BluezEmulator::advertisingTick() {
  after(advertisingIntervalMs_, [this] { advertisingTick(); });
  auto now = std::chrono::steady_clock::now();
  bool discovering = powered_ && scannerReporting() && !discoverySessions_.empty() &&
                     std::get<bool>(objects_[adapterPath_][kAdapter]["Discovering"]);
  if (discovering) {
    // Merged filter of the sessions (§2.1: OR-merged; any filter => every advertiser reported, §2.3).
    bool anyFilter = false, matchAll = false, duplicateData = false;
    std::set<std::string> uuids;
    for (const auto& s : discoverySessions_) {
      auto f = discoveryFilters_.find(s);
      if (f == discoveryFilters_.end()) {
        matchAll = true;
        continue;
      }
      anyFilter = true;
      duplicateData = duplicateData || f->second.value("DuplicateData", false);
      if (!f->second.contains("UUIDs") || f->second["UUIDs"].empty()) {
        matchAll = true;
      } else {
        for (const auto& u : f->second["UUIDs"]) uuids.insert(uuid128(u.get<std::string>()));
      }
    }
    for (auto& [address, dev] : devices_) {
      if (!dev->advertising || dev->connected) continue;
      if (!anyFilter && !dev->discoverableFlags) continue;
      bool uuidMatch = matchAll;
      for (const auto& u : dev->advertisedUuids) uuidMatch = uuidMatch || uuids.count(u);
      if (!uuidMatch) continue;
      dev->lastSeen = now;
      seenThisRun_.insert(address);
      reportAdvert(*dev, anyFilter, duplicateData);  // Discovery.cpp (§2.3)
    }
  }
  // Temporary devices expire TemporaryTimeout after their last advert, paused while connected (§3.5).
  for (auto& [address, dev] : devices_) {
    if (dev->exported && dev->temporary && !dev->connected && !dev->connecting &&
        now - dev->lastSeen > std::chrono::milliseconds(temporaryTimeoutMs_)) {
      removeSubtree(dev->path);
      dev->exported = dev->gattExported = dev->batteryExported = false;
    }
  }
}

void BluezEmulator::setPowered(bool on) {
  powered_ = on;
  if (!on) {
    // Powered off: links dropped, Discovering=false, sessions gone (§9 item 28).
    for (auto& [address, dev] : devices_) {
      if (dev->connected || dev->connecting) linkDown(*dev);
    }
    discoverySessions_.clear();
    endDiscoveryRun();
  }
  setProperty(adapterPath_, kAdapter, "Powered", on);
}

// ---------------------------------------------------------------- AgentManager1

int BluezEmulator::handleAgentManager(sd_bus_message* m, const std::string& member) {
  const std::string sender = sd_bus_message_get_sender(m) ? sd_bus_message_get_sender(m) : "";
  if (member == "RegisterAgent" && signatureIs(m, "os")) {
    const char *path = nullptr, *cap = nullptr;
    sd_bus_message_read(m, "os", &path, &cap);
    if (agents_.count(sender)) return replyError(m, "org.bluez.Error.AlreadyExists", "Already Exists");
    if (!kCapabilities.count(cap)) return replyError(m, "org.bluez.Error.InvalidArguments", "Invalid arguments in method call");
    agents_[sender] = Agent{path, std::string(cap).empty() ? "KeyboardDisplay" : cap};
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "UnregisterAgent" && signatureIs(m, "o")) {
    const char* path = nullptr;
    sd_bus_message_read_basic(m, 'o', &path);
    auto it = agents_.find(sender);
    if (it == agents_.end() || it->second.path != path) return replyError(m, "org.bluez.Error.DoesNotExist", "Does Not Exist");
    agents_.erase(it);
    if (defaultAgentSender_ == sender) {
      defaultAgentSender_.clear();
      setProperty(adapterPath_, kAdapter, "Pairable", false);
    }
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "RequestDefaultAgent" && signatureIs(m, "o")) {
    const char* path = nullptr;
    sd_bus_message_read_basic(m, 'o', &path);
    auto it = agents_.find(sender);
    if (it == agents_.end() || it->second.path != path) return replyError(m, "org.bluez.Error.DoesNotExist", "Does Not Exist");
    defaultAgentSender_ = sender;
    setProperty(adapterPath_, kAdapter, "Pairable", true);  // default agent => bondable (§5.3)
    return sd_bus_reply_method_return(m, "");
  }
  return unknownMethod(m);
}

void BluezEmulator::senderGone(const std::string& sender) {
  // Discovery sessions, filters, notify sessions and agents die with their
  // D-Bus connection (src/adapter.c discovery_disconnect, src/gatt-client.c, src/agent.c).
  discoveryFilters_.erase(sender);
  if (discoverySessions_.erase(sender) && discoverySessions_.empty()) endDiscoveryRun();
  for (auto& [address, dev] : devices_) {
    for (auto& svc : dev->services) {
      for (auto& c : svc.characteristics) {
        if (c.sessions.erase(sender) && c.sessions.empty()) setProperty(c.path, kCharacteristic, "Notifying", false);
      }
    }
  }
  agents_.erase(sender);
  if (defaultAgentSender_ == sender) {
    defaultAgentSender_.clear();
    setProperty(adapterPath_, kAdapter, "Pairable", false);
  }
}

// ---------------------------------------------------------------- Device1

void BluezEmulator::exportGatt(VirtualDevice& dev) {
  // Parent before children: service, its characteristics, their descriptors (§3.3 step 5).
  for (auto& svc : dev.services) {
    if (!svc.exported || dev.hiddenServices.count(svc.uuid)) continue;  // incomplete discovery (Gatt.cpp, §3.3)
    addInterfaces(svc.path, {{kService, PropertyMap{{"UUID", svc.uuid}, {"Device", ObjectPathValue{dev.path}},
                                                    {"Primary", true}, {"Includes", std::vector<ObjectPathValue>{}}}}});
    for (auto& c : svc.characteristics) {
      PropertyMap p{{"UUID", c.uuid}, {"Service", ObjectPathValue{svc.path}}, {"Flags", c.flags}, {"Value", Bytes{}}};
      if (c.hasCcc()) p["Notifying"] = !c.sessions.empty();
      if (std::find(c.flags.begin(), c.flags.end(), "notify") != c.flags.end()) p["NotifyAcquired"] = c.notifyFd >= 0;
      if (std::find(c.flags.begin(), c.flags.end(), "write-without-response") != c.flags.end()) {
        p["WriteAcquired"] = c.writeFd >= 0;  // only with write-without-response (§4.1)
      }
      if (dev.connected) p["MTU"] = std::uint16_t{517};
      addInterfaces(c.path, {{kCharacteristic, p}});
      if (c.hasCcc()) {
        addInterfaces(c.path + "/desc" + hex4(static_cast<std::uint16_t>(c.handle + 2)),
                      {{kDescriptor, PropertyMap{{"UUID", uuid128("2902")}, {"Characteristic", ObjectPathValue{c.path}},
                                                 {"Value", Bytes{}}}}});
      }
    }
  }
  dev.gattExported = true;
}

void BluezEmulator::linkUp(VirtualDevice& dev) {
  dev.linkEpoch++;
  dev.connected = true;
  dev.connecting = false;
  // Connect makes a device persistent, except resolvable private addresses (§3.5).
  bool rpa = dev.addressType == "random" && (std::stoi(dev.address.substr(0, 2), nullptr, 16) & 0xC0) == 0x40;
  if (!rpa) dev.temporary = false;
  dev.counters["Connect"]++;
  setProperty(dev.path, kDevice, "Connected", true);
  if (dev.gattExported) {
    for (auto& svc : dev.services) {
      for (auto& c : svc.characteristics) setProperty(c.path, kCharacteristic, "MTU", std::uint16_t{517});
    }
  }
  auto epoch = dev.linkEpoch;
  // GATT discovery after the Connect reply: UUIDs -> InterfacesAdded -> ServicesResolved (§3.3).
  after(discoveryDelayMs_, [this, &dev, epoch] {
    if (dev.linkEpoch != epoch || !dev.connected) return;
    std::vector<std::string> uuids;
    for (const auto& svc : dev.services) uuids.push_back(svc.uuid);
    std::sort(uuids.begin(), uuids.end());
    setProperty(dev.path, kDevice, "UUIDs", uuids);
    flushPropertyChanges();
    if (plantedBug_ == "resolved_before_tree") {
      // Test-only planted bug: proves the order check can fail.
      setProperty(dev.path, kDevice, "ServicesResolved", true);
      flushPropertyChanges();
    }
    if (!dev.gattExported) exportGatt(dev);
    if (!dev.batteryExported) {
      addInterfaces(dev.path, {{kBattery, PropertyMap{{"Percentage", dev.battery}}}});
      dev.batteryExported = true;
    }
    dev.resolved = true;
    setProperty(dev.path, kDevice, "ServicesResolved", true);
    afterServicesResolved(dev);
  });
}

void BluezEmulator::linkDown(VirtualDevice& dev) {
  dev.linkEpoch++;
  dev.racpRunning = false;
  dev.disconnecting = false;
  // ServicesResolved=false, then (unbonded) Paired=false, then Connected=false (§3.4).
  if (dev.resolved) setProperty(dev.path, kDevice, "ServicesResolved", false);
  dev.resolved = false;
  if (dev.paired && !dev.bonded) {
    dev.paired = false;
    setProperty(dev.path, kDevice, "Paired", false);
  }
  flushPropertyChanges();
  dev.connected = false;
  setProperty(dev.path, kDevice, "Connected", false);
  // MTU silently stops existing (§3.4); Notifying keeps its value.
  for (auto& svc : dev.services) {
    for (auto& c : svc.characteristics) {
      auto obj = objects_.find(c.path);
      if (obj != objects_.end()) obj->second[kCharacteristic].erase("MTU");
    }
  }
  if (dev.pendingConnect) {
    replyError(dev.pendingConnect.get(), "org.bluez.Error.Failed", "br-connection-canceled");
    dev.pendingConnect.reset();
  }
  if (dev.pendingPair) {
    cancelAgentRequest();
    replyError(dev.pendingPair.get(), "org.bluez.Error.AuthenticationCanceled", "Authentication Canceled");
    dev.pendingPair.reset();
  }
  dev.connecting = false;
  for (auto& call : dev.pendingDisconnects) sd_bus_reply_method_return(call.get(), "");
  dev.pendingDisconnects.clear();
  gattLinkDown(dev);  // Gatt.cpp: acquired sockets, cache modes (§4.4)
}

void BluezEmulator::afterServicesResolved(VirtualDevice& dev) {
  // Pair replies after ServicesResolved, once the agent exchange is done (Agents.cpp).
  if (dev.pendingPair) runPairing(dev);
  // Notify sessions are re-armed at ATT attach (§4.4): a cuff whose BPM CCC is
  // enabled starts sending its stored measurements.
  for (auto& svc : dev.services) {
    for (auto& c : svc.characteristics) {
      if (c.uuid == uuid128("2a35") && c.cccEnabled()) {
        auto epoch = dev.linkEpoch;
        after(5, [this, &dev, epoch] { indicateStoredBloodPressure(dev, 0, epoch); });
      }
    }
  }
  profileLinkResumed(dev);
}

int BluezEmulator::handleDevice(sd_bus_message* m, VirtualDevice& dev, const std::string& member) {
  Fault fault;
  if (!signatureIs(m, "")) return unknownMethod(m);
  if (member == "Connect") {
    dev.counters["ConnectCalls"]++;
    if (takeFault(dev.address, member, fault)) {
      if (fault.message == "le-connection-abort-by-local") {
        // The catch-all LE failure often flaps Connected true -> false (§8 item 2).
        setProperty(dev.path, kDevice, "Connected", true);
        flushPropertyChanges();
        setProperty(dev.path, kDevice, "Connected", false);
      }
      return replyError(m, fault.errorName, fault.message);
    }
    if (dev.connected) return sd_bus_reply_method_return(m, "");  // never AlreadyConnected (§3.1)
    if (dev.connecting) return replyError(m, "org.bluez.Error.Failed", "Operation already in progress");
    if ((!dev.advertising || !dev.connectable) && !dev.paired) {
      return replyError(m, "org.bluez.Error.Failed", "le-connection-abort-by-local");
    }
    if (dev.pairing.bondedElsewhere == "ignores_connections") {
      return replyError(m, "org.bluez.Error.Failed", "le-connection-abort-by-local");  // only its bonded host may connect
    }
    dev.connecting = true;
    dev.pendingConnect = hold(m);
    after(connectDelayMs_ + dev.responseDelayMs + dualModeConnectDelay(dev), [this, &dev] {
      if (!dev.connecting || !dev.pendingConnect) return;
      auto call = dev.pendingConnect;
      dev.pendingConnect.reset();
      if (!dev.advertising) {
        dev.connecting = false;
        replyError(call.get(), "org.bluez.Error.Failed", "le-connection-abort-by-local");
        return;
      }
      linkUp(dev);
      // Connected=true is flushed first; Connect() returns before service discovery (§3.3 steps 1-2).
      flushPropertyChanges();
      sd_bus_reply_method_return(call.get(), "");
    });
    return 1;
  }
  if (member == "Disconnect") {
    if (!dev.connected && !dev.connecting) return sd_bus_reply_method_return(m, "");  // success when down (§3.1)
    if (dev.connecting && !dev.connected) {
      linkDown(dev);  // cancels the pending Connect with br-connection-canceled
      return sd_bus_reply_method_return(m, "");
    }
    dev.pendingDisconnects.push_back(hold(m));
    if (!dev.disconnecting) {
      dev.disconnecting = true;
      auto epoch = dev.linkEpoch;
      // The ACL is dropped after a fixed 2 s timer (src/device.c disconnect_all / DISCONNECT_TIMER).
      after(disconnectDelayMs_, [this, &dev, epoch] {
        if (dev.linkEpoch == epoch) linkDown(dev);
      });
    }
    return 1;
  }
  if (member == "Pair") {
    dev.counters["Pair"]++;
    if (takeFault(dev.address, member, fault)) return replyError(m, fault.errorName, fault.message);
    if (dev.pendingPair) return replyError(m, "org.bluez.Error.InProgress", "In Progress");
    if (dev.paired) return replyError(m, "org.bluez.Error.AlreadyExists", "Already Exists");
    dev.pendingPair = hold(m);
    if (dev.resolved) {
      afterServicesResolved(dev);
    } else if (!dev.connected && !dev.connecting) {
      dev.connecting = true;
      after(connectDelayMs_ + dev.responseDelayMs, [this, &dev] {
        if (!dev.connecting) return;
        if (dev.pairing.bondedElsewhere == "ignores_connections") {
          dev.connecting = false;  // the kernel's LE connection attempt times out (MGMT CONNECT_FAILED)
          finishPairing(dev, "org.bluez.Error.ConnectionAttemptFailed", "Page Timeout");
          return;
        }
        linkUp(dev);
      });
    }
    return 1;
  }
  if (member == "CancelPairing") {
    if (dev.pendingPair) {
      cancelAgentRequest();
      replyError(dev.pendingPair.get(), "org.bluez.Error.AuthenticationCanceled", "Authentication Canceled");
      dev.pendingPair.reset();
      return sd_bus_reply_method_return(m, "");
    }
    // Quirk since 5.65: nothing pending => kernel Unpair, keys gone, DoesNotExist (§3.1).
    dev.paired = dev.bonded = false;
    setProperty(dev.path, kDevice, "Paired", false);
    setProperty(dev.path, kDevice, "Bonded", false);
    if (dev.connected) linkDown(dev);
    return replyError(m, "org.bluez.Error.DoesNotExist", "Does Not Exist");
  }
  return unknownMethod(m);
}

// ---------------------------------------------------------------- GATT

int BluezEmulator::handleCharacteristic(sd_bus_message* m, VirtualDevice& dev, VirtualCharacteristic& ch,
                                        const std::string& member) {
  const std::string sender = sd_bus_message_get_sender(m) ? sd_bus_message_get_sender(m) : "";
  Fault fault;
  auto hasFlag = [&](const char* f) { return std::find(ch.flags.begin(), ch.flags.end(), f) != ch.flags.end(); };
  // Gatt.cpp: Acquire*, per-attribute ATT errors, read merging, one write at a time (§4.2, §4.3).
  if (int r = gattPreflight(m, dev, ch, member); r != 0) return r;
  if (member == "ReadValue" && signatureIs(m, "a{sv}")) {
    std::map<std::string, std::pair<std::string, nlohmann::json>> options;
    readOptions(m, options);
    // offset must be q (src/gatt-client.c parse_options); §4.2.
    if (options.count("offset") && options["offset"].first != "q") return replyError(m, "org.bluez.Error.InvalidArguments", "Invalid arguments in method call");
    if (takeFault(dev.address, member, fault)) return replyError(m, fault.errorName, fault.message);
    if (!dev.connected) return replyError(m, "org.bluez.Error.Failed", "Not connected");
    if (!hasFlag("read")) return replyError(m, "org.bluez.Error.NotPermitted", "Read not permitted");
    std::size_t offset = options.count("offset") ? options["offset"].second.get<std::size_t>() : 0;
    if (offset > ch.readValue.size()) return replyError(m, "org.bluez.Error.InvalidArguments", "Invalid offset");
    Bytes value(ch.readValue.begin() + static_cast<long>(offset), ch.readValue.end());
    auto call = hold(m);
    auto epoch = dev.linkEpoch;
    VirtualCharacteristic* target = &ch;
    ch.readOffsetInFlight = static_cast<std::uint16_t>(offset);
    // Gatt.cpp finishRead: Value updated once, callers sharing the read all answered (§4.2).
    after(dev.responseDelayMs, [this, &dev, call, value, epoch, target] {
      finishRead(*target, call, value, dev.linkEpoch != epoch);
    });
    return 1;
  }
  if (member == "WriteValue" && signatureIs(m, "aya{sv}")) {
    Bytes value = readBytes(m);
    std::map<std::string, std::pair<std::string, nlohmann::json>> options;
    readOptions(m, options);
    if (options.count("offset") && options["offset"].first != "q") return replyError(m, "org.bluez.Error.InvalidArguments", "Invalid arguments in method call");
    std::string type;
    if (options.count("type")) {
      if (options["type"].first != "s") return replyError(m, "org.bluez.Error.InvalidArguments", "Invalid arguments in method call");
      type = options["type"].second.get<std::string>();
      if (type != "command" && type != "request" && type != "reliable") return replyError(m, "org.bluez.Error.InvalidArguments", "Invalid arguments in method call");
    }
    if (takeFault(dev.address, member, fault)) return replyError(m, fault.errorName, fault.message);
    if (!dev.connected) return replyError(m, "org.bluez.Error.Failed", "Not connected");
    if (type == "command" && options.count("offset")) return replyError(m, "org.bluez.Error.NotSupported", "Operation is not supported");
    // Implicit type from Flags; an explicit type is not checked against Flags (§4.2).
    if (type.empty() && !hasFlag("write") && !hasFlag("write-without-response") && !hasFlag("reliable-write")) {
      return replyError(m, "org.bluez.Error.NotSupported", "Operation is not supported");
    }
    dev.counters["WriteValue"]++;
    if (auto handled = profileWrite(m, dev, ch, value)) return *handled;
    if (ch.uuid == uuid128("2a52")) return racpWrite(m, dev, value);
    return finishWrite(m, dev, ch, type);  // Gatt.cpp: Write Request waits for the response (§4.2)
  }
  if (member == "StartNotify" && signatureIs(m, "")) {
    if (takeFault(dev.address, member, fault)) return replyError(m, fault.errorName, fault.message);
    if (!ch.hasCcc()) return replyError(m, "org.bluez.Error.NotSupported", "Operation is not supported");
    if (dev.disconnecting) return replyError(m, "org.bluez.Error.NotConnected", "Not Connected");
    if (ch.sessions.count(sender)) return sd_bus_reply_method_return(m, "");
    dev.counters["StartNotify"]++;
    ch.sessions.insert(sender);
    // Notifying=true is emitted just before the reply (§4.2).
    setProperty(ch.path, kCharacteristic, "Notifying", true);
    if (!dev.connected) {
      flushPropertyChanges();
      return sd_bus_reply_method_return(m, "");  // armed at next connection
    }
    auto call = hold(m);
    bool isBpm = ch.uuid == uuid128("2a35");
    std::string subscribed = ch.uuid;
    after(dev.responseDelayMs, [this, &dev, call, isBpm, subscribed] {
      flushPropertyChanges();
      sd_bus_reply_method_return(call.get(), "");
      profileSubscribed(dev, subscribed);
      // A cuff indicates its stored measurements once the BPM CCC is written (§3.2.1).
      if (isBpm && dev.resolved) {
        auto epoch = dev.linkEpoch;
        after(5, [this, &dev, epoch] { indicateStoredBloodPressure(dev, 0, epoch); });
      }
    });
    return 1;
  }
  if (member == "StopNotify" && signatureIs(m, "")) {
    if (!ch.sessions.erase(sender)) return replyError(m, "org.bluez.Error.Failed", "No notify session started");
    if (ch.sessions.empty()) setProperty(ch.path, kCharacteristic, "Notifying", false);
    return sd_bus_reply_method_return(m, "");
  }
  return unknownMethod(m);
}

int BluezEmulator::handleDescriptor(sd_bus_message* m, const std::string& member) {
  if (member == "WriteValue" && signatureIs(m, "aya{sv}")) {
    // Writing the CCC is refused; use StartNotify (§4.2).
    return replyError(m, "org.bluez.Error.NotPermitted", "Write not permitted");
  }
  if (member == "ReadValue" && signatureIs(m, "a{sv}")) {
    const std::string path = sd_bus_message_get_path(m);
    VirtualCharacteristic* ch = nullptr;
    VirtualDevice* dev = deviceByPath(path, &ch, nullptr);
    if (!dev || !ch) return unknownMethod(m);
    if (!dev->connected) return replyError(m, "org.bluez.Error.Failed", "Not connected");
    bool notify = std::find(ch->flags.begin(), ch->flags.end(), "notify") != ch->flags.end();
    std::uint8_t bits = ch->cccEnabled() ? (notify ? 0x01 : 0x02) : 0x00;  // CCC 0x0001 vs 0x0002 (§4.2)
    Bytes value{bits, 0x00};
    sd_bus_message* reply = nullptr;
    sd_bus_message_new_method_return(m, &reply);
    sd_bus_message_append_array(reply, 'y', value.data(), value.size());
    int r = sd_bus_send(bus_, reply, nullptr);
    sd_bus_message_unref(reply);
    return r < 0 ? r : 1;
  }
  return unknownMethod(m);
}

// The device transmits a notification or indication; it sends only while its
// CCC is enabled (a subscriber holds a session). bluetoothd confirms
// indications itself (§4.4).
void BluezEmulator::deviceSends(VirtualDevice& dev, const std::string& charUuid, const Bytes& value) {
  if (!dev.connected) return;
  for (auto& svc : dev.services) {
    for (auto& c : svc.characteristics) {
      if (c.uuid != uuid128(charUuid)) continue;
      if (sendAcquired(c, value)) {  // Gatt.cpp: AcquireNotify socket instead of Value (§4.2)
        dev.counters["Sent"]++;
        return;
      }
      if (!c.cccEnabled()) {
        dev.counters["DroppedUnsubscribed"]++;
        return;
      }
      dev.counters["Sent"]++;
      emitValue(c.path, value);
      return;
    }
  }
}

// Record Access Control Point, GLS 1.0 §3.1.4 of the shared reference.
int BluezEmulator::racpWrite(sd_bus_message* m, VirtualDevice& dev, const Bytes& value) {
  VirtualCharacteristic* racp = nullptr;
  for (auto& svc : dev.services) {
    for (auto& c : svc.characteristics) {
      if (c.uuid == uuid128("2a52")) racp = &c;
    }
  }
  // App errors travel as Failed "Operation failed with ATT error: 0xNN" (§4.3):
  // 0x81 CCCD improperly configured, 0x80 procedure already in progress (§1.2).
  if (!racp || !racp->cccEnabled()) return replyError(m, "org.bluez.Error.Failed", "Operation failed with ATT error: 0x81");
  std::uint8_t op = value.empty() ? 0 : value[0];
  if (dev.racpRunning && op != 0x03) return replyError(m, "org.bluez.Error.Failed", "Operation failed with ATT error: 0x80");
  dev.counters["RacpWrite"]++;
  int r = sd_bus_reply_method_return(m, "");
  auto epoch = dev.linkEpoch;
  auto respond = [this, &dev, epoch](Bytes frame) {
    after(2, [this, &dev, epoch, frame] {
      if (dev.linkEpoch == epoch) deviceSends(dev, "2a52", frame);
    });
  };
  if (value.size() < 2) {
    respond(racpResponse(op, 0x05));  // invalid operand
    return r;
  }
  std::uint8_t oper = value[1];
  if (op == 0x03) {
    dev.racpRunning = false;
    respond(racpResponse(0x03, 0x01));
    return r;
  }
  if (op != 0x01 && op != 0x04) {
    respond(racpResponse(op, 0x02));  // op code not supported (delete is not offered)
    return r;
  }
  if (oper == 0x00 || oper > 0x06) {
    respond(racpResponse(op, 0x03));  // invalid operator
    return r;
  }
  if (dev.unsupportedRacpOperators.count(oper)) {
    respond(racpResponse(op, 0x04));  // operator not supported
    return r;
  }
  std::vector<GlucoseRecord> selected;
  auto seqOperand = [&](std::size_t at, std::uint16_t& out) {
    if (value.size() < at + 2) return false;
    out = static_cast<std::uint16_t>(value[at] | (value[at + 1] << 8));
    return true;
  };
  std::uint16_t lo = 0, hi = 0xFFFF;
  bool operandOk = true;
  if (oper == 0x01 || oper == 0x05 || oper == 0x06) {
    operandOk = value.size() == 2;
  } else {
    if (value.size() < 3) {
      operandOk = false;
    } else if (value[2] == 0x02) {
      respond(racpResponse(op, 0x09));  // user-facing-time filter: operand not supported
      return r;
    } else if (value[2] != 0x01) {
      operandOk = false;
    } else if (oper == 0x02) {
      operandOk = seqOperand(3, hi) && value.size() == 5;
    } else if (oper == 0x03) {
      operandOk = seqOperand(3, lo) && value.size() == 5;
    } else {
      operandOk = seqOperand(3, lo) && seqOperand(5, hi) && value.size() == 7 && lo <= hi;
    }
  }
  if (!operandOk) {
    respond(racpResponse(op, 0x05));
    return r;
  }
  // Sequence numbers compare as plain u16: after a wrap or reset "≥ N" misses
  // the new low numbers, as on real meters (§3.1.4 step 10).
  for (const auto& rec : dev.glucoseRecords) {
    if (rec.sequence >= lo && rec.sequence <= hi) selected.push_back(rec);
  }
  if (!selected.empty() && (oper == 0x05 || oper == 0x06)) {
    auto cmp = [](const GlucoseRecord& a, const GlucoseRecord& b) { return a.sequence < b.sequence; };
    auto it = oper == 0x05 ? std::min_element(selected.begin(), selected.end(), cmp)
                           : std::max_element(selected.begin(), selected.end(), cmp);
    selected = {*it};
  }
  if (op == 0x04) {
    respond(racpNumberOfRecords(static_cast<std::uint16_t>(selected.size())));
    return r;
  }
  if (selected.empty()) {
    respond(racpResponse(0x01, 0x06));  // no records found
    return r;
  }
  if (dev.reportOrder == "ascending" || dev.reportOrder == "descending") {
    std::sort(selected.begin(), selected.end(),
              [](const GlucoseRecord& a, const GlucoseRecord& b) { return a.sequence < b.sequence; });
    if (dev.reportOrder == "descending") std::reverse(selected.begin(), selected.end());
  } else if (dev.reportOrder == "interleaved") {
    std::vector<GlucoseRecord> odd, even;
    for (std::size_t i = 0; i < selected.size(); ++i) (i % 2 ? odd : even).push_back(selected[i]);
    selected = odd;
    selected.insert(selected.end(), even.begin(), even.end());
  }
  dev.racpRunning = true;
  after(2, [this, &dev, selected, epoch] { runRacpReport(dev, selected, 0, epoch); });
  return r;
}

void BluezEmulator::runRacpReport(VirtualDevice& dev, std::vector<GlucoseRecord> records, std::size_t index,
                                  std::uint64_t epoch) {
  if (dev.linkEpoch != epoch || !dev.racpRunning) return;
  if (faultAfterRecord(dev, index)) return;  // Faults.cpp: bluetoothd/adapter fault mid-download
  if (dev.disconnectAfterRecords >= 0 && index == static_cast<std::size_t>(dev.disconnectAfterRecords)) {
    dev.disconnectAfterRecords = -1;
    linkDown(dev);  // link loss mid-download
    return;
  }
  if (index >= records.size()) {
    dev.racpRunning = false;
    deviceSends(dev, "2a52", racpResponse(0x01, 0x01));
    return;
  }
  // One record per notification, its context right after (§3.1.1-3.1.2).
  deviceSends(dev, "2a18", encodeGlucoseMeasurement(records[index]));
  if (records[index].contextMeal) deviceSends(dev, "2a34", encodeGlucoseContext(records[index]));
  after(2, [this, &dev, records, index, epoch] { runRacpReport(dev, records, index + 1, epoch); });
}

void BluezEmulator::indicateStoredBloodPressure(VirtualDevice& dev, std::size_t index, std::uint64_t epoch) {
  if (dev.linkEpoch != epoch || !dev.connected) return;
  if (index < dev.bpRecords.size()) {
    deviceSends(dev, "2a35", encodeBloodPressure(dev.bpRecords[index]));
    after(5, [this, &dev, index, epoch] { indicateStoredBloodPressure(dev, index + 1, epoch); });
    return;
  }
  if (dev.disconnectAfterIndications) {
    // The cuff drops the link itself once its stored readings are sent.
    after(20, [this, &dev, epoch] {
      if (dev.linkEpoch == epoch) linkDown(dev);
    });
  }
}

// ---------------------------------------------------------------- control

int BluezEmulator::handleControl(sd_bus_message* m, const std::string& member) {
  if (int r = handleFaultControl(m, member); r != 0) return r;  // Faults.cpp
  auto needDevice = [&](const std::string& address) -> VirtualDevice* { return deviceByAddress(address); };
  auto noDevice = [&] { return replyError(m, "org.rpmgateway.Emulator.Error.NoSuchDevice", "no such virtual device"); };
  if (int r = handleDiscoveryControl(m, member); r != 0) return r;  // Discovery.cpp
  if (int r = handleGattControl(m, member); r != 0) return r;       // Gatt.cpp
  if (member == "SetAdvertising" && signatureIs(m, "sb")) {
    const char* a = nullptr;
    int on = 0;
    sd_bus_message_read(m, "sb", &a, &on);
    auto* dev = needDevice(a);
    if (!dev) return noDevice();
    dev->advertising = on != 0;
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "InjectError" && signatureIs(m, "ssssu")) {
    const char *target = nullptr, *method = nullptr, *name = nullptr, *text = nullptr;
    std::uint32_t count = 0;
    sd_bus_message_read(m, "ssssu", &target, &method, &name, &text, &count);
    for (std::uint32_t i = 0; i < count; ++i) faults_[std::string(target) + "/" + method].push_back(Fault{name, text});
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "SetResponseDelay" && signatureIs(m, "su")) {
    const char* a = nullptr;
    std::uint32_t ms = 0;
    sd_bus_message_read(m, "su", &a, &ms);
    auto* dev = needDevice(a);
    if (!dev) return noDevice();
    dev->responseDelayMs = ms;
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "SetDisconnectAfterRecords" && signatureIs(m, "si")) {
    const char* a = nullptr;
    std::int32_t n = 0;
    sd_bus_message_read(m, "si", &a, &n);
    auto* dev = needDevice(a);
    if (!dev) return noDevice();
    dev->disconnectAfterRecords = n;
    return sd_bus_reply_method_return(m, "");
  }
  if ((member == "SendValue" || member == "SetReadValue") && signatureIs(m, "ssay")) {
    std::string a = readString(m), uuid = readString(m);
    Bytes value = readBytes(m);
    auto* dev = needDevice(a);
    if (!dev) return noDevice();
    if (member == "SendValue") {
      deviceSends(*dev, uuid, value);
    } else {
      for (auto& svc : dev->services) {
        for (auto& c : svc.characteristics) {
          if (c.uuid == uuid128(uuid)) c.readValue = value;
        }
      }
    }
    return sd_bus_reply_method_return(m, "");
  }
  if ((member == "SetGlucoseRecords" || member == "AddGlucoseRecords") && signatureIs(m, "ss")) {
    std::string a = readString(m), text = readString(m);
    auto* dev = needDevice(a);
    if (!dev) return noDevice();
    try {
      nlohmann::json s = {{"devices", {{{"address", a}, {"kind", "glucose_meter"}, {"glucose", {{"records", nlohmann::json::parse(text)}}}}}}};
      BluezEmulator scratch(nullptr, s);
      auto& recs = scratch.devices_.begin()->second->glucoseRecords;
      if (member == "SetGlucoseRecords") dev->glucoseRecords.clear();
      dev->glucoseRecords.insert(dev->glucoseRecords.end(), recs.begin(), recs.end());
    } catch (const std::exception& e) {
      return replyError(m, "org.rpmgateway.Emulator.Error.BadScenario", e.what());
    }
    // A meter advertises only after a new measurement (presence comes and goes).
    if (member == "AddGlucoseRecords") dev->advertising = true;
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "DropLink" && signatureIs(m, "s")) {
    auto* dev = needDevice(readString(m));
    if (!dev) return noDevice();
    if (dev->connected) linkDown(*dev);
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "GetCounters" && signatureIs(m, "s")) {
    auto* dev = needDevice(readString(m));
    if (!dev) return noDevice();
    sd_bus_message* reply = nullptr;
    sd_bus_message_new_method_return(m, &reply);
    sd_bus_message_open_container(reply, 'a', "{su}");
    for (const auto& [name, count] : dev->counters) sd_bus_message_append(reply, "{su}", name.c_str(), count);
    sd_bus_message_close_container(reply);
    int r = sd_bus_send(bus_, reply, nullptr);
    sd_bus_message_unref(reply);
    return r < 0 ? r : 1;
  }
  if (auto handled = handleProfileControl(m, member)) return *handled;
  if (member == "GetAgents" && signatureIs(m, "")) {
    sd_bus_message* reply = nullptr;
    sd_bus_message_new_method_return(m, &reply);
    sd_bus_message_open_container(reply, 'a', "(ssb)");
    for (const auto& [sender, agent] : agents_) {
      sd_bus_message_append(reply, "(ssb)", agent.path.c_str(), agent.capability.c_str(), sender == defaultAgentSender_ ? 1 : 0);
    }
    sd_bus_message_close_container(reply);
    int r = sd_bus_send(bus_, reply, nullptr);
    sd_bus_message_unref(reply);
    return r < 0 ? r : 1;
  }
  if (int r = handlePairingControl(m, member); r != 0) return r;
  return unknownMethod(m);
}

}  // namespace rpm::emulator
