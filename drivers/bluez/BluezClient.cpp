// The port implementations over BluezCore, one thin class per BlueZ
// interface (Chromium device/bluetooth's split): Adapter1, Device1,
// GattCharacteristic1.
#include "drivers/bluez/BluezClient.h"

#include <sdbus-c++/sdbus-c++.h>

#include "drivers/bluez/BluezAgent.h"
#include "drivers/bluez/BluezCore.h"
#include "drivers/bluez/BluezDiscovery.h"
#include "drivers/bluez/BluezRecovery.h"
#include "gateway/log/Log.h"

namespace rpm::bluez {
namespace {

constexpr const char* kAdapter = "org.bluez.Adapter1";
constexpr const char* kDevice = "org.bluez.Device1";
constexpr const char* kCharacteristic = "org.bluez.GattCharacteristic1";

// Why a device object is missing: the bus, bluetoothd, or the object itself.
Status gone(const BluezCore& core, const char* what) {
  if (!core.busAlive()) return Status(ErrorKind::kUnavailable, std::string(what) + ": D-Bus connection lost");
  if (!core.bluezPresent()) return Status(ErrorKind::kUnavailable, std::string(what) + ": bluetoothd not on the bus");
  return Status(ErrorKind::kNotFound, std::string(what) + ": device object gone");
}

class BluezCharacteristic final : public ble::GattCharacteristic {
 public:
  BluezCharacteristic(std::shared_ptr<BluezCore> core, std::string path, std::string uuid, std::string serviceUuid)
      : core_(std::move(core)), path_(std::move(path)), uuid_(std::move(uuid)), serviceUuid_(std::move(serviceUuid)) {}

  const std::string& uuid() const override { return uuid_; }
  const std::string& serviceUuid() const override { return serviceUuid_; }
  std::vector<std::string> flags() const override {
    auto obj = core_->object(path_);
    return obj ? obj->flags : std::vector<std::string>{};
  }

  Result<std::vector<std::uint8_t>> read() override {
    std::lock_guard<std::mutex> lock(core_->adapterOperations());
    // ReadValue(a{sv}): no options; an empty dict still has to be sent (§4.2).
    return core_->call(path_, kCharacteristic, "ReadValue",
                       [](sdbus::MethodCall& m) { m << std::map<std::string, sdbus::Variant>{}; }, true);
  }

  Status write(const std::vector<std::uint8_t>& value, ble::WriteType type) override {
    std::lock_guard<std::mutex> lock(core_->adapterOperations());
    std::map<std::string, sdbus::Variant> options;
    if (type == ble::WriteType::kRequest) options["type"] = sdbus::Variant(std::string("request"));
    if (type == ble::WriteType::kCommand) options["type"] = sdbus::Variant(std::string("command"));
    auto r = core_->call(path_, kCharacteristic, "WriteValue", [value, options](sdbus::MethodCall& m) {
      m << value << options;
    });
    return r.status();
  }

  Status startNotify() override {
    std::lock_guard<std::mutex> lock(core_->adapterOperations());
    return core_->call(path_, kCharacteristic, "StartNotify", nullptr).status();
  }

  Status stopNotify() override {
    std::lock_guard<std::mutex> lock(core_->adapterOperations());
    auto s = core_->call(path_, kCharacteristic, "StopNotify", nullptr).status();
    return s;
  }

 private:
  std::shared_ptr<BluezCore> core_;
  std::string path_, uuid_, serviceUuid_;
};

class BluezDevice final : public ble::BleDevice {
 public:
  BluezDevice(std::shared_ptr<BluezCore> core, std::string address, std::string path)
      : core_(std::move(core)), address_(std::move(address)), path_(std::move(path)) {}

  const std::string& address() const override { return address_; }

  ble::DeviceSnapshot snapshot() const override {
    auto obj = core_->object(path_);
    if (!obj) {
      ble::DeviceSnapshot s;
      s.address = address_;
      return s;
    }
    return obj->device;
  }

  Status connect() override {
    std::lock_guard<std::mutex> lock(core_->adapterOperations());
    if (!core_->object(path_)) return gone(*core_, "Device1.Connect");
    return core_->call(path_, kDevice, "Connect", nullptr).status();
  }

