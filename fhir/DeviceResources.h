// Device registry records and the PhdDevice / PhgDevice resources built from
// them (shared health-devices-to-fhir.md §4.4; PHD IG PhdDevice, PhgDevice).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fhir/FhirJson.h"
#include "gateway/model/DeviceKey.h"
#include "gateway/model/Reading.h"
#include "gateway/model/Status.h"

namespace rpm::fhir {

inline constexpr std::string_view kBtMacSystem = "http://hl7.org/fhir/sid/eui-48/bluetooth";
inline constexpr std::string_view kSysIdSystem = "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680";
inline constexpr std::string_view kUriSystem = "urn:ietf:rfc:3986";
inline constexpr std::string_view kContinuaIdTypes = "http://terminology.hl7.org/CodeSystem/ContinuaDeviceIdentifiers";

// Where a record's facts came from.
enum class DeviceInfoSource : std::uint8_t {
  kBleDeviceInformation = 1,  // GATT Device Information Service
  kEnrolment = 2,             // enrolment seed, MQTT payload or template metadata
};

// What the gateway knows about one device. Empty strings are unknown.
struct DeviceRecord {
  DeviceKey key;
  DeviceInfoSource source = DeviceInfoSource::kEnrolment;
  std::string manufacturer;      // DIS 0x2A29
  std::string modelNumber;       // DIS 0x2A24
  std::string serialNumber;      // DIS 0x2A25
  std::string hardwareRevision;  // DIS 0x2A27
  std::string firmwareRevision;  // DIS 0x2A26
  std::string softwareRevision;  // DIS 0x2A28
  std::string systemIdHex;       // DIS 0x2A23, 16 hex digits, over-the-air order; "" if unknown
  std::vector<ReadingKind> kinds;  // what it measures: gives Device.specialization
};

// Fills a record from one Device Information Service value (BLE):
// 0x2A29 manufacturer, 0x2A24 model, 0x2A25 serial, 0x2A27 hardware,
// 0x2A26 firmware, 0x2A28 software revision (UTF-8 strings, trailing NULs
// dropped) and 0x2A23 System ID (8 octets, kept in over-the-air order).
// kMalformedPayload for a System ID that is not 8 octets, kUnsupported for
// another characteristic.
Status applyDeviceInformation(DeviceRecord& record, std::uint16_t characteristic,
                              const std::vector<std::uint8_t>& value);

// One Device identifier (system + value) and its Continua type code ("" none).
struct DeviceIdentifier {
  std::string system;
  std::string value;
  std::string typeCode;  // "BTMAC", "SYSID" or ""
};

// Identifiers of a device, the conditional-create key first: SYSID when the
// System ID is known, the Bluetooth address (BTMAC) for BLE, and for MQTT
// identities urn:ietf:rfc:3986 "urn:uuid:<UUIDv5 of the canonical key>".
std::vector<DeviceIdentifier> deviceIdentifiers(const DeviceRecord& record);

// The hub: identified by its Bluetooth controller address when configured,
// else by urn:uuid:UUIDv5("urn:rpm-gateway:hub:<hub.id>").
struct HubRecord {
  std::string hubId;             // hub.id
  std::string bluetoothAddress;  // hub.bluetooth_address ("" if none)
  std::string softwareVersion;   // gateway version
};
std::vector<DeviceIdentifier> hubIdentifiers(const HubRecord& hub);

// MDC specialization code for a reading kind (528391 BP, ...), 0 if none.
std::uint32_t specializationForKind(ReadingKind kind);

// PhdDevice resource (no id; the uplink uses conditional create).
Json buildPhdDevice(const DeviceRecord& record);
// PhgDevice resource for the hub.
Json buildPhgDevice(const HubRecord& hub);

// "identifier=<system>|<value>" for request.ifNoneExist.
std::string identifierSearch(const DeviceIdentifier& id);

// request.ifNoneExist of a device's or the hub's Device: its first identifier.
std::string deviceIfNoneExist(const DeviceRecord& record);
std::string hubIfNoneExist(const HubRecord& hub);

}  // namespace rpm::fhir
