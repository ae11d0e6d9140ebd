// The emulator against bluez-dbus-api.md §9 items 10, 11, 13, 15, 17, 18, 22,
// 27 and 29, observed with plain sdbus-c++ calls and a signal listener on the
// private bus (no gateway code involved), in the style of EventOrderTest.cpp.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include <sdbus-c++/sdbus-c++.h>

#include "BusFixture.h"

using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;
using Options = std::map<std::string, sdbus::Variant>;

namespace {

constexpr const char* kAdapterIface = "org.bluez.Adapter1";
constexpr const char* kDeviceIface = "org.bluez.Device1";
constexpr const char* kCharIface = "org.bluez.GattCharacteristic1";
constexpr const char* kControl = "org.rpmgateway.Emulator1";
const std::string kAdapter = "/org/bluez/hci0";

std::string pathOf(std::string address) {
  for (auto& c : address) c = c == ':' ? '_' : c;
  return kAdapter + "/dev_" + address;
}

std::string uuid16(const std::string& shortUuid) { return "0000" + shortUuid + "-0000-1000-8000-00805f9b34fb"; }

// One signal as text: "Added <path>", "Removed <path>", "<path> <Prop>=<value>",
// "<path> -<Prop>" (invalidated). Signals are processed on the thread that
// asks (no event-loop thread): sdbus-c++ 1.2 builds every Variant on one
// shared pseudo-connection, so Variants made on two threads race (TSan).
class Signals {
 public:
  Signals() : connection_(sdbus::createSystemBusConnection()) {
    connection_->addMatch("type='signal',sender='org.bluez'", [this](sdbus::Message& m) { record(m); },
                          sdbus::floating_slot);
  }

  std::vector<std::string> events() {
    pump(std::chrono::steady_clock::now(), [] { return true; });
    return events_;
  }
  std::size_t count(const std::string& prefix) {
    pump(std::chrono::steady_clock::now(), [] { return true; });
    return countNow(prefix);
  }
  bool waitCount(const std::string& prefix, std::size_t n, std::chrono::milliseconds timeout = 5s) {
    return pump(std::chrono::steady_clock::now() + timeout, [&] { return countNow(prefix) >= n; });
  }
  bool waitFor(const std::string& event, std::chrono::milliseconds timeout = 5s) { return waitCount(event, 1, timeout); }

 private:
  static std::string text(const sdbus::Variant& v) {
    if (v.containsValueOfType<bool>()) return v.get<bool>() ? "true" : "false";
    if (v.containsValueOfType<std::int16_t>()) return std::to_string(v.get<std::int16_t>());
    if (v.containsValueOfType<std::string>()) return v.get<std::string>();
    return "*";
  }
  std::size_t countNow(const std::string& prefix) const {
    return static_cast<std::size_t>(
        std::count_if(events_.begin(), events_.end(), [&](const std::string& e) { return e.rfind(prefix, 0) == 0; }));
  }
  // Processes what arrived, then waits on the bus fd until `done` or the deadline.
  bool pump(std::chrono::steady_clock::time_point deadline, const std::function<bool()>& done) {
    for (;;) {
      while (connection_->processPendingRequest()) {
      }
      if (done()) return true;
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      auto poll = connection_->getEventLoopPollData();
      struct pollfd p {poll.fd, static_cast<short>(poll.events), 0};
      ::poll(&p, 1, 10);
    }
  }
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
      for (const auto& [name, value] : changed) out.push_back(m.getPath() + " " + name + "=" + text(value));
      for (const auto& name : invalidated) out.push_back(m.getPath() + " -" + name);
    }
    events_.insert(events_.end(), out.begin(), out.end());
  }

  std::unique_ptr<sdbus::IConnection> connection_;
  std::vector<std::string> events_;
};

