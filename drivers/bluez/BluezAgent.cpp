// The gateway's org.bluez.Agent1 and the BleBonding port (bluez-dbus-api.md §5).
//
// Capability: KeyboardOnly. The hub has no display and no yes/no button, but
// the installer can type, through `rpm-gateway pair`, the passkey a cuff or
// meter shows. With KeyboardOnly the LE association model (Core v5.3 Vol 3
// Part H 2.3.5.1) is Passkey Entry with us entering whenever the device has a
// display or keyboard, and Just Works for NoInputNoOutput devices: bluetoothd
// then only ever asks RequestPasskey, never DisplayPasskey (we cannot show a
// key) nor RequestConfirmation (we cannot show the number to compare).
// KeyboardDisplay would let bluetoothd pick numeric comparison or make us
// display; NoInputNoOutput would make every MITM-requiring device fail.
// The other methods are still answered by policy, as a peer may call them.
//
// Everything here runs on BluezCore's loop thread; replies that the policy
// gives from another thread are posted back to it.
#include "drivers/bluez/BluezAgent.h"

#include <sdbus-c++/sdbus-c++.h>

#include <atomic>

#include "gateway/log/Log.h"

namespace rpm::bluez {
namespace {

constexpr const char* kAgentIface = "org.bluez.Agent1";
constexpr const char* kAgentManager = "org.bluez.AgentManager1";
constexpr const char* kDevice = "org.bluez.Device1";
constexpr const char* kAgentPath = "/org/rpmgateway/agent";
constexpr const char* kCapability = "KeyboardOnly";

sdbus::Error rejected() { return sdbus::Error("org.bluez.Error.Rejected", "Rejected"); }

}  // namespace

class BluezAgentExtension final : public LoopExtension, public std::enable_shared_from_this<BluezAgentExtension> {
 public:
  BluezAgentExtension(std::shared_ptr<BluezCore> core, AgentCounters& counters)
      : core_(std::move(core)), counters_(counters) {}

