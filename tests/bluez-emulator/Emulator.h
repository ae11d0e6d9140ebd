// BluezEmulator: plays bluetoothd 5.66 at the D-Bus level for tests, with
// scripted virtual health devices and faults on demand.
//
// Written on sd-bus (the C library under sdbus-c++ 1.2) with one fallback
// handler on "/": sd-bus refuses vtables on org.freedesktop.DBus.Properties
// and ObjectManager, and its built-in implementations cannot leave optional
// properties absent, send an invalidated list, or answer Get with BlueZ's
// errors (bluez-dbus-api.md §1, §9 items 5-7). docs/bluez-emulator.md lists
// what is modelled and what is not.
#pragma once

#include <systemd/sd-bus.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "BusValue.h"
#include "GattEncoders.h"
#include "ProfileDevices.h"

namespace rpm::emulator {

using SteadyTime = std::chrono::steady_clock::time_point;
using CallRef = std::shared_ptr<sd_bus_message>;  // a method call whose reply is deferred

struct VirtualCharacteristic {
  std::string uuid;
  std::uint16_t handle = 0;  // declaration handle; value = handle+1, CCC = handle+2
  std::vector<std::string> flags;
  Bytes readValue;
  std::set<std::string> sessions;  // StartNotify senders (§4.2: per sender)
  std::string path;
  bool hasCcc() const;
  bool cccEnabled() const { return !sessions.empty(); }
};

struct VirtualService {
  std::string uuid;
  std::uint16_t handle = 0;
  bool exported = true;  // false for services claimed by bluetoothd plugins (§3.3 step 5)
  std::string path;
  std::vector<VirtualCharacteristic> characteristics;
};

struct Fault {
  std::string errorName;
  std::string message;
};

struct VirtualDevice {
  std::string address, addressType = "public", name, kind;
  std::int16_t rssi = -60;
  std::vector<std::string> advertisedUuids;
  bool advertising = false;
  bool discoverableFlags = true;
  bool paired = false, bonded = false, trusted = false;
  std::uint8_t battery = 90;
  DateTimeFields deviceTime;
  // Device Information strings by characteristic ("2a25": serial, ...) and
  // "2a23" (System ID) as 16 hex digits; scenario "device_information".
  std::map<std::string, std::string> deviceInformation;

  // D-Bus side state.
  std::string path;
  bool exported = false, gattExported = false, batteryExported = false;
  bool connected = false, resolved = false, connecting = false, disconnecting = false;
  bool temporary = true;
  SteadyTime lastSeen{};
  std::uint64_t linkEpoch = 0;  // bumped on every link change; stale timers compare it
  std::vector<VirtualService> services;
  std::vector<CallRef> pendingDisconnects;
  CallRef pendingConnect;
  CallRef pendingPair;

  // Profile state.
  std::vector<GlucoseRecord> glucoseRecords;
  std::set<std::uint8_t> unsupportedRacpOperators;
  std::string reportOrder = "ascending";
  bool racpRunning = false;
  int disconnectAfterRecords = -1;
  std::vector<BloodPressureRecord> bpRecords;
  bool disconnectAfterIndications = true;
  ProfileDeviceState profile;  // heart rate, PLX, thermometer, scale, Current Time (ProfileDevices.cpp)

  // Knobs.
  std::uint32_t responseDelayMs = 0;
  std::map<std::string, std::uint32_t> counters;
};

class BluezEmulator {
 public:
  BluezEmulator(sd_bus* bus, const nlohmann::json& scenario);
  ~BluezEmulator();
  // Registers the objects, then owns org.bluez. Returns a negative errno on failure.
  int start();
  // Runs until the bus is lost or SIGTERM; returns the process exit code.
  int run();

 private:
  // Object tree (§1).
  void addInterfaces(const std::string& path, const std::map<std::string, PropertyMap>& ifaces);
  void removeInterfaces(const std::string& path, const std::vector<std::string>& ifaces);
  void removeSubtree(const std::string& path);
  void setProperty(const std::string& path, const std::string& iface, const std::string& name, BusValue value);
  void invalidateProperty(const std::string& path, const std::string& iface, const std::string& name);
  void flushPropertyChanges();
  void emitValue(const std::string& charPath, const Bytes& value);
  bool hasObject(const std::string& path) const { return objects_.count(path) != 0; }