// A plain D-Bus client of org.bluez (what any BlueZ client does); synchronous
// calls only, no event-loop thread. Clients on helper threads never make Variants.
struct Client {
  std::unique_ptr<sdbus::IConnection> connection = sdbus::createSystemBusConnection();
  std::map<std::string, std::unique_ptr<sdbus::IProxy>> proxies;
  ~Client() { proxies.clear(); }
  sdbus::IProxy& proxy(const std::string& path) {
    auto& p = proxies[path];
    if (!p) p = sdbus::createProxy(*connection, "org.bluez", path);
    return *p;
  }
  // Runs `call`; returns "" on success, else "<error name>: <message>".
  static std::string errorOf(const std::function<void()>& call) {
    try {
      call();
      return "";
    } catch (const sdbus::Error& e) {
      return e.getName() + ": " + e.getMessage();
    }
  }
  void adapter(const std::string& method) { proxy(kAdapter).callMethod(method).onInterface(kAdapterIface); }
  void filter(const Options& options) {
    proxy(kAdapter).callMethod("SetDiscoveryFilter").onInterface(kAdapterIface).withArguments(options);
  }
  void device(const std::string& address, const std::string& method) {
    proxy(pathOf(address)).callMethod(method).onInterface(kDeviceIface).withTimeout(10s);
  }
  Bytes read(const std::string& charPath, Options options = {}) {
    Bytes out;
    proxy(charPath).callMethod("ReadValue").onInterface(kCharIface).withArguments(options).storeResultsTo(out);
    return out;
  }
  void write(const std::string& charPath, const Bytes& value, const std::string& type = "") {
    Options options;  // no type: the implicit one from Flags (§4.2)
    if (!type.empty()) options["type"] = sdbus::Variant(type);
    proxy(charPath).callMethod("WriteValue").onInterface(kCharIface).withArguments(value, options);
  }
  sdbus::Variant get(const std::string& path, const std::string& iface, const std::string& name) {
    return proxy(path).getProperty(name).onInterface(iface);
  }
  // Object paths under `prefix` carrying `iface` (GetManagedObjects).
  std::vector<std::string> objects(const std::string& prefix, const std::string& iface) {
    std::map<sdbus::ObjectPath, std::map<std::string, std::map<std::string, sdbus::Variant>>> all;
    proxy("/").callMethod("GetManagedObjects").onInterface("org.freedesktop.DBus.ObjectManager").storeResultsTo(all);
    std::vector<std::string> out;
    for (const auto& [path, ifaces] : all) {
      if (std::string(path).rfind(prefix, 0) == 0 && ifaces.count(iface)) out.push_back(path);
    }
    return out;
  }
  // The characteristic object of a 16-bit UUID (or a full one) under a device.
  std::string charPath(const std::string& address, const std::string& uuid) {
    std::string full = uuid.size() == 4 ? uuid16(uuid) : uuid;
    for (const auto& path : objects(pathOf(address) + "/", kCharIface)) {
      if (get(path, kCharIface, "UUID").get<std::string>() == full) return path;
    }
    return "";
  }
  void control(const std::string& method, const std::function<void(sdbus::MethodCall&)>& args) {
    auto call = proxy("/org/rpmgateway/emulator").createMethodCall(kControl, method);
    args(call);
    proxy("/org/rpmgateway/emulator").callMethod(call);
  }
  std::uint32_t counter(const std::string& address, const std::string& name) {
    std::map<std::string, std::uint32_t> counters;
    proxy("/org/rpmgateway/emulator").callMethod("GetCounters").onInterface(kControl).withArguments(address)
        .storeResultsTo(counters);
    return counters.count(name) ? counters[name] : 0;
  }
  bool waitCounter(const std::string& address, const std::string& name, std::uint32_t atLeast) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (counter(address, name) < atLeast) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }
};

nlohmann::json timing() {
  return {{"disconnect_delay_ms", 20}, {"advertising_interval_ms", 20}, {"temporary_timeout_ms", 300},
          {"br_edr_page_ms", 1000}};
}

}  // namespace

