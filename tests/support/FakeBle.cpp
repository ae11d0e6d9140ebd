#include "tests/support/FakeBle.h"

#include <algorithm>

namespace rpm::test {

FakeGattCharacteristic::FakeGattCharacteristic(FakeBleDevice& device, std::string serviceUuid, std::string uuid,
                                               std::vector<std::string> flags, std::vector<std::uint8_t> initial)
    : value(std::move(initial)),
      device_(device),
      serviceUuid_(std::move(serviceUuid)),
      uuid_(std::move(uuid)),
      flags_(std::move(flags)) {}

Result<std::vector<std::uint8_t>> FakeGattCharacteristic::read() {
  Status s = device_.enter("ReadValue");
  if (!s.isOk()) return s;
  return value;
}

Status FakeGattCharacteristic::write(const std::vector<std::uint8_t>& bytes, ble::WriteType) {
  Status s = device_.enter("WriteValue");
  if (!s.isOk()) return s;
  writes_.push_back(bytes);
  if (onWrite) onWrite(bytes);
  return Status::ok();
}

Status FakeGattCharacteristic::startNotify() {
  // BlueZ: StartNotify while disconnected succeeds and is armed later (§4.2).
  ++device_.calls["StartNotify"];
  device_.clock_.advance(device_.latency);
  auto f = device_.failures.find("StartNotify");
  if (f != device_.failures.end() && !f->second.empty()) {
    Status s = f->second.front();
    f->second.erase(f->second.begin());
    return s;
  }
  notifying_ = true;
  return Status::ok();
}

Status FakeGattCharacteristic::stopNotify() {
  if (!notifying_) return Status(ErrorKind::kUnavailable, "fake: No notify session started");
  notifying_ = false;
  return Status::ok();
}

FakeBleDevice::FakeBleDevice(std::string address, FakeClock& clock) : address_(std::move(address)), clock_(clock) {}

Status FakeBleDevice::enter(const char* method) {
  ++calls[method];
  clock_.advance(latency);
  auto f = failures.find(method);
  if (f != failures.end() && !f->second.empty()) {
    Status s = f->second.front();
    f->second.erase(f->second.begin());
    return s;
  }
  std::string m = method;
  if ((m == "ReadValue" || m == "WriteValue")) {
    if (!connected_) return Status(ErrorKind::kUnavailable, "fake: Failed \"Not connected\"");
    if (!authorized) return Status(ErrorKind::kForbidden, "fake: NotPermitted \"Not paired\"");
  }
  if (m == "Pair" && !authorized) return Status(ErrorKind::kUnauthorized, "fake: AuthenticationFailed");
  return Status::ok();
}

ble::DeviceSnapshot FakeBleDevice::snapshot() const {
  ble::DeviceSnapshot s;
  s.address = address_;
  s.addressType = "public";
  s.connected = connected_;
  s.servicesResolved = connected_ && resolves;
  s.paired = authorized;
  s.bonded = authorized;
  return s;
}

Status FakeBleDevice::connect() {
  Status s = enter("Connect");
  if (!s.isOk()) return s;
  bool was = connected_;
  connected_ = true;
  if (!was) {
    ble::LinkHandler h;
    {
      std::lock_guard<std::mutex> lock(handlerMutex_);
      h = linkHandler_;
    }
    if (h) h(true);
  }
  return Status::ok();
}

Status FakeBleDevice::waitServicesResolved(std::chrono::milliseconds timeout) {
  ++calls["WaitServicesResolved"];
  if (!connected_) return Status(ErrorKind::kUnavailable, "fake: link down");
  if (!resolves) {
    clock_.advance(timeout);
    return Status(ErrorKind::kTimeout, "fake: not resolved in time");
  }
  return Status::ok();
}

Status FakeBleDevice::disconnect() {
  Status s = enter("Disconnect");
  if (!s.isOk()) return s;
  if (connected_) dropLink();
  return Status::ok();
}

Status FakeBleDevice::pair() { return enter("Pair"); }

Result<std::shared_ptr<ble::GattCharacteristic>> FakeBleDevice::characteristic(const std::string& serviceUuid,
                                                                              const std::string& characteristicUuid) {
  for (const auto& c : characteristics_) {
    if (c->serviceUuid() == serviceUuid && c->uuid() == characteristicUuid) {
      return std::shared_ptr<ble::GattCharacteristic>(c);
    }
  }
  return Status(ErrorKind::kNotFound, "fake: no such characteristic");
}

void FakeBleDevice::setValueHandler(ble::ValueHandler handler) {
  std::lock_guard<std::mutex> lock(handlerMutex_);
  valueHandler_ = std::move(handler);
}

void FakeBleDevice::setLinkHandler(ble::LinkHandler handler) {
  std::lock_guard<std::mutex> lock(handlerMutex_);
  linkHandler_ = std::move(handler);
}

std::shared_ptr<FakeGattCharacteristic> FakeBleDevice::addCharacteristic(std::uint16_t service,
                                                                         std::uint16_t characteristic,
                                                                         std::vector<std::string> flags,
                                                                         std::vector<std::uint8_t> value) {
  auto c = std::make_shared<FakeGattCharacteristic>(*this, ble::sigUuid(service), ble::sigUuid(characteristic),
                                                    std::move(flags), std::move(value));
  characteristics_.push_back(c);
  return c;
}

std::shared_ptr<FakeGattCharacteristic> FakeBleDevice::get(std::uint16_t service, std::uint16_t characteristic) {
  for (const auto& c : characteristics_) {
    if (c->serviceUuid() == ble::sigUuid(service) && c->uuid() == ble::sigUuid(characteristic)) return c;
  }
  return nullptr;
}

void FakeBleDevice::send(std::uint16_t service, std::uint16_t characteristic, const std::vector<std::uint8_t>& value) {
  auto c = get(service, characteristic);
  if (!connected_ || !c || !c->notifying()) return;
  ble::ValueHandler h;
  {
    std::lock_guard<std::mutex> lock(handlerMutex_);
    h = valueHandler_;
  }
  if (h) h(ble::CharacteristicValue{c->serviceUuid(), c->uuid(), value, clock_.now()});
}

void FakeBleDevice::dropLink() {
  connected_ = false;
  ble::LinkHandler h;
  {
    std::lock_guard<std::mutex> lock(handlerMutex_);
    h = linkHandler_;
  }
  if (h) h(false);
}

Status FakeBleAdapter::startDiscovery(const ble::DiscoveryFilter& filter) {
  if (!powered) return Status(ErrorKind::kUnavailable, "fake: NotReady");
  lastFilter = filter;
  discovering = true;
  return Status::ok();
}

Status FakeBleAdapter::stopDiscovery() {
  discovering = false;
  return Status::ok();
}

std::vector<ble::DeviceSnapshot> FakeBleAdapter::devices() const {
  std::vector<ble::DeviceSnapshot> out;
  for (const auto& [a, d] : devices_) out.push_back(d->snapshot());
  return out;
}

Result<ble::DeviceSnapshot> FakeBleAdapter::waitForDevice(const std::string& address, std::chrono::milliseconds timeout) {
  auto it = devices_.find(address);
  if (it == devices_.end()) {
    clock_.advance(timeout);
    return Status(ErrorKind::kTimeout, "fake: device not seen");
  }
  return it->second->snapshot();
}

Result<std::shared_ptr<ble::BleDevice>> FakeBleAdapter::device(const std::string& address) {
  ++deviceLookups[address];
  auto it = devices_.find(address);
  if (it == devices_.end()) return Status(ErrorKind::kNotFound, "fake: unknown device");
  return std::shared_ptr<ble::BleDevice>(it->second);
}

Status FakeBleAdapter::removeDevice(const std::string& address) {
  devices_.erase(address);
  return Status::ok();
}

std::shared_ptr<FakeBleDevice> FakeBleAdapter::addDevice(const std::string& address) {
  auto d = std::make_shared<FakeBleDevice>(address, clock_);
  devices_[address] = d;
  return d;
}

}  // namespace rpm::test
