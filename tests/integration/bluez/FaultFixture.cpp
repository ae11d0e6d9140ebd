#include "FaultFixture.h"

#include <sdbus-c++/sdbus-c++.h>

namespace rpm::test {
namespace {
constexpr const char* kControl = "org.rpmgateway.Emulator1";
}

EmulatorFaults::EmulatorFaults()
    : connection_(sdbus::createSystemBusConnection()),
      control_(sdbus::createProxy(*connection_, "org.bluez", "/org/rpmgateway/emulator")),
      bus_(sdbus::createProxy(*connection_, "org.freedesktop.DBus", "/org/freedesktop/DBus")) {}

EmulatorFaults::~EmulatorFaults() = default;

void EmulatorFaults::restartDaemon(std::uint32_t downMs) {
  control_->callMethod("RestartDaemon").onInterface(kControl).withArguments(downMs);
}
void EmulatorFaults::setAdapterPresent(bool present) {
  control_->callMethod("SetAdapterPresent").onInterface(kControl).withArguments(present);
}
void EmulatorFaults::setAdapterPowerLoss(bool lost, bool blocked) {
  control_->callMethod("SetAdapterPowerLoss").onInterface(kControl).withArguments(lost, blocked);
}
void EmulatorFaults::setScannerSilent(bool silent, const std::string& clearedBy) {
  control_->callMethod("SetScannerSilent").onInterface(kControl).withArguments(silent, clearedBy);
}
void EmulatorFaults::setFaultAfterRecords(const std::string& address, std::int32_t records, const std::string& fault,
                                          std::uint32_t ms) {
  control_->callMethod("SetFaultAfterRecords").onInterface(kControl).withArguments(address, records, fault, ms);
}
std::map<std::string, std::uint32_t> EmulatorFaults::counters() {
  std::map<std::string, std::uint32_t> out;
  control_->callMethod("GetFaultCounters").onInterface(kControl).storeResultsTo(out);
  return out;
}
std::string EmulatorFaults::bluezOwner() {
  try {
    std::string owner;
    bus_->callMethod("GetNameOwner").onInterface("org.freedesktop.DBus").withArguments(std::string("org.bluez"))
        .storeResultsTo(owner);
    return owner;
  } catch (const sdbus::Error&) {
    return "";
  }
}

}  // namespace rpm::test
