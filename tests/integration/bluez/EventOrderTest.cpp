// §3.3 connect order and §1 InterfacesAdded/Removed ordering, observed by a
// plain listener on the bus; with a planted emulator bug the check must fail.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>

#include <sdbus-c++/sdbus-c++.h>

#include "BusFixture.h"

using namespace std::chrono_literals;

namespace {

const std::string kMeter = "C0:11:22:33:44:01";
const std::string kMeterPath = "/org/bluez/hci0/dev_C0_11_22_33_44_01";

// Records org.bluez signals as "Added <path>", "Removed <path>", "<path> <Prop>=<bool>" / "<path> UUIDs".
class Listener {
 public:
  Listener() : connection_(sdbus::createSystemBusConnection()) {
    connection_->addMatch("type='signal',sender='org.bluez'", [this](sdbus::Message& m) { record(m); }, sdbus::floating_slot);
    connection_->enterEventLoopAsync();
  }
  ~Listener() { connection_->leaveEventLoop(); }

  std::vector<std::string> events() {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_;
  }
  bool waitFor(const std::string& event, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return std::find(events_.begin(), events_.end(), event) != events_.end(); });
  }

 private:
  void record(sdbus::Message& m) {
    std::vector<std::string> out;
    if (m.getMemberName() == "InterfacesAdded") {
      sdbus::ObjectPath path;
      std::map<std::string, std::map<std::string, sdbus::Variant>> ifaces;
      m >> path >> ifaces;
      out.push_back("Added " + std::string(path));
    } else if (m.getMemberName() == "InterfacesRemoved") {
      sdbus::ObjectPath path;
      std::vector<std::string> ifaces;
      m >> path >> ifaces;
      out.push_back("Removed " + std::string(path));
    } else if (m.getMemberName() == "PropertiesChanged") {
      std::string iface;
      std::map<std::string, sdbus::Variant> changed;
      std::vector<std::string> invalidated;
      m >> iface >> changed >> invalidated;
      for (const auto& [name, value] : changed) {
        if (value.containsValueOfType<bool>()) {
          out.push_back(m.getPath() + " " + name + "=" + (value.get<bool>() ? "true" : "false"));
        } else if (name == "UUIDs") {
          out.push_back(m.getPath() + " UUIDs");
        }
      }
    }
    std::lock_guard<std::mutex> lock(mutex_);
    events_.insert(events_.end(), out.begin(), out.end());
    cv_.notify_all();
  }

  std::unique_ptr<sdbus::IConnection> connection_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> events_;
};

std::size_t indexOf(const std::vector<std::string>& events, const std::string& e) {
  return static_cast<std::size_t>(std::find(events.begin(), events.end(), e) - events.begin());
}

// Violations of bluez-dbus-api.md §3.3 for a first connection of `device`.
std::vector<std::string> connectOrderViolations(const std::vector<std::string>& events, const std::string& device) {
  std::vector<std::string> problems;
  auto connected = indexOf(events, device + " Connected=true");
  auto uuids = indexOf(events, device + " UUIDs");
  auto resolved = indexOf(events, device + " ServicesResolved=true");
  if (connected >= events.size()) problems.push_back("no Connected=true");
  if (resolved >= events.size()) problems.push_back("no ServicesResolved=true");
  if (uuids > resolved) problems.push_back("UUIDs after ServicesResolved");
  if (connected > resolved) problems.push_back("ServicesResolved before Connected");
  std::vector<std::string> added;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    if (e.rfind("Added " + device + "/", 0) != 0) continue;
    std::string path = e.substr(6);
    if (i > resolved) problems.push_back("GATT object added after ServicesResolved: " + path);
    std::string parent = path.substr(0, path.rfind('/'));
    if (parent != device && std::find(added.begin(), added.end(), parent) == added.end()) {
      problems.push_back("child before parent: " + path);
    }
    added.push_back(path);
  }
  if (added.empty()) problems.push_back("no GATT objects added");
  return problems;
}

nlohmann::json meterScenario(const std::string& plantedBug = "") {
  nlohmann::json s = {{"timing", {{"disconnect_delay_ms", 30}}},
                      {"devices", {{{"address", kMeter}, {"kind", "glucose_meter"}, {"paired", true}}}}};
  if (!plantedBug.empty()) s["plant_bug_for_test"] = plantedBug;
  return s;
}

void connectAndRemove(Listener& listener) {
  auto connection = sdbus::createSystemBusConnection();
  auto device = sdbus::createProxy(*connection, "org.bluez", kMeterPath);
  device->callMethod("Connect").onInterface("org.bluez.Device1");
  REQUIRE(listener.waitFor(kMeterPath + " ServicesResolved=true"));
  auto adapter = sdbus::createProxy(*connection, "org.bluez", "/org/bluez/hci0");
  adapter->callMethod("RemoveDevice").onInterface("org.bluez.Adapter1").withArguments(sdbus::ObjectPath(kMeterPath));
  REQUIRE(listener.waitFor("Removed " + kMeterPath));
}

}  // namespace

