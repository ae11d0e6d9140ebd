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
  bool cccEnabled() const { return !sessions.empty() || notifyFd >= 0; }
  // Gatt.cpp: injected ATT errors per method (§4.3, §9 item 18), reads and
  // writes in flight (§4.2, item 17), acquired sockets (item 22).
  std::map<std::string, std::deque<std::uint8_t>> attErrors;
  std::optional<std::uint16_t> readOffsetInFlight;
  std::vector<CallRef> mergedReads;
  bool writeInFlight = false;
  int notifyFd = -1, writeFd = -1;  // our end of the AcquireNotify / AcquireWrite socketpair
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

// How a device pairs (scenario "pairing"; Agents.cpp). The SMP association
// model follows from both IO capabilities (Core v5.3 Vol 3 Part H 2.3.5.1).
struct PairingKnobs {
  std::string io = "NoInputNoOutput";  // the device's SMP IO capability
  std::uint32_t passkey = 0;           // what a displaying device shows / a keyboard device types
  bool mitm = false;                   // the device refuses an unauthenticated (Just Works) pairing
  // "": pairs normally; "rejects_pairing": SMP Pairing Failed "Pairing Not
  // Supported" (already bonded to another host); "ignores_connections": only
  // accepts its bonded host, so our connection attempt times out.
  std::string bondedElsewhere;
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
  PairingKnobs pairing;
  std::uint64_t pairingEpoch = 0;  // bumped per Pair(); stale agent replies compare it

  // Profile state.
  std::vector<GlucoseRecord> glucoseRecords;
  std::set<std::uint8_t> unsupportedRacpOperators;
  std::string reportOrder = "ascending";
  bool racpRunning = false;
  int disconnectAfterRecords = -1;
  std::vector<BloodPressureRecord> bpRecords;
  bool disconnectAfterIndications = true;
  ProfileDeviceState profile;  // heart rate, PLX, thermometer, scale, Current Time (ProfileDevices.cpp)

  // Discovery.cpp (§2.3, §3.5, §3.6): advertising data and reporting state.
  bool connectable = true;                    // scenario "connectable": false = ADV_NONCONN_IND
  bool brEdrNotSupported = true;              // AD Flags bit 0x04; false + public = dual-mode guess (§3.1)
  std::optional<std::int16_t> txPower;
  ManufacturerDataValue manufacturerData;
  ServiceDataValue serviceData;
  std::optional<std::int16_t> reportedRssi;   // last RSSI signalled: the 8 dBm hysteresis reference
  bool advertDataReported = false;            // ManufacturerData/ServiceData signalled since the last change
  std::string identityAddress, identityAddressType = "public";  // revealed by bonding (RPA devices)
  // Gatt.cpp: services left out of the next GATT export (incomplete discovery, §3.3).
  std::set<std::string> hiddenServices;

  // Knobs.
  std::uint32_t responseDelayMs = 0;
  std::map<std::string, std::uint32_t> counters;
};

