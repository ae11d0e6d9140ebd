#include <catch2/catch.hpp>

#include "fhir/BundleBuilder.h"
#include "fhir/DeviceResources.h"
#include "FhirTestSupport.h"
#include "gateway/identity/Identifiers.h"

#include <cctype>

using namespace rpm;
using namespace rpm::fhir;
using namespace rpm::fhir::test;

TEST_CASE("a BLE device with Device Information becomes a PhdDevice with SYSID and BTMAC", "[unit][fhir]") {
  DeviceRecord d;
  d.key = *DeviceKey::parse("bt:B0495F001071");
  d.source = DeviceInfoSource::kBleDeviceInformation;
  d.manufacturer = "ACME";
  d.modelNumber = "BP-100";
  d.serialNumber = "SN0001";
  d.firmwareRevision = "1.2";
  d.systemIdHex = "711000FEFF5F49B0";
  d.kinds = {ReadingKind::kBloodPressure};
  CHECK(dumpFhir(buildPhdDevice(d)) ==
        R"({"resourceType":"Device","meta":{"profile":["http://hl7.org/fhir/uv/phd/StructureDefinition/PhdDevice"]},)"
        R"("identifier":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/ContinuaDeviceIdentifiers","code":"SYSID"}]},"system":"urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680","value":"71-10-00-FE-FF-5F-49-B0"},)"
        R"({"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/ContinuaDeviceIdentifiers","code":"BTMAC"}]},"system":"http://hl7.org/fhir/sid/eui-48/bluetooth","value":"B0-49-5F-00-10-71"}],)"
        R"("manufacturer":"ACME","serialNumber":"SN0001","modelNumber":"BP-100",)"
        R"("type":{"coding":[{"system":"urn:iso:std:iso:11073:10101","code":"65573","display":"MDC_MOC_VMS_MDS_SIMP"}]},)"
        R"("specialization":[{"systemType":{"coding":[{"system":"urn:iso:std:iso:11073:10101","code":"528391"}]},"version":"1"}],)"
        R"("version":[{"type":{"coding":[{"system":"urn:iso:std:iso:11073:10101","code":"531976","display":"MDC_ID_PROD_SPEC_FW"}]},"value":"1.2"}]})");
  CHECK(identifierSearch(deviceIdentifiers(d)[0]) ==
        "identifier=urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680|71-10-00-FE-FF-5F-49-B0");
}

TEST_CASE("an MQTT device is identified by a UUIDv5 in urn:ietf:rfc:3986 matching the observation identifiers", "[unit][fhir]") {
  DeviceRecord d;
  d.key = *DeviceKey::parse("mqtt:scale-42");
  d.kinds = {ReadingKind::kBodyWeight};
  auto ids = deviceIdentifiers(d);
  REQUIRE(ids.size() == 1);
  CHECK(ids[0].system == "urn:ietf:rfc:3986");
  CHECK(ids[0].value.rfind("urn:uuid:", 0) == 0);
  // The same UUID, upper-case without dashes, is the device part of every
  // conditional-create identifier of this device.
  std::string hex;
  for (char ch : ids[0].value.substr(9)) {
    if (ch != '-') hex.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
  }
  CHECK(hex == deviceIdentifierPart(d.key));
  std::string json = dumpFhir(buildPhdDevice(d));
  CHECK(contains(json, R"("manufacturer":"unknown")"));
  CHECK(contains(json, R"("modelNumber":"unknown")"));
  CHECK(contains(json, R"("code":"528399")"));
}

TEST_CASE("the hub is a PhgDevice identified by its Bluetooth address or a UUIDv5 of hub.id", "[unit][fhir]") {
  HubRecord hub{"hub-1", "DC:A6:32:00:00:01", "0.1.0"};
  std::string json = dumpFhir(buildPhgDevice(hub));
  CHECK(contains(json, "PhgDevice"));
  CHECK(contains(json, R"("value":"DC-A6-32-00-00-01")"));
  CHECK(contains(json, R"("code":"531981","display":"MDC_MOC_VMS_MDS_AHD")"));
  HubRecord noMac{"hub-1", "", "0.1.0"};
  auto ids = hubIdentifiers(noMac);
  CHECK(ids[0].system == "urn:ietf:rfc:3986");
  CHECK(ids[0].value == hubIdentifiers(noMac)[0].value);
  CHECK(ids[0].value != hubIdentifiers(HubRecord{"hub-2", "", ""})[0].value);
}