TEST_CASE("Discovery reports every advert's RSSI with a filter, only 8 dBm changes without one, advertising data "
          "only on change unless DuplicateData, and invalidates RSSI and TxPower at the end (§2.3, §9 item 10)",
          "[integration][emulator]") {
  const std::string dev = "C0:11:22:33:44:21";
  rpm::test::PrivateBus bus;
  rpm::test::Emulator emulator(bus, {{"timing", timing()},
                                     {"devices", {{{"address", dev}, {"kind", "generic"}, {"paired", true},
                                                   {"rssi", -60}, {"tx_power", 4},
                                                   {"manufacturer_data", {{"004c", "0102"}}}}}}});
  Signals signals;
  Client client;
  const std::string path = pathOf(dev);
  client.filter({{"Transport", sdbus::Variant(std::string("le"))}});
  client.adapter("StartDiscovery");
  // With a filter: the unchanged RSSI is reported on every advert.
  REQUIRE(signals.waitCount(path + " RSSI=-60", 4));
  CHECK(signals.count(path + " ManufacturerData=") == 1);  // once, then only on change
  client.control("SetAdvertisingData", [&](sdbus::MethodCall& c) { c << dev << std::string(R"({"manufacturer_data": {"004c": "0103"}})"); });
  REQUIRE(signals.waitCount(path + " ManufacturerData=", 2));
  auto adverts = client.counter(dev, "Adverts");
  REQUIRE(client.waitCounter(dev, "Adverts", adverts + 3));
  CHECK(signals.count(path + " ManufacturerData=") == 2);
  client.filter({{"Transport", sdbus::Variant(std::string("le"))}, {"DuplicateData", sdbus::Variant(true)}});
  REQUIRE(signals.waitCount(path + " ManufacturerData=", 4));  // now on every advert
  client.adapter("StopDiscovery");
  REQUIRE(signals.waitFor(path + " -RSSI"));
  REQUIRE(signals.waitFor(path + " -TxPower"));

  // Without a filter: RSSI needs an 8 dBm change.
  client.filter({});
  auto reported = signals.count(path + " RSSI=-60");
  client.adapter("StartDiscovery");
  REQUIRE(signals.waitCount(path + " RSSI=-60", reported + 1));  // the first advert of a run is reported
  client.control("SetRssi", [&](sdbus::MethodCall& c) { c << dev << std::int16_t{-65}; });
  adverts = client.counter(dev, "Adverts");
  REQUIRE(client.waitCounter(dev, "Adverts", adverts + 3));
  client.control("SetRssi", [&](sdbus::MethodCall& c) { c << dev << std::int16_t{-69}; });
  REQUIRE(signals.waitFor(path + " RSSI=-69"));
  CHECK(signals.count(path + " RSSI=-65") == 0);
  client.adapter("StopDiscovery");
}

TEST_CASE("A temporary device whose advert was non-connectable goes when discovery ends, a connectable one after "
          "TemporaryTimeout (§3.5, §9 item 11)",
          "[integration][emulator]") {
  const std::string beacon = "C0:11:22:33:44:31", meter = "C0:11:22:33:44:32";
  rpm::test::PrivateBus bus;
  rpm::test::Emulator emulator(
      bus, {{"timing", timing()},
            {"devices", {{{"address", beacon}, {"kind", "generic"}, {"connectable", false}, {"advertised_uuids", {"1808"}}},
                         {{"address", meter}, {"kind", "glucose_meter"}}}}});
  Signals signals;
  Client client;
  client.filter({{"Transport", sdbus::Variant(std::string("le"))}});
  client.adapter("StartDiscovery");
  REQUIRE(signals.waitFor("Added " + pathOf(beacon)));
  REQUIRE(signals.waitFor("Added " + pathOf(meter)));
  CHECK(Client::errorOf([&] { client.device(beacon, "Connect"); }) ==
        "org.bluez.Error.Failed: le-connection-abort-by-local");
  client.adapter("StopDiscovery");
  REQUIRE(signals.waitFor("Removed " + pathOf(beacon)));
  CHECK(signals.count("Removed " + pathOf(meter)) == 0);  // removed together with the beacon would be wrong
  REQUIRE(signals.waitFor("Removed " + pathOf(meter)));   // its 300 ms TemporaryTimeout
}

