// BundleBuilder: batch, transaction and collection Bundles with conditional
// creates and deterministic fullUrls (urn:uuid: UUIDv5 of the resource's
// serialized content). Rules: docs/decisions/0020-fhir-json-output.md.
#pragma once

#include <string>
#include <vector>

#include "fhir/FhirJson.h"

namespace rpm::fhir {

enum class BundleType : unsigned char { kBatch, kTransaction, kCollection };

struct BundleEntry {
  std::string fullUrl;      // "" -> contentFullUrl(resource)
  Json resource;
  std::string ifNoneExist;  // "identifier=<system>|<value>"; "" -> plain POST
  std::string putId = {};   // PUT <resourceType>/<putId> (update-as-create) instead of POST; "" -> POST
};

// "urn:uuid:" + UUIDv5(URL namespace, "urn:rpm-gateway:content:" + compact JSON).
std::string contentFullUrl(const Json& resource);

// The Bundle document. Batch and transaction entries get request POST
// <resourceType> with ifNoneExist; collection entries carry no request.
Json buildBundle(BundleType type, const std::vector<BundleEntry>& entries);

}  // namespace rpm::fhir
