// Stateful fakes of the BLE ports (BleAdapter, BleDevice,
// GattCharacteristic) for unit tests of higher layers, with knobs:
// slowness (each call advances a FakeClock), failures per method, link drops,
// authorization, and scripted device responses to writes.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/ports/BleAdapter.h"
#include "tests/support/FakeClock.h"

namespace rpm::test {

class FakeBleDevice;

class FakeGattCharacteristic final : public ble::GattCharacteristic {
 public:
  FakeGattCharacteristic(FakeBleDevice& device, std::string serviceUuid, std::string uuid,
                         std::vector<std::string> flags, std::vector<std::uint8_t> value);
  const std::string& uuid() const override { return uuid_; }
  const std::string& serviceUuid() const override { return serviceUuid_; }
  std::vector<std::string> flags() const override { return flags_; }
  Result<std::vector<std::uint8_t>> read() override;
  Status write(const std::vector<std::uint8_t>& value, ble::WriteType type) override;
  Status startNotify() override;
  Status stopNotify() override;

  bool notifying() const { return notifying_; }
  const std::vector<std::vector<std::uint8_t>>& writes() const { return writes_; }
  // Scripted device behaviour on a write (e.g. a RACP procedure).
  std::function<void(const std::vector<std::uint8_t>&)> onWrite;
  std::vector<std::uint8_t> value;

 private:
  FakeBleDevice& device_;
  std::string serviceUuid_, uuid_;
  std::vector<std::string> flags_;
  bool notifying_ = false;
  std::vector<std::vector<std::uint8_t>> writes_;
};

class FakeBleDevice final : public ble::BleDevice {
 public:
  FakeBleDevice(std::string address, FakeClock& clock);
  const std::string& address() const override { return address_; }
  ble::DeviceSnapshot snapshot() const override;
  Status connect() override;
  Status waitServicesResolved(std::chrono::milliseconds timeout) override;
  Status disconnect() override;
  Status pair() override;
  Result<std::shared_ptr<ble::GattCharacteristic>> characteristic(const std::string& serviceUuid,
                                                                  const std::string& characteristicUuid) override;
  void setValueHandler(ble::ValueHandler handler) override;
  void setLinkHandler(ble::LinkHandler handler) override;

  // Builds the device's GATT database.
  std::shared_ptr<FakeGattCharacteristic> addCharacteristic(std::uint16_t service, std::uint16_t characteristic,
                                                            std::vector<std::string> flags,
                                                            std::vector<std::uint8_t> value = {});
  std::shared_ptr<FakeGattCharacteristic> get(std::uint16_t service, std::uint16_t characteristic);
  // The device sends a notification/indication; dropped unless subscribed (like a CCC).
  void send(std::uint16_t service, std::uint16_t characteristic, const std::vector<std::uint8_t>& value);
  // The link drops (device walked away, battery, link loss).
  void dropLink();

  // Knobs.
  std::chrono::milliseconds latency{0};                // each call advances the clock by this
  std::map<std::string, std::vector<Status>> failures;  // method -> statuses returned by the next calls
  bool authorized = true;                              // false: reads/writes fail NotPermitted "Not paired"
  bool resolves = true;                                // false: ServicesResolved never comes
  std::map<std::string, int> calls;                    // method -> count

  Status enter(const char* method);
  bool connected() const { return connected_; }

 private:
  friend class FakeGattCharacteristic;
  std::string address_;
  FakeClock& clock_;
  bool connected_ = false;
  std::vector<std::shared_ptr<FakeGattCharacteristic>> characteristics_;
  mutable std::mutex handlerMutex_;
  ble::ValueHandler valueHandler_;
  ble::LinkHandler linkHandler_;
};

class FakeBleAdapter final : public ble::BleAdapter {
 public:
  explicit FakeBleAdapter(FakeClock& clock) : clock_(clock) {}
  Status ready() const override { return powered ? Status::ok() : Status(ErrorKind::kUnavailable, "fake: unpowered"); }
  Status startDiscovery(const ble::DiscoveryFilter& filter) override;
  Status stopDiscovery() override;
  std::vector<ble::DeviceSnapshot> devices() const override;
  Result<ble::DeviceSnapshot> waitForDevice(const std::string& address, std::chrono::milliseconds timeout) override;
  Result<std::shared_ptr<ble::BleDevice>> device(const std::string& address) override;
  Status removeDevice(const std::string& address) override;

  std::shared_ptr<FakeBleDevice> addDevice(const std::string& address);
  bool powered = true;
  bool discovering = false;
  ble::DiscoveryFilter lastFilter;
  std::map<std::string, int> deviceLookups;  // address -> device() calls

 private:
  FakeClock& clock_;
  std::map<std::string, std::shared_ptr<FakeBleDevice>> devices_;
};

}  // namespace rpm::test
