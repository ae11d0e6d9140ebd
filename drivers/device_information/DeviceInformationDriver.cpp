// Descriptor of the device information driver (DIS, CTS, battery).
#include "drivers/device_information/DeviceInformationParser.h"

namespace rpm::drivers::device_information {

const DriverDescriptor& descriptor() {
  static const DriverDescriptor d = [] {
    DriverDescriptor x;
    x.name = "device_information";
    x.transport = Transport::kBle;
    x.summary = "Device Information, Current Time and Battery: identity, clock and battery fields, no readings";
    x.serviceUuids = {0x180A, 0x1805, 0x180F};
    x.characteristics = {kDateTime,         kCurrentTime,      kManufacturerName, kModelNumber,
                         kSerialNumber,     kHardwareRevision, kFirmwareRevision, kSoftwareRevision,
                         kSystemId,         kPnpId,            kBatteryLevel};
    x.decode = &decode;
    return x;
  }();
  return d;
}

}  // namespace rpm::drivers::device_information
