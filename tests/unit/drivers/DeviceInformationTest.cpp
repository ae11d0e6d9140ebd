#include "drivers/device_information/DeviceInformationParser.h"
#include "tests/unit/drivers/DecoderTestSupport.h"

using namespace rpm;
using namespace rpm::test;
using namespace rpm::drivers::device_information;

namespace {
DecodedPayload fields(std::uint16_t characteristic, const std::string& payload) {
  auto r = decode(characteristic, hex(payload), decoderContext());
  REQUIRE(r.isOk());
  CHECK(r->readings.empty());
  return *r;
}
}  // namespace

TEST_CASE("Date Time decodes, including the unknown date", "[unit][device_information]") {
  CHECK(fieldValue(fields(kDateTime, "E8 07 05 06 08 09 0A"), "date-time") == "2024-05-06T08:09:10");
  CHECK(fieldValue(fields(kDateTime, "00 00 00 00 00 00 00"), "date-time") == "unknown");
  CHECK(fieldValue(fields(kDateTime, "30 06 01 01 00 00 00"), "date-time") == "1584-01-01T00:00:00");
}

TEST_CASE("Current Time decodes with day of week, fractions and adjust reason", "[unit][device_information]") {
  // Monday 2024-05-06 08:09:10 + 128/256 s, manual update + DST change.
  auto p = fields(kCurrentTime, "E8 07 05 06 08 09 0A 01 80 09");
  CHECK(fieldValue(p, "date-time") == "2024-05-06T08:09:10");
  CHECK(fieldValue(p, "day-of-week") == "monday");
  CHECK(fieldValue(p, "fractions256") == "128");
  CHECK(fieldValue(p, "adjust-reason") == "manual-time-update, change-of-dst");
  auto ct = parseCurrentTime(hex("E8 07 05 06 08 09 0A 07 FF 00"));
  REQUIRE(ct.isOk());
  CHECK(ct->dayOfWeek == 7);
  CHECK(ct->time.fractions256 == 255);
  CHECK(fieldValue(fields(kCurrentTime, "E8 07 05 06 08 09 0A 00 00 00"), "adjust-reason") == "none");
}

TEST_CASE("Device Information strings decode as UTF-8 with trailing NULs stripped", "[unit][device_information]") {
  CHECK(fieldValue(fields(kManufacturerName, "41 43 4D 45"), "manufacturer-name") == "ACME");
  CHECK(fieldValue(fields(kModelNumber, "42 50 2D 31 30 30 00 00"), "model-number") == "BP-100");
  CHECK(fieldValue(fields(kSerialNumber, "53 4E 30 30 30 31"), "serial-number") == "SN0001");
  CHECK(fieldValue(fields(kHardwareRevision, "31"), "hardware-revision") == "1");
  CHECK(fieldValue(fields(kFirmwareRevision, "C3 A9"), "firmware-revision") == "\xC3\xA9");
  CHECK(fieldValue(fields(kSoftwareRevision, ""), "software-revision") == "");
}

TEST_CASE("System ID keeps the over-the-air byte order", "[unit][device_information]") {
  // PHD IG example: BT address B0-49-5F-00-10-71 -> SYSID 71-10-00-FE-FF-5F-49-B0.
  CHECK(fieldValue(fields(kSystemId, "71 10 00 FE FF 5F 49 B0"), "system-id") == "71-10-00-FE-FF-5F-49-B0");
}

TEST_CASE("PnP ID and battery level decode", "[unit][device_information]") {
  auto p = fields(kPnpId, "01 59 00 34 12 01 00");
  CHECK(fieldValue(p, "vendor-id-source") == "bluetooth-sig");
  CHECK(fieldValue(p, "vendor-id") == "0x0059");
  CHECK(fieldValue(p, "product-id") == "0x1234");
  CHECK(fieldValue(p, "product-version") == "0x0001");
  CHECK(fieldValue(fields(kPnpId, "02 6B 1D 46 02 00 01"), "vendor-id-source") == "usb-if");
  CHECK(fieldValue(fields(kBatteryLevel, "64"), "battery-level") == "100 %");
  CHECK(fieldValue(fields(kBatteryLevel, "00"), "battery-level") == "0 %");
}

TEST_CASE("Malformed device information values are typed errors naming the problem", "[unit][device_information]") {
  requireMalformed(decode, kDateTime, "E8 07 05", "Date Time (0x2A08): too short for the date time");
  requireMalformed(decode, kDateTime, "E8 07 04 1F 00 00 00", "Date Time (0x2A08): impossible date or time in the date time");
  requireMalformed(decode, kDateTime, "E8 07 05 06 08 09 0A 00", "Date Time (0x2A08): unexpected trailing bytes");
  const std::string ct = "Current Time (0x2A2B): ";
  requireMalformed(decode, kCurrentTime, "E8 07 05 06 08 09 0A 01 80",
                   ct + "too short for the day of week, fractions and adjust reason");
  requireMalformed(decode, kCurrentTime, "E8 07 05 06 08 09 0A 08 00 00", ct + "reserved day of week");
  requireMalformed(decode, kCurrentTime, "E8 07 05 06 08 09 0A 01 00 10", ct + "reserved adjust reason bits set");
  requireMalformed(decode, kCurrentTime, "E8 07 05 06 08 09 0A 01 00 00 00", ct + "unexpected trailing bytes");
  requireMalformed(decode, kManufacturerName, "41 FF", "Manufacturer Name String (0x2A29): not valid UTF-8");
  requireMalformed(decode, kModelNumber, "C0 80", "Model Number String (0x2A24): not valid UTF-8");
  requireMalformed(decode, kSerialNumber, "ED A0 80", "Serial Number String (0x2A25): not valid UTF-8");
  requireMalformed(decode, kFirmwareRevision, "E2 82", "Firmware Revision String (0x2A26): not valid UTF-8");
  requireMalformed(decode, kHardwareRevision, "41 00 42", "Hardware Revision String (0x2A27): NUL inside the text");
  requireMalformed(decode, kSystemId, "71 10 00 FE FF 5F 49", "System ID (0x2A23): too short for the system id");
  requireMalformed(decode, kSystemId, "71 10 00 FE FF 5F 49 B0 00", "System ID (0x2A23): unexpected trailing bytes");
  requireMalformed(decode, kPnpId, "01 59 00 34 12 01", "PnP ID (0x2A50): too short for the PnP ID");
  requireMalformed(decode, kPnpId, "03 59 00 34 12 01 00", "PnP ID (0x2A50): reserved vendor id source");
  requireMalformed(decode, kPnpId, "01 59 00 34 12 01 00 00", "PnP ID (0x2A50): unexpected trailing bytes");
  requireMalformed(decode, kBatteryLevel, "", "Battery Level (0x2A19): empty value");
  requireMalformed(decode, kBatteryLevel, "65", "Battery Level (0x2A19): reserved battery level above 100 percent");
  requireMalformed(decode, kBatteryLevel, "64 00", "Battery Level (0x2A19): unexpected trailing bytes");
}