TEST_CASE("An incomplete GATT tree still ends resolved and is discovered again next time, and Service Changed "
          "rebuilds a service child-first with its notify sessions dropped (§3.3, §4.4, §9 item 13)",
          "[integration][emulator]") {
  const std::string meter = "C0:11:22:33:44:41";
  rpm::test::PrivateBus bus;
  rpm::test::Emulator emulator(bus, {{"timing", timing()},
                                     {"devices", {{{"address", meter}, {"kind", "glucose_meter"}, {"paired", true}}}}});
  Signals signals;
  Client client;
  const std::string path = pathOf(meter);
  client.control("HideServices", [&](sdbus::MethodCall& c) { c << meter << std::vector<std::string>{"1808"}; });
  client.device(meter, "Connect");
  REQUIRE(signals.waitFor(path + " ServicesResolved=true"));
  CHECK(client.charPath(meter, "2a18").empty());  // resolved, yet the glucose service is missing
  CHECK_FALSE(client.charPath(meter, "2a29").empty());
  client.device(meter, "Disconnect");
  client.device(meter, "Connect");
  REQUIRE(signals.waitCount(path + " ServicesResolved=true", 2));
  std::string measurement = client.charPath(meter, "2a18");
  REQUIRE_FALSE(measurement.empty());

  client.proxy(measurement).callMethod("StartNotify").onInterface(kCharIface);
  CHECK(client.get(measurement, kCharIface, "Notifying").get<bool>());
  auto before = signals.events().size();
  client.control("ServiceChanged", [&](sdbus::MethodCall& c) { c << meter << std::string("1808"); });
  REQUIRE(signals.waitCount(path + " ServicesResolved=true", 3));
  auto events = signals.events();
  std::vector<std::string> tail(events.begin() + static_cast<long>(before), events.end());
  auto at = [&](const std::string& e) { return std::find(tail.begin(), tail.end(), e) - tail.begin(); };
  std::string service = measurement.substr(0, measurement.rfind('/'));
  std::string ccc = "Removed " + measurement + "/desc";
  auto firstRemovedDesc = std::find_if(tail.begin(), tail.end(), [&](const std::string& e) { return e.rfind(ccc, 0) == 0; });
  REQUIRE(firstRemovedDesc != tail.end());
  CHECK(at(path + " ServicesResolved=false") < firstRemovedDesc - tail.begin());
  CHECK(firstRemovedDesc - tail.begin() < at("Removed " + measurement));
  CHECK(at("Removed " + measurement) < at("Removed " + service));
  CHECK(at("Removed " + service) < at("Added " + service));
  CHECK(at("Added " + service) < at("Added " + measurement));
  CHECK(at("Added " + measurement) < at(path + " ServicesResolved=true"));
  CHECK_FALSE(client.get(measurement, kCharIface, "Notifying").get<bool>());  // the session went with the object
}

TEST_CASE("Cache=always keeps GATT objects and notify sessions over a disconnect, Cache=no removes them "
          "(§1, §4.4, §9 item 15)",
          "[integration][emulator]") {
  std::string cache = GENERATE(std::string("always"), std::string("no"));
  CAPTURE(cache);
  const std::string meter = "C0:11:22:33:44:51";
  rpm::test::PrivateBus bus;
  rpm::test::Emulator emulator(bus, {{"timing", timing()}, {"gatt_cache", cache},
                                     {"devices", {{{"address", meter}, {"kind", "glucose_meter"}, {"paired", true}}}}});
  Signals signals;
  Client client;
  const std::string path = pathOf(meter);
  client.device(meter, "Connect");
  REQUIRE(signals.waitFor(path + " ServicesResolved=true"));
  std::string measurement = client.charPath(meter, "2a18");
  client.proxy(measurement).callMethod("StartNotify").onInterface(kCharIface);
  client.device(meter, "Disconnect");
  REQUIRE(signals.waitFor(path + " Connected=false"));
  bool kept = !client.charPath(meter, "2a18").empty();
  CHECK(kept == (cache == "always"));
  CHECK((signals.count("Removed " + measurement) > 0) == (cache == "no"));  // the char and its CCC descriptor
  client.device(meter, "Connect");
  REQUIRE(signals.waitCount(path + " ServicesResolved=true", 2));
  CHECK(client.get(measurement, kCharIface, "Notifying").get<bool>() == (cache == "always"));
}