TEST_CASE("The emulator's first connection follows Connected, UUIDs, parent-first tree, ServicesResolved", "[integration]") {
  rpm::test::PrivateBus bus;
  rpm::test::Emulator emulator(bus, meterScenario());
  Listener listener;
  connectAndRemove(listener);
  auto events = listener.events();
  CHECK(connectOrderViolations(events, kMeterPath).empty());
  // RemoveDevice of a connected device: disconnect first, then children before parents (§1, §2.1).
  std::vector<std::string> removed;
  for (const auto& e : events) {
    if (e.rfind("Removed ", 0) == 0) removed.push_back(e.substr(8));
  }
  REQUIRE_FALSE(removed.empty());
  CHECK(removed.back() == kMeterPath);
  for (std::size_t i = 0; i < removed.size(); ++i) {
    for (std::size_t j = i + 1; j < removed.size(); ++j) {
      bool childAfterParent = removed[j].rfind(removed[i] + "/", 0) == 0;
      CHECK_FALSE(childAfterParent);
    }
  }
  CHECK(indexOf(events, kMeterPath + " ServicesResolved=false") < indexOf(events, kMeterPath + " Connected=false"));
}

TEST_CASE("The order check catches an emulator that resolves services before exporting them", "[integration]") {
  rpm::test::PrivateBus bus;
  rpm::test::Emulator emulator(bus, meterScenario("resolved_before_tree"));
  Listener listener;
  connectAndRemove(listener);
  auto problems = connectOrderViolations(listener.events(), kMeterPath);
  REQUIRE_FALSE(problems.empty());
  CHECK(problems.front().rfind("GATT object added after ServicesResolved", 0) == 0);
}

TEST_CASE("Unknown methods, wrong signatures and absent optional properties answer like bluetoothd", "[integration]") {
  rpm::test::PrivateBus bus;
  rpm::test::Emulator emulator(bus, meterScenario());
  auto connection = sdbus::createSystemBusConnection();
  auto device = sdbus::createProxy(*connection, "org.bluez", kMeterPath);
  auto errorOf = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const sdbus::Error& e) {
      return e.getName();
    }
    return "";
  };
  // RSSI is absent outside discovery: Get -> InvalidArgs (§9 item 5).
  CHECK(errorOf([&] { device->getProperty("RSSI").onInterface("org.bluez.Device1"); }) ==
        "org.freedesktop.DBus.Error.InvalidArgs");
  CHECK(errorOf([&] { device->setProperty("Paired").onInterface("org.bluez.Device1").toValue(true); }) ==
        "org.freedesktop.DBus.Error.PropertyReadOnly");
  CHECK(errorOf([&] { device->setProperty("Trusted").onInterface("org.bluez.Device1").toValue(std::string("yes")); }) ==
        "org.freedesktop.DBus.Error.InvalidSignature");
  CHECK(errorOf([&] { device->callMethod("Connect").onInterface("org.bluez.Device1").withArguments(1u); }) ==
        "org.freedesktop.DBus.Error.UnknownMethod");
  auto adapter = sdbus::createProxy(*connection, "org.bluez", "/org/bluez/hci0");
  std::map<std::string, sdbus::Variant> badFilter{{"RSSI", sdbus::Variant(std::int32_t{-60})}};
  CHECK(errorOf([&] { adapter->callMethod("SetDiscoveryFilter").onInterface("org.bluez.Adapter1").withArguments(badFilter); }) ==
        "org.bluez.Error.InvalidArguments");
  CHECK(errorOf([&] { adapter->callMethod("StopDiscovery").onInterface("org.bluez.Adapter1"); }) == "org.bluez.Error.Failed");
  // Unpowered adapter: discovery is NotReady (§2.1).
  adapter->setProperty("Powered").onInterface("org.bluez.Adapter1").toValue(false);
  CHECK(errorOf([&] { adapter->callMethod("StartDiscovery").onInterface("org.bluez.Adapter1"); }) == "org.bluez.Error.NotReady");
  // Agents: default agent makes the adapter pairable (§5.3).
  auto agents = sdbus::createProxy(*connection, "org.bluez", "/org/bluez");
  agents->callMethod("RegisterAgent").onInterface("org.bluez.AgentManager1").withArguments(sdbus::ObjectPath("/rpm/agent"), std::string("NoInputNoOutput"));
  CHECK(errorOf([&] { agents->callMethod("RegisterAgent").onInterface("org.bluez.AgentManager1").withArguments(sdbus::ObjectPath("/rpm/agent"), std::string("NoInputNoOutput")); }) ==
        "org.bluez.Error.AlreadyExists");
  agents->callMethod("RequestDefaultAgent").onInterface("org.bluez.AgentManager1").withArguments(sdbus::ObjectPath("/rpm/agent"));
  CHECK(adapter->getProperty("Pairable").onInterface("org.bluez.Adapter1").get<bool>());
}
