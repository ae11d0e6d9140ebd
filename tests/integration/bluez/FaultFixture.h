// Control of the emulator's bluetoothd/adapter faults (Faults.cpp through
// org.rpmgateway.Emulator1) on its own connection. Calls go to the well-known
// name org.bluez, so they reach the emulator again after it restarted under a
// new unique name.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace sdbus {
class IConnection;
class IProxy;
}  // namespace sdbus

namespace rpm::test {

class EmulatorFaults {
 public:
  EmulatorFaults();
  ~EmulatorFaults();
  void restartDaemon(std::uint32_t downMs);
  void setAdapterPresent(bool present);
  void setAdapterPowerLoss(bool lost, bool blocked);
  // clearedBy: "restart_discovery", "power_cycle" or "never".
  void setScannerSilent(bool silent, const std::string& clearedBy);
  // fault: "restart", "power_loss" or "adapter_removed"; back after ms.
  void setFaultAfterRecords(const std::string& address, std::int32_t records, const std::string& fault,
                            std::uint32_t ms);
  std::map<std::string, std::uint32_t> counters();
  // The unique name owning org.bluez now ("" when none).
  std::string bluezOwner();

 private:
  std::unique_ptr<sdbus::IConnection> connection_;
  std::unique_ptr<sdbus::IProxy> control_, bus_;
};

}  // namespace rpm::test
