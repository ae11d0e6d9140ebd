// FhirUplink: delivers readings to one FHIR R4 server, exactly once.
//
// Devices first (conditional create, logical ids cached per server), then
// the readings' Observations in one batch Bundle whose per-entry responses
// say what happened to each; a reading is delivered when all of its
// Observations are. Every Observation carries the frozen conditional-create
// identifier and goes out with ifNoneExist (or PUT to its UUIDv5 id). After
// an uncertain outcome the uplink searches by identifier before resending,
// so even a server that ignores If-None-Exist gets no duplicate.
// Status handling: shared reliability-and-security.md §2.4, the uplink issue.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "fhir/DeviceResources.h"
#include "fhir/ObservationMapper.h"
#include "fhir/uplink/AccessTokenProvider.h"
#include "fhir/uplink/HttpTransport.h"
#include "gateway/ports/Clock.h"
#include "gateway/ports/DeviceLogicalIdStore.h"
#include "gateway/ports/TimeZoneRules.h"
#include "gateway/ports/Uplink.h"

namespace rpm::fhir {

enum class DeliveryMode : std::uint8_t {
  kConditionalCreate = 1,  // POST with ifNoneExist (default)
  kPut = 2,                // PUT Observation/<UUIDv5 of the identifier>; needs updateCreate
};

struct FhirUplinkOptions {
  std::string baseUrl;  // without a trailing slash
  DeliveryMode mode = DeliveryMode::kConditionalCreate;
  bool gzipRequests = false;
  std::chrono::seconds retryAfterCap{3600};
  HubRecord hub;
};

// What the gateway knows about a reading's device (DIS values, enrolment
// metadata); supplied by the composition root.
using DeviceRecordSource = std::function<DeviceRecord(const Reading&)>;

// A stored reading by id (ReadingStore::find): the glucose record a context
// belongs to when it is not in the same batch.
using RelatedReadingSource = std::function<Result<std::optional<Reading>>(const std::string& readingId)>;

// Figures for status and metrics. No PHI.
struct UplinkCounters {
  std::uint64_t requests = 0;
  std::uint64_t observationsCreated = 0;   // 201
  std::uint64_t observationsExisting = 0;  // 200: conditional create matched (a repeat absorbed)
  std::uint64_t searches = 0;              // identifier searches after uncertain outcomes or 409/412
  std::uint64_t resolvedBySearch = 0;      // Observations found at the server instead of resent
  std::uint64_t duplicatesAtServer = 0;    // searches that found two or more (made by someone else)
  std::uint64_t reauthentications = 0;
  std::uint64_t staleDeviceIds = 0;
};

class FhirUplink final : public Uplink {
 public:
  FhirUplink(FhirUplinkOptions options, HttpTransport& transport, AccessTokenProvider& auth,
             DeviceLogicalIdStore& deviceIds, const TimeZoneRules& zone, const Clock& clock,
             DeviceRecordSource deviceRecords, RelatedReadingSource relatedReadings);

  // GET /metadata: a FHIR 4.0 server, and updateCreate on Observation when
  // the mode is PUT. kConfigInvalid / kUnavailable with a reason otherwise.
  Status probeServer();

  std::vector<DeliveryOutcome> deliver(const std::vector<Reading>& readings) override;

  UplinkCounters counters() const;

 private:
  struct Sent;
  HttpOutcome sendAuthorized(HttpRequest request, bool& halted, Status& haltReason);
  Result<std::string> ensureHubDevice(bool& halted, Status& haltReason);
  Result<std::string> ensureDevice(const Reading& reading, bool& halted, Status& haltReason);
  Result<std::string> createDevice(const Json& resource, const std::string& ifNoneExist, bool& halted,
                                   Status& haltReason);
  // Searches Observation by identifier: the logical id, "" if absent; error if the search failed.
  Result<std::string> findObservation(const std::string& identifierValue, bool& halted, Status& haltReason);
  std::string url(const std::string& path) const { return options_.baseUrl + "/" + path; }

  FhirUplinkOptions options_;
  HttpTransport& transport_;
  AccessTokenProvider& auth_;
  DeviceLogicalIdStore& deviceIds_;
  const TimeZoneRules& zone_;
  const Clock& clock_;
  DeviceRecordSource deviceRecords_;
  RelatedReadingSource relatedReadings_;
  std::optional<std::string> hubDeviceId_;
  // Reading ids whose last send had an uncertain outcome: search before resending.
  std::set<std::string> uncertain_;
  mutable std::mutex countersMutex_;
  UplinkCounters counters_;
};

}  // namespace rpm::fhir
