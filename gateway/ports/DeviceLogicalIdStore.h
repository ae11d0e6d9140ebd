// DeviceLogicalIdStore: the FHIR logical id a server gave (or we chose for)
// a Device resource, per (server base URL, device key), so Observations can
// reference Device/<id> without a search per upload.
#pragma once

#include <optional>
#include <string>

#include "gateway/model/DeviceKey.h"
#include "gateway/model/Status.h"

namespace rpm {

class DeviceLogicalIdStore {
 public:
  virtual ~DeviceLogicalIdStore() = default;

  // The stored logical id, nullopt when none is known.
  virtual Result<std::optional<std::string>> deviceLogicalId(const std::string& serverBaseUrl,
                                                             const DeviceKey& device) = 0;

  // Stores (or replaces) the logical id.
  virtual Status putDeviceLogicalId(const std::string& serverBaseUrl, const DeviceKey& device,
                                    const std::string& logicalId) = 0;

  // Forgets it (the server answered 404/410 for it).
  virtual Status forgetDeviceLogicalId(const std::string& serverBaseUrl, const DeviceKey& device) = 0;
};

}  // namespace rpm
