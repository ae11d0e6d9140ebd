#include "drivers/bluez/BluezCore.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <future>
#include <sdbus-c++/sdbus-c++.h>

#include "drivers/bluez/BluezErrors.h"
#include "gateway/log/Log.h"

namespace rpm::bluez {
namespace {

constexpr const char* kBluez = "org.bluez";
constexpr const char* kObjectManager = "org.freedesktop.DBus.ObjectManager";
constexpr const char* kAdapter = "org.bluez.Adapter1";
constexpr const char* kDevice = "org.bluez.Device1";
constexpr const char* kService = "org.bluez.GattService1";
constexpr const char* kCharacteristic = "org.bluez.GattCharacteristic1";

using PropertyDict = std::map<std::string, sdbus::Variant>;
using InterfaceDict = std::map<std::string, PropertyDict>;

template <typename T>
bool take(const PropertyDict& props, const char* name, T& out) {
  auto it = props.find(name);
  if (it == props.end() || !it->second.containsValueOfType<T>()) return false;
  out = it->second.get<T>();
  return true;
}

// Runs a signal or reply handler; a message that does not deserialize (a
// rogue or newer sender) is dropped and logged instead of ending the loop.
template <typename Fn>
void guarded(Fn&& fn) {
  try {
    fn();
  } catch (const sdbus::Error& e) {
    log::warning("bluez", "unexpected message dropped", {log::Field::reviewed("dbus_error", e.getName())});
  }
}

}  // namespace

BluezCore::BluezCore(const BluezClientOptions& options, const Clock& clock) : options_(options), clock_(clock) {}

BluezCore::~BluezCore() { stop(); }

Status BluezCore::start() {
  try {
    connection_ = sdbus::createSystemBusConnection();
  } catch (const sdbus::Error& e) {
    return Status(ErrorKind::kUnavailable, "system bus: " + e.getName());
  } catch (const std::exception&) {
    return Status(ErrorKind::kUnavailable, "system bus: connection failed");
  }
  connectionGeneration_ = 1;
  wakeFd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0) return Status(ErrorKind::kIo, "eventfd for the D-Bus loop");
  thread_ = std::thread([this] { loop(); });
  return Status::ok();
}

void BluezCore::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (wakeFd_ >= 0) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wakeFd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  connection_.reset();
  if (wakeFd_ >= 0) ::close(wakeFd_);
  wakeFd_ = -1;
}

void BluezCore::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wakeFd_, &one, sizeof one);
}

bool BluezCore::bluezPresent() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bluezPresent_;
}

BluezRecoveryCounters BluezCore::counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counters_;
}

void BluezCore::count(std::uint64_t BluezRecoveryCounters::*field) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++(counters_.*field);
  }
  changed_.notify_all();
}

std::uint64_t BluezCore::sessionEpoch() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return sessionEpoch_;
}

std::uint64_t BluezCore::scanActivity() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return scanActivity_;
}

bool BluezCore::waitFor(std::chrono::milliseconds timeout, const std::function<bool()>& pred) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, pred);
}

void BluezCore::setValueHandler(const std::string& devicePath, ble::ValueHandler handler) {
  std::lock_guard<std::mutex> lock(mutex_);
  valueHandlers_[devicePath] = std::move(handler);
}

void BluezCore::setLinkHandler(const std::string& devicePath, ble::LinkHandler handler) {
  std::lock_guard<std::mutex> lock(mutex_);
  linkHandlers_[devicePath] = std::move(handler);
}

std::optional<std::string> BluezCore::devicePathOf(const std::string& address) const {
  std::lock_guard<std::mutex> lock(mutex_);
  // Devices are keyed by Address, never by path (§3.6, §8 item 6).
  for (const auto& [path, obj] : mirror_) {
    if (obj.isDevice && obj.device.address == address && path.rfind(adapterPath() + "/", 0) == 0) return path;
  }
  return std::nullopt;
}

