#include "fhir/DeviceResources.h"

#include <algorithm>
#include <cctype>

#include "gateway/identity/Identifiers.h"
#include "fhir/MappingTable.h"

namespace rpm::fhir {
namespace {

// "B0495F001071" -> "B0-49-5F-00-10-71".
std::string dashedHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (i) out.push_back('-');
    out.append(hex, i, 2);
  }
  return out;
}

std::string upperHexNoSeparators(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (std::isxdigit(static_cast<unsigned char>(c))) out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

Json mdcCoding(std::uint32_t code, std::string_view display) {
  Json c;
  c["system"] = kMdcSystem;
  c["code"] = std::to_string(code);
  if (!display.empty()) c["display"] = display;
  return c;
}

Json identifierJson(const DeviceIdentifier& id) {
  Json j;
  if (!id.typeCode.empty()) {
    j["type"]["coding"] = Json::array({Json{{"system", kContinuaIdTypes}, {"code", id.typeCode}}});
  }
  j["system"] = id.system;
  j["value"] = fhirString(id.value);
  return j;
}

Json versionJson(std::uint32_t mdc, std::string_view display, const std::string& value) {
  Json v;
  v["type"]["coding"] = Json::array({mdcCoding(mdc, display)});
  v["value"] = fhirString(value);
  return v;
}

// PhdDevice requires manufacturer and modelNumber (1..1); unknown ones are
// sent as "unknown" rather than invented (docs/fhir-mapping.md).
std::string orUnknown(const std::string& s) { return s.empty() ? std::string("unknown") : s; }

}  // namespace

std::vector<DeviceIdentifier> deviceIdentifiers(const DeviceRecord& r) {
  std::vector<DeviceIdentifier> ids;
  std::string sysid = upperHexNoSeparators(r.systemIdHex);
  if (r.key.scheme() == DeviceKeyScheme::kSystemId) sysid = r.key.value();
  if (sysid.size() == 16) ids.push_back({std::string(kSysIdSystem), dashedHex(sysid), "SYSID"});
  switch (r.key.scheme()) {
    case DeviceKeyScheme::kBluetoothAddress:
      ids.push_back({std::string(kBtMacSystem), dashedHex(r.key.value()), "BTMAC"});
      break;
    case DeviceKeyScheme::kSystemId:
      break;
    case DeviceKeyScheme::kMqttIdentity: {
      Uuid u = uuidV5(kUuidNamespaceUrl, "urn:rpm-gateway:device:" + r.key.canonical());
      ids.push_back({std::string(kUriSystem), "urn:uuid:" + uuidToString(u), ""});
      break;
    }
  }
  return ids;
}

std::vector<DeviceIdentifier> hubIdentifiers(const HubRecord& hub) {
  std::string mac = upperHexNoSeparators(hub.bluetoothAddress);
  if (mac.size() == 12) return {{std::string(kBtMacSystem), dashedHex(mac), "BTMAC"}};
  Uuid u = uuidV5(kUuidNamespaceUrl, "urn:rpm-gateway:hub:" + hub.hubId);
  return {{std::string(kUriSystem), "urn:uuid:" + uuidToString(u), ""}};
}

std::uint32_t specializationForKind(ReadingKind kind) {
  switch (kind) {
    case ReadingKind::kBloodPressure: return 528391;
    case ReadingKind::kHeartRate:
    case ReadingKind::kRrIntervals: return 528425;
    case ReadingKind::kPulseOximetry: return 528388;
    case ReadingKind::kGlucose:
    case ReadingKind::kGlucoseContext: return 528401;
    case ReadingKind::kBodyTemperature: return 528392;
    case ReadingKind::kBodyWeight:
    case ReadingKind::kBodyHeight: return 528399;
    case ReadingKind::kCgmGlucose: return 528409;
    case ReadingKind::kEcg: return 528390;
  }
  return 0;
}