TEST_CASE("Same-offset reads share one request, another offset meanwhile is InProgress, one write at a time, and "
          "Write Command replies at once (§4.2, §9 item 17)",
          "[integration][emulator]") {
  const std::string dev = "C0:11:22:33:44:61";
  rpm::test::PrivateBus bus;
  rpm::test::Emulator emulator(bus, {{"timing", timing()},
                                     {"devices", {{{"address", dev}, {"kind", "vendor"}, {"paired", true}}}}});
  Signals signals;
  Client client;
  client.device(dev, "Connect");
  REQUIRE(signals.waitFor(pathOf(dev) + " ServicesResolved=true"));
  std::string ch = client.charPath(dev, "0000fff1-0000-1000-8000-00805f9b34fb");
  REQUIRE_FALSE(ch.empty());
  emulator.setResponseDelay(dev, 400);
  auto first = std::async(std::launch::async, [&] { Client c; return c.read(ch); });
  REQUIRE(client.waitCounter(dev, "ReadsStarted", 1));
  auto second = std::async(std::launch::async, [&] { Client c; return c.read(ch); });
  REQUIRE(client.waitCounter(dev, "MergedReads", 1));
  CHECK(Client::errorOf([&] { client.read(ch, {{"offset", sdbus::Variant(std::uint16_t{1})}}); }) ==
        "org.bluez.Error.InProgress: In Progress");
  CHECK(first.get() == Bytes{1, 2, 3, 4});
  CHECK(second.get() == Bytes{1, 2, 3, 4});
  REQUIRE(signals.waitFor(ch + " Value="));
  CHECK(signals.count(ch + " Value=") == 1);  // one request, one Value update

  // No explicit type (no Variant off the main thread): "write" in Flags makes both Write Requests.
  auto pending = std::async(std::launch::async, [&] { Client c; c.write(ch, {9}); });
  REQUIRE(client.waitCounter(dev, "WriteValue", 1));
  CHECK(Client::errorOf([&] { client.write(ch, {8}); }) == "org.bluez.Error.InProgress: In Progress");
  pending.get();
  emulator.setResponseDelay(dev, 60000);
  CHECK(Client::errorOf([&] { client.write(ch, {7}, "command"); }).empty());  // no response awaited
}

TEST_CASE("ATT errors injected per attribute map to D-Bus errors exactly as bluetoothd 5.66 (§4.3, §9 item 18)",
          "[integration][emulator]") {
  const std::string meter = "C0:11:22:33:44:71";
  rpm::test::PrivateBus bus;
  rpm::test::Emulator emulator(bus, {{"timing", timing()},
                                     {"devices", {{{"address", meter}, {"kind", "glucose_meter"}, {"paired", true}}}}});
  Signals signals;
  Client client;
  client.device(meter, "Connect");
  REQUIRE(signals.waitFor(pathOf(meter) + " ServicesResolved=true"));
  const std::vector<std::pair<std::uint8_t, std::string>> table = {
      {0x02, "org.bluez.Error.NotPermitted: Read not permitted"},
      {0x03, "org.bluez.Error.NotPermitted: Write not permitted"},
      {0x05, "org.bluez.Error.NotPermitted: Not paired"},
      {0x0C, "org.bluez.Error.NotPermitted: Not paired"},
      {0x0F, "org.bluez.Error.NotPermitted: Not paired"},
      {0x06, "org.bluez.Error.NotSupported: Operation is not supported"},
      {0x07, "org.bluez.Error.InvalidArguments: Invalid offset"},
      {0x08, "org.bluez.Error.NotAuthorized: Operation Not Authorized"},
      {0x0D, "org.bluez.Error.InvalidArguments: Invalid Length"},
      {0x80, "org.bluez.Error.Failed: Operation failed with ATT error: 0x80"},
      {0xFD, "org.bluez.Error.Failed: Operation failed with ATT error: 0xfd"}};
  std::string serial = client.charPath(meter, "2a25"), model = client.charPath(meter, "2a24");
  for (const auto& [code, expected] : table) {
    CAPTURE(static_cast<int>(code));
    client.control("InjectAttError", [&](sdbus::MethodCall& c) {
      c << meter << std::string("2a25") << std::string("ReadValue") << code << std::uint32_t{1};
    });
    CHECK(Client::errorOf([&] { client.read(model); }).empty());  // another attribute is not affected
    CHECK(Client::errorOf([&] { client.read(serial); }) == expected);
  }
  CHECK(Client::errorOf([&] { client.read(serial); }).empty());  // the count was one each
  client.control("InjectAttError", [&](sdbus::MethodCall& c) {
    c << meter << std::string("2a18") << std::string("StartNotify") << std::uint8_t{0xFD} << std::uint32_t{1};
  });
  CHECK(Client::errorOf([&] {
          client.proxy(client.charPath(meter, "2a18")).callMethod("StartNotify").onInterface(kCharIface);
        }) == "org.bluez.Error.Failed: Operation failed with ATT error: 0xfd");
}