  Status waitServicesResolved(std::chrono::milliseconds timeout) override {
    auto start = core_->object(path_);
    if (!start) return gone(*core_, "Device1.ServicesResolved");
    std::uint64_t drops = start->linkDrops;
    const std::string path = path_;
    auto* core = core_.get();
    bool done = core_->waitFor(timeout, [core, &path, drops] {
      if (core->busLostLocked() || !core->bluezPresentLocked()) return true;
      auto it = core->mirrorLocked().find(path);
      if (it == core->mirrorLocked().end()) return true;
      return it->second.device.servicesResolved || it->second.linkDrops != drops;
    });
    if (!done) return Status(ErrorKind::kTimeout, "Device1.ServicesResolved: not resolved in time");
    auto now = core_->object(path_);
    if (!core_->busAlive()) return Status(ErrorKind::kUnavailable, "Device1.ServicesResolved: D-Bus connection lost");
    if (!now) return Status(ErrorKind::kUnavailable, "Device1.ServicesResolved: device or bluetoothd gone");
    if (now->linkDrops != drops || !now->device.servicesResolved) {
      return Status(ErrorKind::kUnavailable, "Device1.ServicesResolved: link dropped before services resolved");
    }
    return Status::ok();
  }

  Status disconnect() override {
    std::lock_guard<std::mutex> lock(core_->adapterOperations());
    if (!core_->object(path_)) return Status::ok();  // nothing to disconnect
    auto s = core_->call(path_, kDevice, "Disconnect", nullptr).status();
    if (!s.isOk()) return s;
    // Connected=false may be signalled just after the reply; wait for it so
    // callers see a settled state (§3.4).
    const std::string path = path_;
    auto* core = core_.get();
    core_->waitFor(core_->options().callTimeout, [core, &path] {
      auto it = core->mirrorLocked().find(path);
      return core->busLostLocked() || it == core->mirrorLocked().end() || !it->second.device.connected;
    });
    return Status::ok();
  }

  Status pair() override {
    std::lock_guard<std::mutex> lock(core_->adapterOperations());
    if (!core_->object(path_)) return gone(*core_, "Device1.Pair");
    return core_->call(path_, kDevice, "Pair", nullptr, false, core_->options().pairTimeout).status();
  }

  Result<std::shared_ptr<ble::GattCharacteristic>> characteristic(const std::string& serviceUuid,
                                                                  const std::string& characteristicUuid) override {
    auto objects = core_->objectsUnder(path_ + "/");
    std::map<std::string, std::string> serviceUuids;
    for (const auto& [path, obj] : objects) {
      if (obj.isService) serviceUuids[path] = obj.uuid;
    }
    for (const auto& [path, obj] : objects) {
      if (!obj.isCharacteristic || obj.uuid != characteristicUuid) continue;
      auto svc = serviceUuids.find(obj.parent);
      if (svc == serviceUuids.end() || svc->second != serviceUuid) continue;
      return std::shared_ptr<ble::GattCharacteristic>(
          std::make_shared<BluezCharacteristic>(core_, path, obj.uuid, svc->second));
    }
    return Status(ErrorKind::kNotFound, "GATT characteristic not in the resolved database");
  }

  void setValueHandler(ble::ValueHandler handler) override { core_->setValueHandler(path_, std::move(handler)); }
  void setLinkHandler(ble::LinkHandler handler) override { core_->setLinkHandler(path_, std::move(handler)); }

 private:
  std::shared_ptr<BluezCore> core_;
  std::string address_, path_;
};

class BluezAdapter final : public ble::BleAdapter {
 public:
  BluezAdapter(std::shared_ptr<BluezCore> core, std::shared_ptr<BluezDiscovery> discovery)
      : core_(std::move(core)), discovery_(std::move(discovery)) {}

  Status ready() const override {
    if (!core_->busAlive()) return Status(ErrorKind::kUnavailable, "Adapter1: D-Bus connection lost");
    if (!core_->bluezPresent()) return Status(ErrorKind::kUnavailable, "Adapter1: bluetoothd not on the bus");
    auto obj = core_->object(core_->adapterPath());
    if (!obj || !obj->isAdapter) return Status(ErrorKind::kUnavailable, "Adapter1: adapter not present");
    if (!obj->powered) return Status(ErrorKind::kUnavailable, "Adapter1: adapter not powered");
    return Status::ok();
  }

  // The session and its re-arming after bluetoothd/adapter recovery live in BluezDiscovery.
  Status startDiscovery(const ble::DiscoveryFilter& filter) override { return discovery_->start(filter); }
  Status stopDiscovery() override { return discovery_->stop(); }