Json buildPhdDevice(const DeviceRecord& r) {
  Json d;
  d["resourceType"] = "Device";
  d["meta"]["profile"] = Json::array({std::string(kPhdProfileBase) + "PhdDevice"});
  Json ids = Json::array();
  for (const auto& id : deviceIdentifiers(r)) ids.push_back(identifierJson(id));
  d["identifier"] = ids;
  d["manufacturer"] = fhirString(orUnknown(r.manufacturer));
  if (!r.serialNumber.empty()) d["serialNumber"] = fhirString(r.serialNumber);
  d["modelNumber"] = fhirString(orUnknown(r.modelNumber));
  d["type"]["coding"] = Json::array({mdcCoding(65573, "MDC_MOC_VMS_MDS_SIMP")});
  std::vector<std::uint32_t> specs;
  for (ReadingKind k : r.kinds) {
    std::uint32_t s = specializationForKind(k);
    if (s && std::find(specs.begin(), specs.end(), s) == specs.end()) specs.push_back(s);
  }
  if (!specs.empty()) {
    Json list = Json::array();
    for (auto s : specs) {
      Json spec;
      spec["systemType"]["coding"] = Json::array({mdcCoding(s, "")});
      spec["version"] = "1";
      list.push_back(spec);
    }
    d["specialization"] = list;
  }
  Json versions = Json::array();
  if (!r.hardwareRevision.empty()) versions.push_back(versionJson(531974, "MDC_ID_PROD_SPEC_HW", r.hardwareRevision));
  if (!r.softwareRevision.empty()) versions.push_back(versionJson(531975, "MDC_ID_PROD_SPEC_SW", r.softwareRevision));
  if (!r.firmwareRevision.empty()) versions.push_back(versionJson(531976, "MDC_ID_PROD_SPEC_FW", r.firmwareRevision));
  if (!versions.empty()) d["version"] = versions;
  return d;
}

Json buildPhgDevice(const HubRecord& hub) {
  Json d;
  d["resourceType"] = "Device";
  d["meta"]["profile"] = Json::array({std::string(kPhdProfileBase) + "PhgDevice"});
  Json ids = Json::array();
  for (const auto& id : hubIdentifiers(hub)) ids.push_back(identifierJson(id));
  d["identifier"] = ids;
  d["manufacturer"] = "rpm-gateway project";
  d["modelNumber"] = "rpm-gateway";
  d["type"]["coding"] = Json::array({mdcCoding(531981, "MDC_MOC_VMS_MDS_AHD")});
  if (!hub.softwareVersion.empty()) {
    d["version"] = Json::array({versionJson(531975, "MDC_ID_PROD_SPEC_SW", hub.softwareVersion)});
  }
  return d;
}

std::string identifierSearch(const DeviceIdentifier& id) { return "identifier=" + id.system + "|" + id.value; }

std::string deviceIfNoneExist(const DeviceRecord& record) {
  auto ids = deviceIdentifiers(record);
  return ids.empty() ? std::string() : identifierSearch(ids.front());
}

std::string hubIfNoneExist(const HubRecord& hub) { return identifierSearch(hubIdentifiers(hub).front()); }

Status applyDeviceInformation(DeviceRecord& r, std::uint16_t characteristic, const std::vector<std::uint8_t>& value) {
  if (characteristic == 0x2A23) {
    if (value.size() != 8) {
      return Status(ErrorKind::kMalformedPayload, "System ID (0x2A23): must be 8 octets");
    }
    static const char* kHex = "0123456789ABCDEF";
    r.systemIdHex.clear();
    for (auto b : value) {
      r.systemIdHex.push_back(kHex[b >> 4]);
      r.systemIdHex.push_back(kHex[b & 0x0F]);
    }
    return Status::ok();
  }
  std::string text(value.begin(), value.end());
  while (!text.empty() && text.back() == '\0') text.pop_back();
  switch (characteristic) {
    case 0x2A29: r.manufacturer = text; break;
    case 0x2A24: r.modelNumber = text; break;
    case 0x2A25: r.serialNumber = text; break;
    case 0x2A27: r.hardwareRevision = text; break;
    case 0x2A26: r.firmwareRevision = text; break;
    case 0x2A28: r.softwareRevision = text; break;
    default: return Status(ErrorKind::kUnsupported, "not a Device Information characteristic used for Device resources");
  }
  r.source = DeviceInfoSource::kBleDeviceInformation;
  return Status::ok();
}

}  // namespace rpm::fhir