TEST_CASE("AcquireNotify and AcquireWrite hand out a SEQPACKET socket and the MTU, gate on the notify flag, "
          "conflict with StartNotify and WriteValue, and hang up on disconnect (§4.2, §9 item 22)",
          "[integration][emulator]") {
  const std::string dev = "C0:11:22:33:44:81";
  rpm::test::PrivateBus bus;
  rpm::test::Emulator emulator(bus, {{"timing", timing()},
                                     {"devices", {{{"address", dev}, {"kind", "vendor"}, {"paired", true}}}}});
  Signals signals;
  Client client;
  client.device(dev, "Connect");
  REQUIRE(signals.waitFor(pathOf(dev) + " ServicesResolved=true"));
  std::string ch = client.charPath(dev, "0000fff1-0000-1000-8000-00805f9b34fb");
  std::string indicateOnly = client.charPath(dev, "0000fff2-0000-1000-8000-00805f9b34fb");
  auto acquire = [&](const std::string& path, const char* method, sdbus::UnixFd& fd, std::uint16_t& mtu) {
    client.proxy(path).callMethod(method).onInterface(kCharIface).withArguments(Options{}).storeResultsTo(fd, mtu);
  };
  sdbus::UnixFd notifyFd, writeFd, unused;
  std::uint16_t mtu = 0, unusedMtu = 0;
  CHECK(Client::errorOf([&] { acquire(indicateOnly, "AcquireNotify", unused, unusedMtu); }) ==
        "org.bluez.Error.NotSupported: Operation is not supported");  // 5.66: notify flag only
  acquire(ch, "AcquireNotify", notifyFd, mtu);
  CHECK(mtu == 517);
  CHECK(client.get(ch, kCharIface, "NotifyAcquired").get<bool>());
  int type = 0;
  socklen_t len = sizeof type;
  REQUIRE(::getsockopt(notifyFd.get(), SOL_SOCKET, SO_TYPE, &type, &len) == 0);
  CHECK(type == SOCK_SEQPACKET);
  CHECK(Client::errorOf([&] { client.proxy(ch).callMethod("StartNotify").onInterface(kCharIface); }) ==
        "org.bluez.Error.NotPermitted: Notify acquired");
  emulator.sendValue(dev, "0000fff1-0000-1000-8000-00805f9b34fb", {1, 2, 3});
  struct pollfd p {notifyFd.get(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, 5000) == 1);
  std::uint8_t buf[64];
  auto n = ::recv(notifyFd.get(), buf, sizeof buf, 0);
  CHECK(Bytes(buf, buf + (n > 0 ? n : 0)) == Bytes{1, 2, 3});  // one packet per notification
  CHECK(signals.count(ch + " Value=") == 0);                  // Value untouched

  acquire(ch, "AcquireWrite", writeFd, mtu);
  CHECK(client.get(ch, kCharIface, "WriteAcquired").get<bool>());
  CHECK(Client::errorOf([&] { client.write(ch, {5}, "request"); }) == "org.bluez.Error.NotPermitted: Write acquired");
  std::uint8_t packet[] = {0x42};
  REQUIRE(::send(writeFd.get(), packet, 1, 0) == 1);
  REQUIRE(client.waitCounter(dev, "AcquiredWrites", 1));

  client.control("DropLink", [&](sdbus::MethodCall& c) { c << dev; });
  struct pollfd h {notifyFd.get(), POLLIN, 0};
  REQUIRE(::poll(&h, 1, 5000) == 1);
  CHECK((h.revents & POLLHUP) != 0);
  REQUIRE(signals.waitFor(ch + " NotifyAcquired=false"));
  REQUIRE(signals.waitFor(ch + " WriteAcquired=false"));
}