  void attach(sdbus::IConnection& connection) override {
    object_ = sdbus::createObject(connection, kAgentPath);
    object_->registerMethod("Release").onInterface(kAgentIface).implementedAs([this] {
      // bluetoothd is shutting down (§5.2): registration is redone when it returns.
      counters_.registered.store(false);
      log::notice("bluez", "pairing agent released by bluetoothd");
    });
    object_->registerMethod("RequestPinCode")
        .onInterface(kAgentIface)
        .withInputParamNames("device")
        .withOutputParamNames("pincode")
        .implementedAs([this](sdbus::Result<std::string>&& result, sdbus::ObjectPath device) {
          auto shared = std::make_shared<sdbus::Result<std::string>>(std::move(result));
          ask({ble::AgentRequestKind::kPinCode, addressOf(device), 0, {}}, [shared](const ble::AgentAnswer& a) {
            if (a.accept && !a.pinCode.empty()) {
              shared->returnResults(a.pinCode);
            } else {
              shared->returnError(rejected());
            }
          });
        });
    object_->registerMethod("DisplayPinCode")
        .onInterface(kAgentIface)
        .withInputParamNames("device", "pincode")
        .implementedAs([](sdbus::ObjectPath, std::string) {
          // BR/EDR legacy pairing only; the hub cannot show a PIN.
          throw rejected();
        });
    object_->registerMethod("RequestPasskey")
        .onInterface(kAgentIface)
        .withInputParamNames("device")
        .withOutputParamNames("passkey")
        .implementedAs([this](sdbus::Result<std::uint32_t>&& result, sdbus::ObjectPath device) {
          auto shared = std::make_shared<sdbus::Result<std::uint32_t>>(std::move(result));
          ask({ble::AgentRequestKind::kPasskey, addressOf(device), 0, {}}, [shared](const ble::AgentAnswer& a) {
            if (a.accept && a.passkey <= 999999) {
              shared->returnResults(a.passkey);
            } else {
              shared->returnError(rejected());
            }
          });
        });
    object_->registerMethod("DisplayPasskey")
        .onInterface(kAgentIface)
        .withInputParamNames("device", "passkey", "entered")
        .implementedAs([this](sdbus::ObjectPath device, std::uint32_t passkey, std::uint16_t) {
          // No answer is expected; the installer's prompt may show it.
          std::lock_guard<std::mutex> lock(counters_.policyMutex);
          if (counters_.policy) {
            counters_.policy->onAgentRequest({ble::AgentRequestKind::kDisplayPasskey, addressOf(device), passkey, {}},
                                             [](const ble::AgentAnswer&) {});
          }
        });
    object_->registerMethod("RequestConfirmation")
        .onInterface(kAgentIface)
        .withInputParamNames("device", "passkey")
        .implementedAs([this](sdbus::Result<>&& result, sdbus::ObjectPath device, std::uint32_t passkey) {
          auto shared = std::make_shared<sdbus::Result<>>(std::move(result));
          ask({ble::AgentRequestKind::kConfirmation, addressOf(device), passkey, {}}, [shared](const ble::AgentAnswer& a) {
            if (a.accept) {
              shared->returnResults();
            } else {
              shared->returnError(rejected());
            }
          });
        });
    object_->registerMethod("RequestAuthorization")
        .onInterface(kAgentIface)
        .withInputParamNames("device")
        .implementedAs([this](sdbus::Result<>&& result, sdbus::ObjectPath device) {
          auto shared = std::make_shared<sdbus::Result<>>(std::move(result));
          ask({ble::AgentRequestKind::kAuthorization, addressOf(device), 0, {}}, [shared](const ble::AgentAnswer& a) {
            if (a.accept) {
              shared->returnResults();
            } else {
              shared->returnError(rejected());
            }
          });
        });
    object_->registerMethod("AuthorizeService")
        .onInterface(kAgentIface)
        .withInputParamNames("device", "uuid")
        .implementedAs([this](sdbus::Result<>&& result, sdbus::ObjectPath device, std::string uuid) {
          auto shared = std::make_shared<sdbus::Result<>>(std::move(result));
          ask({ble::AgentRequestKind::kServiceAuthorization, addressOf(device), 0, uuid},
              [shared](const ble::AgentAnswer& a) {
                if (a.accept) {
                  shared->returnResults();
                } else {
                  shared->returnError(rejected());
                }
              });
        });
    object_->registerMethod("Cancel").onInterface(kAgentIface).implementedAs([this] {
      counters_.cancels++;
      std::lock_guard<std::mutex> lock(counters_.policyMutex);
      if (counters_.policy) counters_.policy->onAgentCancel();
    });
    object_->finishRegistration();
    agentManager_ = sdbus::createProxy(connection, "org.bluez", "/org/bluez");
    agentManager_->finishRegistration();
  }

  void bluezAppeared() override {
    // A new bluetoothd knows no agent: register and become the default one,
    // which also makes the adapter bondable (§5.3, §8 item 9).
    counters_.registered.store(false);
    std::weak_ptr<BluezAgentExtension> weak = weak_from_this();
    try {
      agentManager_->callMethodAsync("RegisterAgent")
          .onInterface(kAgentManager)
          .withArguments(sdbus::ObjectPath(kAgentPath), std::string(kCapability))
          .uponReplyInvoke([weak](const sdbus::Error* error) {
            auto self = weak.lock();
            if (!self) return;
            // AlreadyExists: this connection's agent survived (§5.1); still ask to be default.
            if (error && error->getName() != "org.bluez.Error.AlreadyExists") {
              log::error("bluez", "pairing agent registration failed", {log::Field::reviewed("dbus_error", error->getName())});
              return;
            }
            self->requestDefault();
          });
    } catch (const sdbus::Error& e) {
      log::error("bluez", "pairing agent registration failed", {log::Field::reviewed("dbus_error", e.getName())});
    }
  }

  void detach() override {
    agentManager_.reset();
    object_.reset();
    counters_.registered.store(false);
  }