  std::vector<ble::DeviceSnapshot> devices() const override {
    std::vector<ble::DeviceSnapshot> out;
    for (const auto& [path, obj] : core_->objectsUnder(core_->adapterPath() + "/dev_")) {
      if (obj.isDevice) out.push_back(obj.device);
    }
    return out;
  }

  Result<ble::DeviceSnapshot> waitForDevice(const std::string& address, std::chrono::milliseconds timeout) override {
    auto* core = core_.get();
    bool found = core_->waitFor(timeout, [core, &address] {
      if (core->busLostLocked()) return true;
      for (const auto& [path, obj] : core->mirrorLocked()) {
        if (obj.isDevice && obj.device.address == address) return true;
      }
      return false;
    });
    if (!core_->busAlive()) return Status(ErrorKind::kUnavailable, "Adapter1: D-Bus connection lost");
    auto path = core_->devicePathOf(address);
    if (!found || !path) return Status(ErrorKind::kTimeout, "Adapter1: device not seen in time");
    return core_->object(*path)->device;
  }

  Result<std::shared_ptr<ble::BleDevice>> device(const std::string& address) override {
    auto path = core_->devicePathOf(address);
    if (!path) return Status(ErrorKind::kNotFound, "Adapter1: device not known to bluetoothd");
    return std::shared_ptr<ble::BleDevice>(std::make_shared<BluezDevice>(core_, address, *path));
  }

  Status removeDevice(const std::string& address) override {
    std::lock_guard<std::mutex> lock(core_->adapterOperations());
    auto path = core_->devicePathOf(address);
    if (!path) return Status::ok();
    std::string target = *path;
    return core_->call(core_->adapterPath(), kAdapter, "RemoveDevice", [target](sdbus::MethodCall& m) {
      m << sdbus::ObjectPath(target);
    }).status();
  }

 private:
  std::shared_ptr<BluezCore> core_;
  std::shared_ptr<BluezDiscovery> discovery_;
};

}  // namespace

Result<std::shared_ptr<BluezClient>> BluezClient::connectSystemBus(const BluezClientOptions& options,
                                                                   const Clock& clock) {
  auto core = std::make_shared<BluezCore>(options, clock);
  Status s = core->start();
  if (!s.isOk()) {
    log::error("bluez", "cannot reach the system bus", {log::Field("error", s)});
    return s;
  }
  return std::shared_ptr<BluezClient>(new BluezClient(std::move(core)));
}

BluezClient::BluezClient(std::shared_ptr<BluezCore> core)
    : core_(std::move(core)),
      discovery_(std::make_shared<BluezDiscovery>(core_)),
      adapter_(std::make_shared<BluezAdapter>(core_, discovery_)),
      recovery_(std::make_unique<BluezRecovery>(core_, discovery_, core_->options())),
      bonding_(std::make_shared<BluezBonding>(core_)) {
  recovery_->start();
}

BluezClient::~BluezClient() {
  // The recovery makes blocking calls through the core: it stops first.
  recovery_->stop();
  core_->stop();
}

void BluezClient::setDevicesExpected(std::function<bool()> expected) {
  recovery_->setDevicesExpected(std::move(expected));
}

void BluezClient::setRestoredHandler(std::function<void()> handler) {
  recovery_->setRestoredHandler(std::move(handler));
}

std::uint64_t BluezClient::recoveryPassesForTest() const { return recovery_->passes(); }

BluezHealth BluezClient::health() const {
  BluezHealth h;
  h.counters = core_->counters();
  h.scanner = recovery_->scannerState();
  if (!core_->busAlive()) {
    h.adapter = "bus-lost";
  } else if (!core_->bluezPresent()) {
    h.adapter = "bluetoothd-absent";
  } else if (auto a = core_->object(core_->adapterPath()); !a || !a->isAdapter) {
    h.adapter = "absent";
  } else {
    h.adapter = a->powered ? "ready" : "unpowered";
  }
  return h;
}

bool BluezClient::busAlive() const { return core_->busAlive(); }
bool BluezClient::bluezPresent() const { return core_->bluezPresent(); }

Status BluezClient::waitReady(std::chrono::milliseconds timeout) const {
  auto* core = core_.get();
  std::string adapterPath = core_->adapterPath();
  core_->waitFor(timeout, [core, &adapterPath] {
    if (core->busLostLocked()) return true;
    auto it = core->mirrorLocked().find(adapterPath);
    return core->bluezPresentLocked() && it != core->mirrorLocked().end() && it->second.isAdapter;
  });
  return adapter_->ready();
}

}  // namespace rpm::bluez