TEST_CASE("Bonding an RPA device reveals its identity: Address changes, the path does not, and after a restart the "
          "device is stored under its identity (§3.6, §9 item 27)",
          "[integration][emulator]") {
  const std::string rpa = "4A:11:22:33:44:91", identity = "C0:11:22:33:44:92";
  rpm::test::PrivateBus bus;
  {
    rpm::test::Emulator emulator(bus, {{"timing", timing()},
                                       {"devices", {{{"address", rpa}, {"address_type", "random"}, {"kind", "glucose_meter"},
                                                     {"identity_address", identity}}}}});
    Signals signals;
    Client client;
    // A default agent makes the adapter bondable (§5.3); Just Works calls no agent method.
    client.proxy("/org/bluez").callMethod("RegisterAgent").onInterface("org.bluez.AgentManager1")
        .withArguments(sdbus::ObjectPath("/test/agent"), std::string("NoInputNoOutput"));
    client.proxy("/org/bluez").callMethod("RequestDefaultAgent").onInterface("org.bluez.AgentManager1")
        .withArguments(sdbus::ObjectPath("/test/agent"));
    client.filter({{"Transport", sdbus::Variant(std::string("le"))}});
    client.adapter("StartDiscovery");
    REQUIRE(signals.waitFor("Added " + pathOf(rpa)));
    client.device(rpa, "Pair");
    REQUIRE(signals.waitFor(pathOf(rpa) + " Address=" + identity));
    CHECK(client.get(pathOf(rpa), kDeviceIface, "AddressType").get<std::string>() == "public");
    CHECK(client.objects(pathOf(identity), kDeviceIface).empty());  // the path keeps the RPA name
  }
  rpm::test::Emulator restarted(bus, {{"timing", timing()},
                                      {"devices", {{{"address", rpa}, {"address_type", "random"}, {"kind", "glucose_meter"},
                                                    {"paired", true}, {"identity_address", identity}}}}});
  Client client;
  CHECK(client.objects(pathOf(identity), kDeviceIface) == std::vector<std::string>{pathOf(identity)});
  CHECK(client.objects(pathOf(rpa), kDeviceIface).empty());
  CHECK(client.get(pathOf(identity), kDeviceIface, "Address").get<std::string>() == identity);
}

TEST_CASE("A public device without 'BR/EDR not supported' is guessed dual-mode: Connect pages BR/EDR first and "
          "stays pending meanwhile (§3.1, §8 item 12, §9 item 29)",
          "[integration][emulator]") {
  const std::string dual = "C0:11:22:33:44:A1", leOnly = "C0:11:22:33:44:A2";
  rpm::test::PrivateBus bus;
  rpm::test::Emulator emulator(bus, {{"timing", timing()},
                                     {"devices", {{{"address", dual}, {"kind", "glucose_meter"}, {"paired", true},
                                                   {"br_edr_not_supported", false}},
                                                  {{"address", leOnly}, {"kind", "glucose_meter"}, {"paired", true}}}}});
  Signals signals;
  Client client;
  auto connecting = std::async(std::launch::async, [&] { Client c; c.device(dual, "Connect"); });
  REQUIRE(client.waitCounter(dual, "ConnectCalls", 1));
  // The LE-only device connects while the dual-mode one is still paging.
  client.device(leOnly, "Connect");
  CHECK(client.counter(dual, "Connect") == 0);
  CHECK(Client::errorOf([&] { client.device(dual, "Connect"); }) ==
        "org.bluez.Error.Failed: Operation already in progress");
  connecting.get();
  CHECK(client.counter(dual, "Connect") == 1);
}