std::optional<MirroredObject> BluezCore::object(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = mirror_.find(path);
  if (it == mirror_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::pair<std::string, MirroredObject>> BluezCore::objectsUnder(const std::string& prefix) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<std::string, MirroredObject>> out;
  for (const auto& [path, obj] : mirror_) {
    if (path.rfind(prefix, 0) == 0) out.emplace_back(path, obj);
  }
  return out;
}

// ------------------------------------------------------------------ the loop

void BluezCore::loop() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) break;
    }
    if (!connection_) {
      // The bus connection was lost: reconnect on the clock's schedule.
      if (clock_.monotonicNow() < nextConnectAt_ || !tryConnect()) {
        waitForRetry();
        continue;
      }
    }
    try {
      if (reattachExtensions_) {
        // A new connection: the agent's object is exported on it again; it
        // registers with bluetoothd once setupOnLoop finds bluetoothd.
        reattachExtensions_ = false;
        for (auto& extension : extensions_) extension->attach(*connection_);
      }
      setupOnLoop();
      runConnected();
      break;  // stopping
    } catch (const sdbus::Error& e) {
      // sdbus-c++ 1.2 throws here when the bus connection breaks; we turn it
      // into a state (and a reconnect) instead of letting it terminate the process.
      log::error("bluez", "bus lost", {log::Field::reviewed("dbus_error", e.getName())});
    } catch (const std::exception&) {
      log::error("bluez", "bus lost");
    }
    handleBusLoss();
    if (options_.skipBusReconnectForTest) break;
  }
  // Proxies are released on the thread that used them, before the connection.
  try {
    for (auto& extension : extensions_) extension->detach();
    extensions_.clear();
    proxies_.clear();
    rootProxy_.reset();
    busProxy_.reset();
  } catch (...) {
  }
  // Anything posted after the loop ended fails at once.
  std::deque<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tasks.swap(tasks_);
    busLost_.store(true);
  }
  failAllPending(Status(ErrorKind::kUnavailable, "D-Bus loop stopped"));
  changed_.notify_all();
}

void BluezCore::runConnected() {
  for (;;) {
    std::deque<std::function<void()>> tasks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      tasks.swap(tasks_);
    }
    for (auto& task : tasks) task();
    while (connection_->processPendingRequest()) {
    }
    auto pollData = connection_->getEventLoopPollData();
    int timeoutMs = -1;
    if (auto rel = pollData.getRelativeTimeout()) {
      timeoutMs = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(*rel).count() + 1);
    }
    struct pollfd fds[2] = {{pollData.fd, pollData.events, 0}, {wakeFd_, POLLIN, 0}};
    ::poll(fds, 2, timeoutMs);
    std::uint64_t drained = 0;
    [[maybe_unused]] auto n = ::read(wakeFd_, &drained, sizeof drained);
    while (connection_->processPendingRequest()) {
    }
  }
}

// The connection is gone: every pending call fails, bluetoothd's state is
// forgotten (it will be re-read from the next connection), and the sdbus
// objects of the dead connection are released here, on their thread.
void BluezCore::handleBusLoss() {
  std::deque<std::function<void()>> stale;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    busLost_.store(true);
    stale.swap(tasks_);
    ++counters_.busLosses;
    ++sessionEpoch_;
  }
  stale.clear();
  failAllPending(Status(ErrorKind::kUnavailable, "D-Bus connection lost"));
  onBluezGone();
  try {
    for (auto& extension : extensions_) extension->detach();
    reattachExtensions_ = !extensions_.empty();
    proxies_.clear();
    rootProxy_.reset();
    busProxy_.reset();
    connection_.reset();
  } catch (...) {
    connection_.reset();
  }
  connectBackoff_ = std::chrono::milliseconds(0);
  nextConnectAt_ = clock_.monotonicNow();  // the first attempt at once
  changed_.notify_all();
}

bool BluezCore::tryConnect() {
  std::unique_ptr<sdbus::IConnection> connection;
  try {
    connection = sdbus::createSystemBusConnection();
  } catch (const std::exception&) {
    connection.reset();
  }
  if (!connection) {
    connectBackoff_ = connectBackoff_.count() == 0 ? options_.busRetryFirst
                                                    : std::min(connectBackoff_ * 2, options_.busRetryMax);
    nextConnectAt_ = clock_.monotonicNow() + connectBackoff_;
    return false;
  }
  connection_ = std::move(connection);
  std::uint64_t reconnects = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++connectionGeneration_;
    reconnects = ++counters_.busReconnects;
    busLost_.store(false);
  }
  log::notice("bluez", "D-Bus connection restored", {log::Field("reconnects", reconnects)});
  changed_.notify_all();
  return true;
}