// SIGTERM asks the loop to stop so registered agents get Release (§5.2).
void requestShutdown();
bool shutdownRequested();

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

  // Discovery.cpp: device creation and reporting rules during discovery (§2.3),
  // temporary-device lifecycle (§3.5), RPA identity (§3.6), dual-mode guess (§3.1).
  void loadDiscoveryScenario(const nlohmann::json& device, VirtualDevice& dev);
  void reportAdvert(VirtualDevice& dev, bool anyFilter, bool duplicateData);
  void discoveryRunEnded(const std::set<std::string>& seen);
  void revealIdentity(VirtualDevice& dev);
  std::uint32_t dualModeConnectDelay(const VirtualDevice& dev) const;
  int handleDiscoveryControl(sd_bus_message* m, const std::string& member);
  // Gatt.cpp: Read/Write rules (§4.2), ATT error mapping (§4.3), cache modes
  // (§4.4), incomplete tree and Service Changed (§3.3), AcquireNotify/AcquireWrite (§4.2).
  void loadGattScenario(const nlohmann::json& scenario);
  int gattPreflight(sd_bus_message* m, VirtualDevice& dev, VirtualCharacteristic& ch, const std::string& member);
  void finishRead(VirtualCharacteristic& ch, const CallRef& call, const Bytes& value, bool linkLost);
  int finishWrite(sd_bus_message* m, VirtualDevice& dev, VirtualCharacteristic& ch, const std::string& type);
  bool sendAcquired(VirtualCharacteristic& ch, const Bytes& value);
  void releaseAcquired(VirtualCharacteristic& ch, bool notify);
  void pollAcquired();
  void gattLinkDown(VirtualDevice& dev);
  void serviceChanged(VirtualDevice& dev, const std::string& serviceUuid);
  int handleGattControl(sd_bus_message* m, const std::string& member);
  // Faults (Faults.cpp): bluetoothd restarting, adapter power loss and
  // removal, a scanner that stops reporting, and those faults mid-download.
  int handleFaultControl(sd_bus_message* m, const std::string& member);  // 0: not a fault method
  int attachToBus();
  void restartDaemon(std::uint32_t downMs);
  void comeBackAfterRestart();
  void forgetRuntimeState();
  void setAdapterPresent(bool present);
  void announceAdapter();
  void saveAdapterInterfaces();
  void runFault(const std::string& fault, std::uint32_t ms);
  bool scannerReporting() const { return !scannerSilent_; }
  void onDiscoveryRunEnded();
  int refusePowerOn(sd_bus_message* m, bool on);  // non-zero: replied with an error
  bool faultAfterRecord(VirtualDevice& dev, std::size_t index);
  // Pairing and agents (Agents.cpp, §5).
  void loadPairingKnobs(VirtualDevice& dev, const nlohmann::json& device);
  // Runs the SMP exchange of a pending Pair() once the link is up and
  // services are resolved: agent calls as the association model requires,
  // then success (Paired, Bonded when bondable) or the failure bluetoothd reports.
  void runPairing(VirtualDevice& dev);
  void finishPairing(VirtualDevice& dev, const std::string& errorName, const std::string& message);
  void callAgent(VirtualDevice& dev, const std::string& method, std::function<void(sd_bus_message*)> appendArgs,
                 std::function<void(sd_bus_message* reply, bool ok)> onReply);
  void cancelAgentRequest();
  int handlePairingControl(sd_bus_message* m, const std::string& member);  // 0 when not a pairing member
  // Agent1.Release to every registered agent: bluetoothd does this only at shutdown (§5.2).
  void releaseAgentsAtShutdown();
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
  std::uint32_t brEdrPageMs_ = 5000;          // dual-mode guess: BR/EDR page before LE (§3.1)
  std::string cacheMode_ = "always";          // main.conf [GATT] Cache: always | yes | no (§4.4)

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
  std::uint32_t agentTimeoutMs_ = 60000;  // bluetoothd's agent request timeout (§5.2)
  struct AgentCall {
    std::string method, address, argument;  // argument: passkey / UUID shown to the agent, if any
    std::string outcome;                     // "ok", the error name, or "" while pending
  };
  std::vector<AgentCall> agentCalls_;  // what the agents were asked, for tests (GetAgentCalls)
  std::string pendingAgentSender_, pendingAgentPath_;
  bool agentRequestPending_ = false;
  std::map<std::string, std::deque<Fault>> faults_;
  std::multimap<SteadyTime, std::function<void()>> timers_;
  sd_bus_slot* fallbackSlot_ = nullptr;
  sd_bus_slot* nameOwnerSlot_ = nullptr;

  // Fault state (Faults.cpp).
  struct BusCloser {
    void operator()(sd_bus* b) const { sd_bus_flush_close_unref(b); }
  };
  std::unique_ptr<sd_bus, BusCloser> ownedBus_;  // the connection after a restart; main() owns the first
  bool adapterPresent_ = true;
  bool powerBlocked_ = false;   // rfkill: Set(Powered, true) answers Blocked
  bool scannerSilent_ = false;  // Discovering stays true, nothing is reported
  std::string silenceClearedBy_;
  struct PlannedFault {
    std::int32_t records = -1;
    std::string fault;
    std::uint32_t ms = 0;
  };
  std::map<std::string, PlannedFault> faultAfterRecords_;  // by device address
  std::map<std::string, PropertyMap> savedAdapterIfaces_, savedBluezIfaces_;
  std::map<std::string, std::uint32_t> faultCounters_;
};

}  // namespace rpm::emulator
