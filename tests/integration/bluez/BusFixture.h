// Test fixture: a private dbus-daemon, the BlueZ emulator on it, and a
// control handle to the emulator's org.rpmgateway.Emulator1 interface.
// Every wait is bounded and waits on a readiness signal (the daemon printing
// its address, org.bluez getting an owner), never on a fixed sleep.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sdbus {
class IConnection;
class IProxy;
}  // namespace sdbus

namespace rpm::test {

class PrivateBus {
 public:
  // Starts dbus-daemon on a socket in a fresh temp dir and points
  // DBUS_SYSTEM_BUS_ADDRESS at it. Throws std::runtime_error if it does not come up.
  PrivateBus();
  ~PrivateBus();
  const std::string& address() const { return address_; }
  const std::string& dir() const { return dir_; }
  // Kills the daemon (the "bus dies" fault).
  void kill();
  // Starts a new daemon on the same address after kill() (the bus comes back).
  void restart();

 private:
  void start();
  pid_t pid_ = -1;
  std::string dir_, address_;
};

class Emulator {
 public:
  // Writes the scenario, starts bluez-emulator and waits until org.bluez is owned.
  Emulator(const PrivateBus& bus, const nlohmann::json& scenario);
  ~Emulator();
  void kill();  // SIGKILL: bluetoothd crashing
  // Control calls (org.rpmgateway.Emulator1).
  void setAdvertising(const std::string& address, bool on);
  void injectError(const std::string& target, const std::string& method, const std::string& errorName,
                   const std::string& message, std::uint32_t count = 1);
  void setResponseDelay(const std::string& address, std::uint32_t ms);
  void setDisconnectAfterRecords(const std::string& address, std::int32_t n);
  void sendValue(const std::string& address, const std::string& charUuid, const std::vector<std::uint8_t>& value);
  void addGlucoseRecords(const std::string& address, const nlohmann::json& records);
  void setGlucoseRecords(const std::string& address, const nlohmann::json& records);
  std::map<std::string, std::uint32_t> counters(const std::string& address);
  // Heart-rate / PLX continuous stream on or off (the link stays up).
  void setStreaming(const std::string& address, bool on);

 private:
  pid_t pid_ = -1;
  std::unique_ptr<sdbus::IConnection> connection_;
  std::unique_ptr<sdbus::IProxy> control_;
};

// True when `name` has an owner on the bus at `address`, polled until `timeout`.
bool waitForName(const std::string& address, const std::string& name, bool owned, std::chrono::milliseconds timeout);

}  // namespace rpm::test
