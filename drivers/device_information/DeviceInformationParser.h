// Device Information (0x180A), Current Time (0x1805) and Battery (0x180F):
// Date Time 0x2A08, Current Time 0x2A2B, Manufacturer Name 0x2A29, Model
// Number 0x2A24, Serial Number 0x2A25, Hardware 0x2A27, Firmware 0x2A26 and
// Software 0x2A28 Revision, System ID 0x2A23, PnP ID 0x2A50, Battery Level
// 0x2A19. Layouts: shared health-devices-to-fhir.md §1.2 and §2.3. These
// describe the device: they yield DecodedPayload.fields, never readings.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "gateway/ports/Driver.h"

namespace rpm::drivers::device_information {

inline constexpr std::uint16_t kDateTime = 0x2A08;
inline constexpr std::uint16_t kCurrentTime = 0x2A2B;
inline constexpr std::uint16_t kManufacturerName = 0x2A29;
inline constexpr std::uint16_t kModelNumber = 0x2A24;
inline constexpr std::uint16_t kSerialNumber = 0x2A25;
inline constexpr std::uint16_t kHardwareRevision = 0x2A27;
inline constexpr std::uint16_t kFirmwareRevision = 0x2A26;
inline constexpr std::uint16_t kSoftwareRevision = 0x2A28;
inline constexpr std::uint16_t kSystemId = 0x2A23;
inline constexpr std::uint16_t kPnpId = 0x2A50;
inline constexpr std::uint16_t kBatteryLevel = 0x2A19;

struct CurrentTime {
  LocalDateTime time;         // with fractions256
  std::uint8_t dayOfWeek = 0;  // 1 Monday .. 7 Sunday, 0 unknown
  std::uint8_t adjustReason = 0;
};

struct PnpId {
  std::uint8_t vendorIdSource = 0;  // 1 Bluetooth SIG, 2 USB-IF
  std::uint16_t vendorId = 0;
  std::uint16_t productId = 0;
  std::uint16_t productVersion = 0;
};

// Typed parsers for the BLE client; kMalformedPayload as decode() reports.
Result<LocalDateTime> parseDateTime(const std::vector<std::uint8_t>& bytes);
Result<CurrentTime> parseCurrentTime(const std::vector<std::uint8_t>& bytes);
// UTF-8 text with trailing NULs stripped; invalid UTF-8 is malformed.
Result<std::string> parseDisString(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes);
// The 8 bytes in over-the-air order (the PHD IG SYSID example's order).
Result<std::array<std::uint8_t, 8>> parseSystemId(const std::vector<std::uint8_t>& bytes);
// "71-10-00-FE-FF-5F-49-B0": over-the-air order, upper case, dashes.
std::string systemIdText(const std::array<std::uint8_t, 8>& id);
Result<PnpId> parsePnpId(const std::vector<std::uint8_t>& bytes);
// 0..100 percent; 101..255 reserved (malformed).
Result<std::uint8_t> parseBatteryLevel(const std::vector<std::uint8_t>& bytes);

Result<DecodedPayload> decode(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                              const DecodeContext& context);

}  // namespace rpm::drivers::device_information
