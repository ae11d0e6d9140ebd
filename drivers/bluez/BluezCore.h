// BluezCore (internal): the D-Bus connection, its event-loop thread, the
// ObjectManager mirror of org.bluez, and calls with timeouts. sdbus types
// never leave the loop thread: the mirror holds plain values.
//
// The loop thread reconnects when the bus connection itself is lost (a new
// connection, the signal matches set up again, the tree re-read), and counts
// what happened to bluetoothd and the adapter (BluezRecoveryCounters); the
// recovery thread (BluezRecovery) acts on those counts.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "drivers/bluez/BluezClient.h"
#include "gateway/ports/BleTypes.h"

namespace sdbus {
class IConnection;
class IProxy;
class MethodCall;
class Variant;
}  // namespace sdbus

namespace rpm::bluez {

using Bytes = std::vector<std::uint8_t>;

// Code that lives on the loop thread beside the mirror (the pairing agent,
// BluezAgent.cpp): attached to the connection once, told each time bluetoothd
// (re)appears, detached before the connection closes. All on the loop thread.
class LoopExtension {
 public:
  virtual ~LoopExtension() = default;
  virtual void attach(sdbus::IConnection& connection) = 0;
  virtual void bluezAppeared() = 0;
  virtual void detach() = 0;
};

// Plain mirror of one org.bluez object (only what the client uses).
struct MirroredObject {
  bool isAdapter = false, isDevice = false, isService = false, isCharacteristic = false;
  bool powered = false;          // Adapter1
  ble::DeviceSnapshot device;    // Device1
  std::string uuid;              // GattService1 / GattCharacteristic1
  std::string parent;            // service: Device; characteristic: Service
  std::vector<std::string> flags;
  std::uint64_t linkDrops = 0;   // Connected true -> false transitions seen
};

class BluezCore : public std::enable_shared_from_this<BluezCore> {
 public:
  BluezCore(const BluezClientOptions& options, const Clock& clock);
  ~BluezCore();
  // Creates the connection and starts the loop thread.
  Status start();
  void stop();

  // A method call on org.bluez, posted to the loop thread and awaited with the
  // call timeout. appendArgs runs on the loop thread; the reply's "ay" (if
  // any) is returned.
  // timeout 0 = the configured call timeout (Pair waits longer: agent prompts).
  Result<Bytes> call(const std::string& path, const std::string& iface, const std::string& method,
                     std::function<void(sdbus::MethodCall&)> appendArgs, bool replyHasBytes = false,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds{0});
  // Runs work on the loop thread (extensions answer D-Bus calls there).
  void postToLoop(std::function<void()> task) { post(std::move(task)); }
  void addExtension(std::shared_ptr<LoopExtension> extension);

  // Snapshot accessors (any thread).
  std::optional<std::string> devicePathOf(const std::string& address) const;
  std::optional<MirroredObject> object(const std::string& path) const;
  std::vector<std::pair<std::string, MirroredObject>> objectsUnder(const std::string& prefix) const;
  std::string adapterPath() const { return "/org/bluez/" + options_.adapterName; }
  bool busAlive() const { return !busLost_.load(); }
  bool bluezPresent() const;
  // Waits on the mirror; pred runs under the lock.
  bool waitFor(std::chrono::milliseconds timeout, const std::function<bool()>& pred) const;
  // Handlers keyed by device path.
  void setValueHandler(const std::string& devicePath, ble::ValueHandler handler);
  void setLinkHandler(const std::string& devicePath, ble::LinkHandler handler);
  // Serializes operations on the adapter (§8 items 1-3).
  std::mutex& adapterOperations() { return adapterOps_; }
  const BluezClientOptions& options() const { return options_; }
  // Mirror lookups without locking; only inside waitFor predicates.
  const std::map<std::string, MirroredObject>& mirrorLocked() const { return mirror_; }
  bool bluezPresentLocked() const { return bluezPresent_; }
  bool busLostLocked() const { return busLost_.load(); }

  // Recovery bookkeeping (any thread).
  BluezRecoveryCounters counters() const;
  void count(std::uint64_t BluezRecoveryCounters::*field);
  // Bumped whenever our discovery session cannot have survived: bus lost,
  // bluetoothd gone, adapter removed or powered off.
  std::uint64_t sessionEpoch() const;
  // Bumped by every advertisement-driven device update (new device object,
  // RSSI / advertising data change): the scan watchdog's sign of life.
  std::uint64_t scanActivity() const;
  const Clock& clock() const { return clock_; }

 private:
  void post(std::function<void()> task);
  void loop();
  void runConnected();
  void handleBusLoss();
  bool tryConnect();
  void waitForRetry();
  void setupOnLoop();
  void loadManagedObjects();
  void applyInterfaces(const std::string& path, const std::string& iface,
                       const std::map<std::string, sdbus::Variant>& props, std::vector<std::function<void()>>& events);
  void onPropertiesChanged(const std::string& path, const std::string& iface,
                           const std::map<std::string, sdbus::Variant>& changed,
                           const std::vector<std::string>& invalidated);
  void onBluezGone();
  void deliverValue(const std::string& charPath, const Bytes& value, UtcInstant receivedAt);
  void failAllPending(const Status& status);
  sdbus::IProxy& proxyFor(const std::string& path);

  BluezClientOptions options_;
  const Clock& clock_;
  std::unique_ptr<sdbus::IConnection> connection_;
  std::unique_ptr<sdbus::IProxy> rootProxy_, busProxy_;
  std::map<std::string, std::unique_ptr<sdbus::IProxy>> proxies_;  // loop thread only
  std::thread thread_;
  int wakeFd_ = -1;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::atomic<bool> busLost_{false};
  std::uint64_t connectionGeneration_ = 0;  // tasks posted for an older connection are dropped
  BluezRecoveryCounters counters_;
  std::uint64_t sessionEpoch_ = 0;
  std::uint64_t scanActivity_ = 0;
  bool adapterRemoved_ = false;  // an adapter return counts only after a removal
  bool powerLost_ = false;       // a power restore counts only after a loss  // Reconnect schedule (loop thread only), on the injected clock.
  std::chrono::steady_clock::time_point nextConnectAt_{};
  std::chrono::milliseconds connectBackoff_{0};
  bool bluezPresent_ = false;
  std::map<std::string, MirroredObject> mirror_;
  std::map<std::string, ble::ValueHandler> valueHandlers_;
  std::map<std::string, ble::LinkHandler> linkHandlers_;
  std::uint64_t nextCallId_ = 0;
  std::map<std::uint64_t, std::function<void(const Status&)>> pendingFailers_;
  std::mutex adapterOps_;
  std::vector<std::shared_ptr<LoopExtension>> extensions_;  // loop thread only
  bool reattachExtensions_ = false;  // loop thread only: extensions to export on the next connection

  // Read-echo handling (loop thread only): a ReadValue result also arrives as
  // a Value change just before the reply (§4.2); that one change is not a
  // notification.
  std::map<std::string, int> readsInFlight_;
  std::map<std::string, std::vector<std::pair<Bytes, UtcInstant>>> heldValues_;
};

}  // namespace rpm::bluez