// Between reconnect attempts: wake for stop() (the eventfd) or to look at the
// clock again. The slice is a wake-up granularity; the schedule is the clock's.
void BluezCore::waitForRetry() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tasks_.clear();  // nothing can be sent without a connection; their callers were failed
  }
  failAllPending(Status(ErrorKind::kUnavailable, "D-Bus connection lost"));
  struct pollfd fd = {wakeFd_, POLLIN, 0};
  ::poll(&fd, 1, 100);
  std::uint64_t drained = 0;
  [[maybe_unused]] auto n = ::read(wakeFd_, &drained, sizeof drained);
}

void BluezCore::setupOnLoop() {
  // Interfaces come and go through the one ObjectManager at "/" (§1).
  rootProxy_ = sdbus::createProxy(*connection_, kBluez, "/");
  rootProxy_->registerSignalHandler(kObjectManager, "InterfacesAdded", [this](sdbus::Signal& signal) { guarded([&] {
    sdbus::ObjectPath path;
    InterfaceDict ifaces;
    signal >> path >> ifaces;
    std::vector<std::function<void()>> events;
    bool adapterReturned = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      bool adapterKnown = mirror_.count(adapterPath()) && mirror_[adapterPath()].isAdapter;
      for (const auto& [iface, props] : ifaces) applyInterfaces(path, iface, props, events);
      if (path == adapterPath() && ifaces.count(kAdapter) && !adapterKnown && adapterRemoved_) {
        // The controller was plugged in again (not bluetoothd registering it after a restart).
        adapterRemoved_ = false;
        adapterReturned = true;
        ++counters_.adapterReturns;
      }
      // A new device object during discovery is an advertisement (§2.3).
      if (ifaces.count(kDevice) && std::string(path).rfind(adapterPath() + "/", 0) == 0) ++scanActivity_;
    }
    changed_.notify_all();
    if (adapterReturned) log::notice("bluez", "adapter present again");
    for (auto& e : events) e();
  }); });
  rootProxy_->registerSignalHandler(kObjectManager, "InterfacesRemoved", [this](sdbus::Signal& signal) { guarded([&] {
    sdbus::ObjectPath path;
    std::vector<std::string> ifaces;
    signal >> path >> ifaces;
    bool adapterRemoved = false;
    ble::LinkHandler dropped;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = mirror_.find(path);
      if (it != mirror_.end()) {
        if (it->second.isDevice && it->second.device.connected &&
            std::find(ifaces.begin(), ifaces.end(), kDevice) != ifaces.end()) {
          // A connected device removed with its adapter (controller unplugged): its link is gone.
          it->second.linkDrops++;
          auto h = linkHandlers_.find(path);
          if (h != linkHandlers_.end()) dropped = h->second;
        }
        for (const auto& iface : ifaces) {
          if (iface == kAdapter) it->second.isAdapter = false;
          if (iface == kDevice) it->second.isDevice = false;
          if (iface == kService) it->second.isService = false;
          if (iface == kCharacteristic) it->second.isCharacteristic = false;
        }
        const auto& o = it->second;
        if (!o.isAdapter && !o.isDevice && !o.isService && !o.isCharacteristic) mirror_.erase(it);
      }
      if (path == adapterPath() && std::find(ifaces.begin(), ifaces.end(), kAdapter) != ifaces.end()) {
        // Controller unplugged: its devices went first (child-first, §1); our discovery session is gone.
        adapterRemoved = true;
        adapterRemoved_ = true;
        ++counters_.adapterRemovals;
        ++sessionEpoch_;
      }
      // The proxy stays: destroying it would cancel a call still in flight.
    }
    changed_.notify_all();
    if (adapterRemoved) log::warning("bluez", "adapter removed");
    if (dropped) dropped(false);
  }); });
  rootProxy_->finishRegistration();

  // PropertiesChanged for every org.bluez object with one match rule.
  connection_->addMatch(
      "type='signal',sender='org.bluez',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',"
      "path_namespace='/org/bluez'",
      [this](sdbus::Message& msg) {
        guarded([&] {
          std::string iface;
          PropertyDict changed;
          std::vector<std::string> invalidated;
          msg >> iface >> changed >> invalidated;
          onPropertiesChanged(msg.getPath(), iface, changed, invalidated);
        });
      },
      sdbus::floating_slot);

  // bluetoothd restarts and exits: NameOwnerChanged (§8 item 11).
  busProxy_ = sdbus::createProxy(*connection_, "org.freedesktop.DBus", "/org/freedesktop/DBus");
  busProxy_->registerSignalHandler("org.freedesktop.DBus", "NameOwnerChanged", [this](sdbus::Signal& signal) { guarded([&] {
    std::string name, oldOwner, newOwner;
    signal >> name >> oldOwner >> newOwner;
    if (name != kBluez) return;
    if (newOwner.empty()) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++counters_.bluezDepartures;
      }
      log::warning("bluez", "bluetoothd left the bus");
      onBluezGone();
    } else {
      std::uint64_t returns = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        returns = ++counters_.bluezReturns;
      }
      log::notice("bluez", "bluetoothd appeared on the bus", {log::Field("returns", returns)});
      loadManagedObjects();
    }
  }); });
  busProxy_->finishRegistration();
  loadManagedObjects();
}