TEST_CASE("a transaction bundle has conditional creates and content-derived fullUrls", "[unit][fhir]") {
  Context c;
  auto m = mapReading(reading(ReadingKind::kBodyTemperature, {comp(Measure::kBodyTemperature, "37.60", "Cel")}), c.ctx);
  REQUIRE(m.isOk());
  BundleEntry e{"", m->observations[0].resource, m->observations[0].ifNoneExist()};
  std::string a = dumpFhir(buildBundle(BundleType::kTransaction, {e}));
  std::string b = dumpFhir(buildBundle(BundleType::kTransaction, {e}));
  CHECK(a == b);
  std::string url = contentFullUrl(e.resource);
  CHECK(url.size() == 45);
  CHECK(url.compare(0, 9, "urn:uuid:") == 0);
  CHECK(url[23] == '5');  // version 5
  CHECK(contains(a, R"({"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":")" + url + "\""));
  CHECK(contains(a, R"("request":{"method":"POST","url":"Observation","ifNoneExist":"identifier=http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBaseObservation|B0495F001071-123-150364-768298150"}})"));
  CHECK(contains(a, R"("value":37.60,)"));
  // A different value gives a different fullUrl.
  Json other = e.resource;
  other["status"] = "preliminary";
  CHECK(contentFullUrl(other) != url);
  CHECK(contains(dumpFhir(buildBundle(BundleType::kBatch, {e})), R"("type":"batch")"));
}

TEST_CASE("a collection bundle has no requests and an empty one has no entry array", "[unit][fhir]") {
  BundleEntry e{"urn:uuid:1", Json{{"resourceType", "Device"}}, "identifier=x|y"};
  CHECK(dumpFhir(buildBundle(BundleType::kCollection, {e})) ==
        R"({"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Device"}}]})");
  CHECK(dumpFhir(buildBundle(BundleType::kCollection, {})) == R"({"resourceType":"Bundle","type":"collection"})");
}

TEST_CASE("Device Information values fill the device record, System ID in over-the-air order", "[unit][fhir]") {
  DeviceRecord d;
  d.key = *DeviceKey::parse("bt:B0495F001071");
  auto bytes = [](const std::string& s) { return std::vector<std::uint8_t>(s.begin(), s.end()); };
  CHECK(applyDeviceInformation(d, 0x2A29, bytes(std::string("ACME\0", 5))).isOk());
  CHECK(applyDeviceInformation(d, 0x2A24, bytes("BP-100")).isOk());
  CHECK(applyDeviceInformation(d, 0x2A25, bytes("SN0001")).isOk());
  CHECK(applyDeviceInformation(d, 0x2A23, {0x71, 0x10, 0x00, 0xFE, 0xFF, 0x5F, 0x49, 0xB0}).isOk());
  CHECK(d.manufacturer == "ACME");
  CHECK(d.systemIdHex == "711000FEFF5F49B0");
  CHECK(d.source == DeviceInfoSource::kBleDeviceInformation);
  CHECK(deviceIfNoneExist(d) == "identifier=urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680|71-10-00-FE-FF-5F-49-B0");
  CHECK(applyDeviceInformation(d, 0x2A23, {0x01, 0x02}).kind() == ErrorKind::kMalformedPayload);
  CHECK(applyDeviceInformation(d, 0x2A19, {0x64}).kind() == ErrorKind::kUnsupported);
  CHECK(hubIfNoneExist(HubRecord{"h", "DC:A6:32:00:00:01", ""}) ==
        "identifier=http://hl7.org/fhir/sid/eui-48/bluetooth|DC-A6-32-00-00-01");
}
