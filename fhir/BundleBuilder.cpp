#include "fhir/BundleBuilder.h"

#include "gateway/identity/Identifiers.h"

namespace rpm::fhir {

std::string contentFullUrl(const Json& resource) {
  return "urn:uuid:" + uuidToString(uuidV5(kUuidNamespaceUrl, "urn:rpm-gateway:content:" + dumpFhir(resource)));
}

Json buildBundle(BundleType type, const std::vector<BundleEntry>& entries) {
  Json b;
  b["resourceType"] = "Bundle";
  b["type"] = type == BundleType::kBatch ? "batch" : type == BundleType::kTransaction ? "transaction" : "collection";
  if (entries.empty()) return b;  // FHIR forbids empty arrays
  Json list = Json::array();
  for (const auto& e : entries) {
    Json entry;
    entry["fullUrl"] = e.fullUrl.empty() ? contentFullUrl(e.resource) : e.fullUrl;
    entry["resource"] = e.resource;
    if (type != BundleType::kCollection) {
      Json request;
      std::string type = e.resource.value("resourceType", std::string());
      if (!e.putId.empty()) {
        request["method"] = "PUT";
        request["url"] = type + "/" + e.putId;
      } else {
        request["method"] = "POST";
        request["url"] = type;
        if (!e.ifNoneExist.empty()) request["ifNoneExist"] = fhirString(e.ifNoneExist);
      }
      entry["request"] = request;
    }
    list.push_back(entry);
  }
  b["entry"] = list;
  return b;
}

}  // namespace rpm::fhir