 private:
  void requestDefault() {
    std::weak_ptr<BluezAgentExtension> weak = weak_from_this();
    try {
      agentManager_->callMethodAsync("RequestDefaultAgent")
          .onInterface(kAgentManager)
          .withArguments(sdbus::ObjectPath(kAgentPath))
          .uponReplyInvoke([weak](const sdbus::Error* error) {
            auto self = weak.lock();
            if (!self) return;
            if (error) {
              log::error("bluez", "pairing agent not made default", {log::Field::reviewed("dbus_error", error->getName())});
              return;
            }
            self->counters_.registered.store(true);
            self->counters_.registrations++;
            log::notice("bluez", "pairing agent registered", {{"capability", "KeyboardOnly"}});
          });
    } catch (const sdbus::Error& e) {
      log::error("bluez", "pairing agent not made default", {log::Field::reviewed("dbus_error", e.getName())});
    }
  }

  std::string addressOf(const sdbus::ObjectPath& device) const {
    auto obj = core_->object(device);
    return obj && obj->isDevice ? obj->device.address : std::string();
  }

  // Hands the request to the policy; its answer (any thread, once) is sent
  // from the loop thread. An unknown device is refused without asking.
  void ask(const ble::AgentRequest& request, std::function<void(const ble::AgentAnswer&)> send) {
    counters_.requests++;
    auto answered = std::make_shared<std::atomic<bool>>(false);
    std::weak_ptr<BluezCore> core = core_;
    AgentCounters* counters = &counters_;
    auto reply = [answered, send, core, counters](const ble::AgentAnswer& answer) {
      if (answered->exchange(true)) return;
      if (!answer.accept) counters->refusals++;
      auto c = core.lock();
      if (!c) return;
      c->postToLoop([send, answer] {
        try {
          send(answer);
        } catch (const sdbus::Error&) {
          // bluetoothd already gave up on the request (timeout, Cancel).
        }
      });
    };
    // The policy is asked under its mutex so stopAgent() never returns while
    // it is in use (onAgentRequest must not block).
    std::unique_lock<std::mutex> lock(counters_.policyMutex);
    if (request.address.empty() || !counters_.policy) {
      lock.unlock();
      reply(ble::AgentAnswer::refuse());
      return;
    }
    counters_.policy->onAgentRequest(request, reply);
  }

  std::shared_ptr<BluezCore> core_;
  AgentCounters& counters_;
  std::unique_ptr<sdbus::IObject> object_;
  std::unique_ptr<sdbus::IProxy> agentManager_;
};

BluezBonding::BluezBonding(std::shared_ptr<BluezCore> core) : core_(std::move(core)) {}

Status BluezBonding::startAgent(ble::PairingPolicy& policy) {
  if (started_.exchange(true)) return Status(ErrorKind::kConflict, "pairing agent already started");
  if (!core_->busAlive()) return Status(ErrorKind::kUnavailable, "pairing agent: D-Bus connection lost");
  {
    std::lock_guard<std::mutex> lock(counters_.policyMutex);
    counters_.policy = &policy;
  }
  core_->addExtension(std::make_shared<BluezAgentExtension>(core_, counters_));
  return Status::ok();
}

void BluezBonding::stopAgent() {
  std::lock_guard<std::mutex> lock(counters_.policyMutex);
  counters_.policy = nullptr;
}

ble::AgentState BluezBonding::agentState() const {
  ble::AgentState state;
  state.registeredAsDefault = counters_.registered.load() && core_->bluezPresent();
  state.registrations = counters_.registrations.load();
  state.requests = counters_.requests.load();
  state.refusals = counters_.refusals.load();
  state.cancels = counters_.cancels.load();
  return state;
}

Status BluezBonding::pair(const std::string& address) {
  std::lock_guard<std::mutex> lock(core_->adapterOperations());
  auto path = core_->devicePathOf(address);
  if (!path) return Status(ErrorKind::kNotFound, "Device1.Pair: device not known");
  return core_->call(*path, kDevice, "Pair", nullptr, false, core_->options().pairTimeout).status();
}

Status BluezBonding::setTrusted(const std::string& address, bool trusted) {
  std::lock_guard<std::mutex> lock(core_->adapterOperations());
  auto path = core_->devicePathOf(address);
  if (!path) return Status(ErrorKind::kNotFound, "Device1.Trusted: device not known");
  return core_->call(*path, "org.freedesktop.DBus.Properties", "Set", [trusted](sdbus::MethodCall& m) {
                 m << std::string(kDevice) << std::string("Trusted") << sdbus::Variant(trusted);
               }).status();
}

}  // namespace rpm::bluez