void BluezCore::loadManagedObjects() {
  auto method = rootProxy_->createMethodCall(kObjectManager, "GetManagedObjects");
  auto timeoutUs = static_cast<std::uint64_t>(options_.callTimeout.count()) * 1000;
  rootProxy_->callMethod(
      method,
      [this](sdbus::MethodReply& reply, const sdbus::Error* error) {
        if (error) {
          std::lock_guard<std::mutex> lock(mutex_);
          bluezPresent_ = false;
          changed_.notify_all();
          return;
        }
        std::map<sdbus::ObjectPath, InterfaceDict> objects;
        try {
          reply >> objects;
        } catch (const sdbus::Error&) {
          return;  // not a bluetoothd answer we understand; the next owner change retries
        }
        std::vector<std::function<void()>> events;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          mirror_.clear();
          for (const auto& [path, ifaces] : objects) {
            for (const auto& [iface, props] : ifaces) applyInterfaces(path, iface, props, events);
          }
          bluezPresent_ = true;
        }
        changed_.notify_all();
        for (auto& e : events) e();
        for (auto& extension : extensions_) extension->bluezAppeared();
      },
      timeoutUs);
}

// Merges one interface's properties into the mirror (mutex_ held). Link
// events are collected and fired after the lock is released.
void BluezCore::applyInterfaces(const std::string& path, const std::string& iface, const PropertyDict& props,
                                std::vector<std::function<void()>>& events) {
  if (iface != kAdapter && iface != kDevice && iface != kService && iface != kCharacteristic) return;
  auto& obj = mirror_[path];
  if (iface == kAdapter) {
    bool existed = obj.isAdapter, wasPowered = obj.powered;
    obj.isAdapter = true;
    if (take(props, "Powered", obj.powered) && existed && path == adapterPath() && wasPowered != obj.powered) {
      // Powered off: links dropped and discovery sessions ended (§2, §9 item 28).
      if (!obj.powered) {
        ++counters_.powerLosses;
        ++sessionEpoch_;
        powerLost_ = true;
        events.push_back([] { log::warning("bluez", "adapter powered off"); });
      } else if (powerLost_) {
        // Only a restore after a loss counts (not AutoEnable after a restart or plug-in).
        powerLost_ = false;
        ++counters_.powerRestores;
        events.push_back([] { log::notice("bluez", "adapter powered on"); });
      }
    }
  } else if (iface == kDevice) {
    obj.isDevice = true;
    bool wasConnected = obj.device.connected;
    take(props, "Address", obj.device.address);
    take(props, "AddressType", obj.device.addressType);
    take(props, "Connected", obj.device.connected);
    take(props, "ServicesResolved", obj.device.servicesResolved);
    take(props, "Paired", obj.device.paired);
    take(props, "Bonded", obj.device.bonded);
    take(props, "UUIDs", obj.device.uuids);
    std::int16_t rssi = 0;
    if (take(props, "RSSI", rssi)) {
      obj.device.rssi = rssi;
      ++obj.device.advertisements;  // one RSSI report per advert seen (§2.3)
    }
    if (props.count("Connected") && wasConnected != obj.device.connected) {
      if (!obj.device.connected) {
        obj.linkDrops++;
        obj.device.servicesResolved = false;
      }
      auto handler = linkHandlers_.find(path);
      if (handler != linkHandlers_.end() && handler->second) {
        auto fn = handler->second;
        bool up = obj.device.connected;
        events.push_back([fn, up] { fn(up); });
      }
    }
  } else if (iface == kService) {
    obj.isService = true;
    take(props, "UUID", obj.uuid);
    sdbus::ObjectPath device;
    if (take(props, "Device", device)) obj.parent = device;
  } else {
    obj.isCharacteristic = true;
    take(props, "UUID", obj.uuid);
    take(props, "Flags", obj.flags);
    sdbus::ObjectPath service;
    if (take(props, "Service", service)) obj.parent = service;
  }
}