  // Dispatch.
  static int onMessage(sd_bus_message* m, void* userdata, sd_bus_error* error);
  static int onNameOwnerChanged(sd_bus_message* m, void* userdata, sd_bus_error* error);
  int dispatch(sd_bus_message* m);
  int handleObjectManager(sd_bus_message* m, const std::string& member);
  int handleProperties(sd_bus_message* m, const std::string& path, const std::string& member);
  int handleIntrospect(sd_bus_message* m, const std::string& path);
  int handleAdapter(sd_bus_message* m, const std::string& member);
  int handleAgentManager(sd_bus_message* m, const std::string& member);
  int handleDevice(sd_bus_message* m, VirtualDevice& dev, const std::string& member);
  int handleCharacteristic(sd_bus_message* m, VirtualDevice& dev, VirtualCharacteristic& ch, const std::string& member);
  int handleDescriptor(sd_bus_message* m, const std::string& member);
  int handleControl(sd_bus_message* m, const std::string& member);
  int setProperty(sd_bus_message* m, const std::string& path, const std::string& iface, const std::string& name);

  // Behaviour.
  void loadScenario(const nlohmann::json& scenario);
  void buildGatt(VirtualDevice& dev);
  void exportDevice(VirtualDevice& dev);
  void exportGatt(VirtualDevice& dev);
  void advertisingTick();
  void endDiscoveryRun();
  void linkUp(VirtualDevice& dev);
  void linkDown(VirtualDevice& dev);
  void afterServicesResolved(VirtualDevice& dev);
  void deviceSends(VirtualDevice& dev, const std::string& charUuid, const Bytes& value);
  int racpWrite(sd_bus_message* m, VirtualDevice& dev, const Bytes& value);
  void runRacpReport(VirtualDevice& dev, std::vector<GlucoseRecord> records, std::size_t index, std::uint64_t epoch);
  void indicateStoredBloodPressure(VirtualDevice& dev, std::size_t index, std::uint64_t epoch);
  void senderGone(const std::string& sender);
  void setPowered(bool on);
  bool takeFault(const std::string& target, const std::string& member, Fault& out);
  VirtualDevice* deviceByPath(const std::string& path, VirtualCharacteristic** ch, bool* isDescriptor);
  VirtualDevice* deviceByAddress(const std::string& address);
  void after(std::uint32_t ms, std::function<void()> action);
  std::map<std::string, PropertyMap> deviceInterfaces(const VirtualDevice& dev) const;

  // Heart rate, pulse oximeter, thermometer, weight scale, Current Time (ProfileDevices.cpp).
  using AddServiceFn = std::function<VirtualService&(const std::string& uuid, bool exported)>;
  using AddCharFn = std::function<void(VirtualService&, const std::string& uuid, std::vector<std::string> flags, Bytes)>;
  void loadProfileDevice(VirtualDevice& dev, const nlohmann::json& d);
  void buildProfileGatt(VirtualDevice& dev, const AddServiceFn& addService, const AddCharFn& addChar);
  void profileSubscribed(VirtualDevice& dev, const std::string& charUuid);
  void profileLinkResumed(VirtualDevice& dev);
  void streamTick(VirtualDevice& dev, const std::string& charUuid, std::uint64_t epoch);
  void indicateProfileRecords(VirtualDevice& dev, const std::string& charUuid, std::size_t index, std::uint64_t epoch);
  std::optional<int> profileWrite(sd_bus_message* m, VirtualDevice& dev, VirtualCharacteristic& ch, const Bytes& value);
  std::optional<int> handleProfileControl(sd_bus_message* m, const std::string& member);

  sd_bus* bus_;
  std::string adapterPath_ = "/org/bluez/hci0";
  std::string adapterAddress_ = "00:AA:01:00:00:01";
  bool powered_ = true;
  bool experimental_ = false;
  std::string plantedBug_;  // scenario "plant_bug_for_test"; empty in every real scenario
  std::uint32_t disconnectDelayMs_ = 2000;     // src/device.c: fixed 2 s disconnect timer
  std::uint32_t temporaryTimeoutMs_ = 30000;   // main.conf TemporaryTimeout
  std::uint32_t advertisingIntervalMs_ = 50;
  std::uint32_t connectDelayMs_ = 5;
  std::uint32_t discoveryDelayMs_ = 5;

  std::map<std::string, std::map<std::string, PropertyMap>> objects_;
  struct PendingChange {
    std::set<std::string> changed, invalidated;
  };
  std::map<std::pair<std::string, std::string>, PendingChange> pendingChanges_;

  std::map<std::string, std::unique_ptr<VirtualDevice>> devices_;  // by address
  std::map<std::string, nlohmann::json> discoveryFilters_;         // per sender (§2.1)
  std::set<std::string> discoverySessions_;
  std::set<std::string> seenThisRun_;
  struct Agent {
    std::string path, capability;
  };
  std::map<std::string, Agent> agents_;  // per sender (§5.1)
  std::string defaultAgentSender_;
  std::map<std::string, std::deque<Fault>> faults_;
  std::multimap<SteadyTime, std::function<void()>> timers_;
  sd_bus_slot* fallbackSlot_ = nullptr;
  sd_bus_slot* nameOwnerSlot_ = nullptr;
};

}  // namespace rpm::emulator