void BluezCore::onPropertiesChanged(const std::string& path, const std::string& iface, const PropertyDict& changed,
                                    const std::vector<std::string>& invalidated) {
  auto receivedAt = clock_.now();
  if (iface == kCharacteristic) {
    auto value = changed.find("Value");
    if (value != changed.end() && value->second.containsValueOfType<Bytes>()) {
      Bytes bytes = value->second.get<Bytes>();
      if (readsInFlight_[path] > 0) {
        heldValues_[path].emplace_back(std::move(bytes), receivedAt);
      } else {
        deliverValue(path, bytes, receivedAt);
      }
    }
  }
  std::vector<std::function<void()>> events;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (mirror_.count(path)) {
      applyInterfaces(path, iface, changed, events);
      if (iface == kDevice) {
        // Advertisement-driven updates are the scanner's sign of life (scan watchdog).
        for (const char* name : {"RSSI", "ManufacturerData", "ServiceData", "TxPower"}) {
          if (changed.count(name)) {
            ++scanActivity_;
            break;
          }
        }
        for (const auto& name : invalidated) {
          if (name == "RSSI") mirror_[path].device.rssi.reset();  // invalidated at discovery end (§2.3)
        }
      }
    }
  }
  changed_.notify_all();
  for (auto& e : events) e();
}

void BluezCore::deliverValue(const std::string& charPath, const Bytes& value, UtcInstant receivedAt) {
  ble::ValueHandler handler;
  ble::CharacteristicValue v;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto ch = mirror_.find(charPath);
    if (ch == mirror_.end()) return;
    auto svc = mirror_.find(ch->second.parent);
    if (svc == mirror_.end()) return;
    auto it = valueHandlers_.find(svc->second.parent);
    if (it == valueHandlers_.end() || !it->second) return;
    handler = it->second;
    v.serviceUuid = svc->second.uuid;
    v.characteristicUuid = ch->second.uuid;
  }
  v.bytes = value;
  v.receivedAt = receivedAt;
  handler(v);
}

void BluezCore::onBluezGone() {
  std::vector<ble::LinkHandler> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    bluezPresent_ = false;
    ++sessionEpoch_;
    // bluetoothd's objects, sessions and links are gone with it (§8 item 11).
    for (auto& [path, obj] : mirror_) {
      if (obj.isDevice && obj.device.connected) {
        obj.linkDrops++;
        auto h = linkHandlers_.find(path);
        if (h != linkHandlers_.end() && h->second) dropped.push_back(h->second);
      }
    }
    mirror_.clear();
  }
  readsInFlight_.clear();
  heldValues_.clear();
  changed_.notify_all();
  for (auto& h : dropped) h(false);
}

void BluezCore::failAllPending(const Status& status) {
  std::map<std::uint64_t, std::function<void(const Status&)>> pending;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending.swap(pendingFailers_);
  }
  for (auto& [id, fail] : pending) fail(status);
}

sdbus::IProxy& BluezCore::proxyFor(const std::string& path) {
  auto it = proxies_.find(path);
  if (it == proxies_.end()) {
    auto proxy = sdbus::createProxy(*connection_, kBluez, path);
    proxy->finishRegistration();
    it = proxies_.emplace(path, std::move(proxy)).first;
  }
  return *it->second;
}

// ------------------------------------------------------------------ calls

void BluezCore::addExtension(std::shared_ptr<LoopExtension> extension) {
  post([this, extension] {
    extensions_.push_back(extension);
    extension->attach(*connection_);
    bool present = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      present = bluezPresent_;
    }
    if (present) extension->bluezAppeared();
  });
}

Result<Bytes> BluezCore::call(const std::string& path, const std::string& iface, const std::string& method,
                              std::function<void(sdbus::MethodCall&)> appendArgs, bool replyHasBytes,
                              std::chrono::milliseconds timeout) {
  if (timeout.count() <= 0) timeout = options_.callTimeout;
  const std::string what = iface.substr(iface.rfind('.') + 1) + "." + method;
  struct Shared {
    std::promise<Result<Bytes>> promise;
    std::atomic<bool> done{false};
    void finish(Result<Bytes> r) {
      if (!done.exchange(true)) promise.set_value(std::move(r));
    }
  };
  auto shared = std::make_shared<Shared>();
  auto future = shared->promise.get_future();
  std::uint64_t id = 0, generation = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (busLost_.load() || stopping_) return Status(ErrorKind::kUnavailable, what + ": D-Bus connection lost");
    id = ++nextCallId_;
    generation = connectionGeneration_;
    pendingFailers_[id] = [shared](const Status& s) { shared->finish(Result<Bytes>(s)); };
  }
  auto timeoutUs = static_cast<std::uint64_t>(timeout.count()) * 1000;
  post([this, shared, id, generation, path, iface, method, what, appendArgs, replyHasBytes, timeoutUs] {
    auto forget = [this, id] {
      std::lock_guard<std::mutex> lock(mutex_);
      pendingFailers_.erase(id);
    };
    if (generation != connectionGeneration_) {
      // Posted for a connection that has since been lost: never replay it on the new one.
      forget();
      shared->finish(Status(ErrorKind::kUnavailable, what + ": D-Bus connection lost"));
      return;
    }
    try {
      auto& proxy = proxyFor(path);
      auto msg = proxy.createMethodCall(iface, method);
      if (appendArgs) appendArgs(msg);
      bool isRead = iface == kCharacteristic && method == "ReadValue";
      proxy.callMethod(
          msg,
          [this, shared, forget, what, replyHasBytes, isRead, path](sdbus::MethodReply& reply,
                                                                    const sdbus::Error* error) {
            forget();
            Bytes bytes;
            if (!error && replyHasBytes) {
              try {
                reply >> bytes;
              } catch (const sdbus::Error& e) {
                shared->finish(Status(ErrorKind::kMalformedPayload, what + ": reply " + e.getName()));
                return;
              }
            }
            if (isRead) {
              // Drop the one Value change that echoed this read; deliver the rest in order.
              auto held = std::move(heldValues_[path]);
              heldValues_.erase(path);
              if (--readsInFlight_[path] <= 0) readsInFlight_.erase(path);
              bool echoDropped = error != nullptr;
              for (auto& [value, at] : held) {
                if (!echoDropped && value == bytes) {
                  echoDropped = true;
                  continue;
                }
                deliverValue(path, value, at);
              }
            }
            if (error) {
              shared->finish(statusFromDbusError(what, error->getName(), error->getMessage()));
            } else {
              shared->finish(std::move(bytes));
            }
          },
          timeoutUs);
      // Counted only once the call is out; its reply runs later on this same
      // thread, so no Value change can slip in between.
      if (isRead) readsInFlight_[path]++;
    } catch (const sdbus::Error& e) {
      forget();
      shared->finish(statusFromDbusError(what, e.getName(), e.getMessage()));
    } catch (const std::exception&) {
      forget();
      shared->finish(Status(ErrorKind::kInternal, what + ": call failed"));
    }
  });
  // The D-Bus timeout answers first; this bound only guards a stuck loop.
  if (future.wait_for(timeout + std::chrono::seconds(2)) != std::future_status::ready) {
    shared->finish(Status(ErrorKind::kTimeout, what + ": no reply"));
  }
  return future.get();
}

}  // namespace rpm::bluez
