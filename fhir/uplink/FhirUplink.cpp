#include "fhir/uplink/FhirUplink.h"

#include <cctype>

#include "fhir/BundleBuilder.h"
#include "fhir/uplink/ResponseClassifier.h"
#include "gateway/identity/Identifiers.h"
#include "gateway/log/Log.h"

namespace rpm::fhir {
namespace {

constexpr const char* kFhirJson = "application/fhir+json";

std::string percentEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// "201 Created" -> 201; 0 if unparsable.
long entryStatus(const std::string& text) {
  long v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') break;
    v = v * 10 + (c - '0');
  }
  return v;
}

// The mapper's Coincident Time Stamp Observation (PHD IG), by its profile.
bool isCoincidentTimeStamp(const Json& resource) {
  auto meta = resource.find("meta");
  if (meta == resource.end() || !meta->is_object()) return false;
  auto profiles = meta->find("profile");
  if (profiles == meta->end() || !profiles->is_array()) return false;
  for (const auto& p : *profiles) {
    if (p.is_string() && p.get<std::string>().find("PhdCoincidentTimeStampObservation") != std::string::npos) return true;
  }
  return false;
}

// "Observation/123/_history/1" or an absolute URL -> "123".
std::string idFromLocation(const std::string& location, const std::string& type) {
  auto pos = location.find(type + "/");
  if (pos == std::string::npos) return "";
  std::string rest = location.substr(pos + type.size() + 1);
  return rest.substr(0, rest.find('/'));
}

std::string idOf(const HttpResponse& response, const std::string& type) {
  auto doc = Json::parse(response.body, nullptr, false);
  if (!doc.is_discarded() && doc.is_object() && doc.contains("id") && doc["id"].is_string()) {
    return doc["id"].get<std::string>();
  }
  return idFromLocation(response.location, type);
}

DeliveryOutcome retryOutcome(Status reason, std::optional<std::chrono::seconds> delay = std::nullopt) {
  DeliveryOutcome o;
  o.verdict = DeliveryVerdict::kRetry;
  o.reason = std::move(reason);
  o.serverDelay = delay;
  return o;
}

DeliveryOutcome haltOutcome(Status reason) {
  DeliveryOutcome o;
  o.verdict = DeliveryVerdict::kHalt;
  o.reason = std::move(reason);
  return o;
}

DeliveryOutcome rejectOutcome(int httpStatus, std::string reason) {
  DeliveryOutcome o;
  o.verdict = DeliveryVerdict::kReject;
  o.rejection = Rejection{httpStatus, std::move(reason)};
  o.reason = Status(ErrorKind::kRejected, "the server rejected the reading (HTTP " + std::to_string(httpStatus) + ")");
  return o;
}

// What a non-2xx answer to a device or search request means for the batch.
DeliveryOutcome outcomeForFailedRequest(const std::string& what, const HttpResponse& r, std::chrono::seconds cap) {
  Classification c = classifyStatus(r.status, r.retryAfter, r.body, cap);
  Status reason(c.disposition == Disposition::kConfigError ? ErrorKind::kForbidden : ErrorKind::kUnavailable,
                what + " answered HTTP " + std::to_string(r.status));
  if (c.disposition == Disposition::kConfigError) return haltOutcome(reason);
  if (c.disposition == Disposition::kRetryAfter) return retryOutcome(reason, c.retryAfter);
  return retryOutcome(reason);
}

}  // namespace

// One planned Bundle entry: which reading and which of its Observations.
struct FhirUplink::Sent {
  std::size_t reading;
  std::size_t observation;
};

FhirUplink::FhirUplink(FhirUplinkOptions options, HttpTransport& transport, AccessTokenProvider& auth,
                       DeviceLogicalIdStore& deviceIds, const TimeZoneRules& zone, const Clock& clock,
                       DeviceRecordSource deviceRecords, RelatedReadingSource relatedReadings)
    : options_(std::move(options)),
      transport_(transport),
      auth_(auth),
      deviceIds_(deviceIds),
      zone_(zone),
      clock_(clock),
      deviceRecords_(std::move(deviceRecords)),
      relatedReadings_(std::move(relatedReadings)) {
  while (!options_.baseUrl.empty() && options_.baseUrl.back() == '/') options_.baseUrl.pop_back();
}

UplinkCounters FhirUplink::counters() const {
  std::lock_guard<std::mutex> lock(countersMutex_);
  return counters_;
}

HttpOutcome FhirUplink::sendAuthorized(HttpRequest request, bool& halted, Status& haltReason) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto header = auth_.authorizationHeader();
    if (!header.isOk()) {
      Status s = header.status();
      bool permanent = s.kind() == ErrorKind::kUnauthorized || s.kind() == ErrorKind::kConfigInvalid ||
                       s.kind() == ErrorKind::kForbidden;
      if (permanent) {
        halted = true;
        haltReason = s;
      }
      return TransportError{DeliveryCertainty::kNotSent, s.kind(), s.message()};
    }
    HttpRequest r = request;
    if (!header->empty()) r.headers.emplace_back("Authorization", *header);
    {
      std::lock_guard<std::mutex> lock(countersMutex_);
      ++counters_.requests;
    }
    HttpOutcome out = transport_.send(r);
    auto* resp = std::get_if<HttpResponse>(&out);
    if (!resp || resp->status != 401) return out;
    if (attempt == 0) {
      // 401: the token expired or was revoked. Re-authenticate once.
      auth_.invalidate();
      std::lock_guard<std::mutex> lock(countersMutex_);
      ++counters_.reauthentications;
      continue;
    }
    halted = true;
    haltReason = Status(ErrorKind::kUnauthorized, "FHIR server answered 401 after re-authentication");
    return out;
  }
  return TransportError{DeliveryCertainty::kNotSent, ErrorKind::kInternal, "unreachable"};
}

Result<std::string> FhirUplink::createDevice(const Json& resource, const std::string& ifNoneExist, bool& halted,
                                             Status& haltReason) {
  HttpRequest req;
  req.method = "POST";
  req.url = url("Device");
  req.headers = {{"Content-Type", kFhirJson}, {"Accept", kFhirJson}, {"If-None-Exist", ifNoneExist}};
  req.body = dumpFhir(resource);
  req.gzipBody = options_.gzipRequests;
  HttpOutcome out = sendAuthorized(req, halted, haltReason);
  if (auto* err = std::get_if<TransportError>(&out)) return Status(err->kind, "FHIR server (Device): " + err->detail);
  const HttpResponse& resp = std::get<HttpResponse>(out);
  if (resp.status != 200 && resp.status != 201) {
    DeliveryOutcome o = outcomeForFailedRequest("FHIR server (Device create)", resp, options_.retryAfterCap);
    if (o.verdict == DeliveryVerdict::kHalt) {
      halted = true;
      haltReason = o.reason;
    }
    return o.reason;
  }
  std::string id = idOf(resp, "Device");
  if (id.empty()) return Status(ErrorKind::kMalformedPayload, "FHIR server (Device create): no id in the response");
  return id;
}

Result<std::string> FhirUplink::ensureHubDevice(bool& halted, Status& haltReason) {
  if (hubDeviceId_) return *hubDeviceId_;
  auto ids = hubIdentifiers(options_.hub);
  auto id = createDevice(buildPhgDevice(options_.hub), identifierSearch(ids.at(0)), halted, haltReason);
  if (id.isOk()) hubDeviceId_ = *id;
  return id;
}

Result<std::string> FhirUplink::ensureDevice(const Reading& reading, bool& halted, Status& haltReason) {
  auto cached = deviceIds_.deviceLogicalId(options_.baseUrl, reading.device);
  if (cached.isOk() && cached->has_value()) return **cached;
  DeviceRecord record = deviceRecords_(reading);
  auto ids = deviceIdentifiers(record);
  if (ids.empty()) return Status(ErrorKind::kInternal, "device has no identifier");
  auto id = createDevice(buildPhdDevice(record), identifierSearch(ids.front()), halted, haltReason);
  if (!id.isOk()) return id;
  Status s = deviceIds_.putDeviceLogicalId(options_.baseUrl, reading.device, *id);
  if (!s.isOk()) log::warning("uplink", "device id not cached", {{"error", s.kind()}});
  return id;
}

Result<std::string> FhirUplink::findObservation(const std::string& identifierValue, bool& halted, Status& haltReason) {
  HttpRequest req;
  req.url = url("Observation?identifier=" + percentEncode(std::string(kPhdIdentifierSystem) + "|" + identifierValue) +
                "&_elements=identifier");
  req.headers = {{"Accept", kFhirJson}};
  {
    std::lock_guard<std::mutex> lock(countersMutex_);
    ++counters_.searches;
  }
  HttpOutcome out = sendAuthorized(req, halted, haltReason);
  if (auto* err = std::get_if<TransportError>(&out)) return Status(err->kind, "FHIR server (search): " + err->detail);
  const HttpResponse& resp = std::get<HttpResponse>(out);
  if (resp.status != 200) {
    DeliveryOutcome o = outcomeForFailedRequest("FHIR server (identifier search)", resp, options_.retryAfterCap);
    if (o.verdict == DeliveryVerdict::kHalt) {
      // Typically a token without a read scope: uncertain outcomes cannot be resolved.
      halted = true;
      haltReason = Status(ErrorKind::kForbidden, "identifier search refused (HTTP " + std::to_string(resp.status) +
                                                     "): the uplink needs read access to Observation");
    }
    return o.reason;
  }
  auto doc = Json::parse(resp.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status(ErrorKind::kMalformedPayload, "FHIR server (search): response is not a Bundle");
  }
  std::vector<std::string> found;
  if (doc.contains("entry") && doc["entry"].is_array()) {
    for (const auto& e : doc["entry"]) {
      if (e.contains("resource") && e["resource"].is_object() && e["resource"].contains("id")) {
        found.push_back(e["resource"]["id"].get<std::string>());
      }
    }
  }
  if (found.size() >= 2) {
    std::lock_guard<std::mutex> lock(countersMutex_);
    ++counters_.duplicatesAtServer;
    log::warning("uplink", "duplicate Observations exist at the server", {{"count", found.size()}});
  }
  return found.empty() ? std::string() : found.front();
}

Status FhirUplink::probeServer() {
  bool halted = false;
  Status haltReason;
  HttpRequest req;
  req.url = url("metadata");
  req.headers = {{"Accept", kFhirJson}};
  HttpOutcome out = sendAuthorized(req, halted, haltReason);
  if (auto* err = std::get_if<TransportError>(&out)) return Status(err->kind, "FHIR server (metadata): " + err->detail);
  const HttpResponse& resp = std::get<HttpResponse>(out);
  if (resp.status != 200) {
    return Status(ErrorKind::kUnavailable, "FHIR server (metadata) answered HTTP " + std::to_string(resp.status));
  }
  auto doc = Json::parse(resp.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || doc.value("resourceType", "") != "CapabilityStatement") {
    return Status(ErrorKind::kConfigInvalid, "FHIR server (metadata): not a CapabilityStatement");
  }
  std::string version = doc.value("fhirVersion", "");
  if (version.rfind("4.0", 0) != 0) {
    return Status(ErrorKind::kConfigInvalid, "FHIR server is not FHIR R4 (fhirVersion " + version + ")");
  }
  if (options_.mode == DeliveryMode::kPut) {
    bool updateCreate = false;
    if (doc.contains("rest") && doc["rest"].is_array()) {
      for (const auto& rest : doc["rest"]) {
        if (!rest.contains("resource") || !rest["resource"].is_array()) continue;
        for (const auto& res : rest["resource"]) {
          if (res.value("type", "") == "Observation" && res.value("updateCreate", false)) updateCreate = true;
        }
      }
    }
    if (!updateCreate) {
      return Status(ErrorKind::kConfigInvalid,
                    "fhir.delivery_mode = put, but the server does not allow update-as-create on Observation");
    }
  }
  return Status::ok();
}

std::vector<DeliveryOutcome> FhirUplink::deliver(const std::vector<Reading>& readings) {
  const std::size_t n = readings.size();
  std::vector<DeliveryOutcome> outcomes(n);
  std::vector<bool> decided(n, false);
  bool halted = false;
  Status haltReason;
  auto decide = [&](std::size_t i, DeliveryOutcome o) {
    if (decided[i]) return;
    outcomes[i] = std::move(o);
    decided[i] = true;
  };
  auto decideAll = [&](const DeliveryOutcome& o) {
    for (std::size_t i = 0; i < n; ++i) decide(i, o);
  };

  auto hub = ensureHubDevice(halted, haltReason);
  if (!hub.isOk()) {
    decideAll(halted ? haltOutcome(haltReason) : retryOutcome(hub.status()));
    return outcomes;
  }

  // Map every reading; collect its Observations.
  std::vector<MappedReading> mapped(n);
  std::vector<std::vector<std::string>> resourceIds(n);  // per reading, per observation ("" = pending)
  std::map<std::string, std::string> deviceIdByKey;
  for (std::size_t i = 0; i < n && !halted; ++i) {
    const Reading& r = readings[i];
    std::string key = r.device.canonical();
    if (!deviceIdByKey.count(key)) {
      auto id = ensureDevice(r, halted, haltReason);
      if (!id.isOk()) {
        decide(i, halted ? haltOutcome(haltReason) : retryOutcome(id.status()));
        continue;
      }
      deviceIdByKey[key] = *id;
    }
    const Reading* related = nullptr;
    std::optional<Reading> stored;
    if (r.kind == ReadingKind::kGlucoseContext) {
      for (const auto& other : readings) {
        if (other.id == r.relatedReadingId) related = &other;
      }
      if (!related && relatedReadings_ && !r.relatedReadingId.empty()) {
        auto found = relatedReadings_(r.relatedReadingId);
        if (!found.isOk()) {
          decide(i, retryOutcome(found.status()));
          continue;
        }
        stored = std::move(*found);
        if (stored) related = &*stored;
      }
    }
    MappingContext ctx;
    ctx.zone = &zone_;
    // Ingest records a clock skew only while the hub clock is synchronized.
    ctx.hubClockSynchronized = true;
    ctx.phdDeviceReference = "Device/" + deviceIdByKey[key];
    ctx.phgDeviceReference = "Device/" + *hub;
    auto m = mapReading(r, ctx, related);
    if (!m.isOk()) {
      decide(i, rejectOutcome(0, "not mappable: " + m.status().toString()));
      continue;
    }
    mapped[i] = std::move(*m);
    resourceIds[i].assign(mapped[i].observations.size(), "");
  }
  if (halted) {
    decideAll(haltOutcome(haltReason));
    return outcomes;
  }

  // Resolve earlier uncertain sends by searching, and plan the entries.
  std::vector<Sent> planned;
  std::set<std::string> identifiersInBatch;
  // A Coincident Time Stamp Observation is shared by every corrected reading
  // of one device clock reading (decision 0045): sent once per Bundle, its id
  // copied to the other readings that reference it.
  std::map<std::string, Sent> plannedByIdentifier;
  std::vector<std::pair<Sent, Sent>> sharedEntries;  // (left out, the entry that carries its identifier)
  for (std::size_t i = 0; i < n; ++i) {
    if (decided[i]) continue;
    const Reading& r = readings[i];
    bool wasUncertain = uncertain_.count(r.id) != 0;
    std::vector<Sent> mine;
    std::vector<std::pair<Sent, Sent>> sharedHere;
    bool deferred = false;
    for (std::size_t j = 0; j < mapped[i].observations.size(); ++j) {
      const MappedResource& obs = mapped[i].observations[j];
      if (wasUncertain && !obs.identifierValue.empty()) {
        auto found = findObservation(obs.identifierValue, halted, haltReason);
        if (!found.isOk()) {
          decide(i, halted ? haltOutcome(haltReason) : retryOutcome(found.status()));
          deferred = true;
          break;
        }
        if (!found->empty()) {
          resourceIds[i][j] = "Observation/" + *found;
          std::lock_guard<std::mutex> lock(countersMutex_);
          ++counters_.resolvedBySearch;
          continue;
        }
      }
      // Never two entries with one identifier in a Bundle (servers race on them).
      if (!obs.identifierValue.empty() && !identifiersInBatch.insert(obs.identifierValue).second) {
        auto carrier = plannedByIdentifier.find(obs.identifierValue);
        if (carrier != plannedByIdentifier.end() && isCoincidentTimeStamp(obs.resource)) {
          sharedHere.emplace_back(Sent{i, j}, carrier->second);
          continue;
        }
        decide(i, retryOutcome(Status(ErrorKind::kConflict, "identifier already in this batch; sent next time")));
        deferred = true;
        break;
      }
      mine.push_back(Sent{i, j});
    }
    if (!deferred) {
      for (const Sent& s : mine) {
        const auto& id = mapped[s.reading].observations[s.observation].identifierValue;
        if (!id.empty()) plannedByIdentifier.emplace(id, s);
      }
      planned.insert(planned.end(), mine.begin(), mine.end());
      sharedEntries.insert(sharedEntries.end(), sharedHere.begin(), sharedHere.end());
    }
    if (halted) break;
  }
  if (halted) {
    decideAll(haltOutcome(haltReason));
    return outcomes;
  }

  // Send the planned entries; a Bundle refused as a whole is split in halves.
  std::function<void(std::vector<Sent>)> sendBatch = [&](std::vector<Sent> entries) {
    if (entries.empty() || halted) return;
    std::vector<BundleEntry> bundleEntries;
    for (const Sent& s : entries) {
      const MappedResource& obs = mapped[s.reading].observations[s.observation];
      BundleEntry e;
      e.resource = obs.resource;
      // fullUrl: the UUIDv5 of the identifier, unique per Observation and
      // cheap (the content-hash default serializes every resource twice).
      if (!obs.identifierValue.empty()) {
        e.fullUrl = "urn:uuid:" + logicalIdForIdentifier(kPhdIdentifierSystem, obs.identifierValue);
      }
      if (options_.mode == DeliveryMode::kPut && !obs.identifierValue.empty()) {
        e.putId = logicalIdForIdentifier(kPhdIdentifierSystem, obs.identifierValue);
        e.resource["id"] = e.putId;
      } else {
        e.ifNoneExist = obs.ifNoneExist();
      }
      bundleEntries.push_back(std::move(e));
    }
    HttpRequest req;
    req.method = "POST";
    req.url = options_.baseUrl;
    req.headers = {{"Content-Type", kFhirJson}, {"Accept", kFhirJson}};
    req.body = dumpFhir(buildBundle(BundleType::kBatch, bundleEntries));
    req.gzipBody = options_.gzipRequests;
    HttpOutcome out = sendAuthorized(req, halted, haltReason);
    if (auto* err = std::get_if<TransportError>(&out)) {
      Status reason(err->kind, "FHIR server: " + err->detail);
      for (const Sent& s : entries) {
        if (err->certainty == DeliveryCertainty::kUncertain) uncertain_.insert(readings[s.reading].id);
        decide(s.reading, halted ? haltOutcome(haltReason) : retryOutcome(reason));
      }
      return;
    }
    const HttpResponse& resp = std::get<HttpResponse>(out);
    if (resp.status != 200) {
      Classification c = classifyStatus(resp.status, resp.retryAfter, resp.body, options_.retryAfterCap);
      bool wholeBundleRefused = c.disposition == Disposition::kReject || c.disposition == Disposition::kSplit;
      std::set<std::size_t> readingsInBundle;
      for (const Sent& s : entries) readingsInBundle.insert(s.reading);
      if (wholeBundleRefused && readingsInBundle.size() > 1) {
        // Find the offending reading: resend in halves.
        std::vector<Sent> first, second;
        std::size_t half = readingsInBundle.size() / 2, k = 0;
        std::map<std::size_t, bool> inFirst;
        for (std::size_t r : readingsInBundle) inFirst[r] = k++ < half;
        for (const Sent& s : entries) (inFirst[s.reading] ? first : second).push_back(s);
        sendBatch(first);
        sendBatch(second);
        return;
      }
      DeliveryOutcome o = outcomeForFailedRequest("FHIR server (batch)", resp, options_.retryAfterCap);
      if (halted) o = haltOutcome(haltReason);
      if (wholeBundleRefused) o = rejectOutcome(static_cast<int>(resp.status), c.reason);
      for (std::size_t r : readingsInBundle) decide(r, o);
      return;
    }
    auto doc = Json::parse(resp.body, nullptr, false);
    bool wellFormed = !doc.is_discarded() && doc.is_object() && doc.contains("entry") && doc["entry"].is_array() &&
                      doc["entry"].size() == entries.size();
    if (!wellFormed) {
      // The server may have stored some entries: treat as uncertain.
      for (const Sent& s : entries) {
        uncertain_.insert(readings[s.reading].id);
        decide(s.reading, retryOutcome(Status(ErrorKind::kMalformedPayload,
                                              "FHIR server: batch-response does not match the request")));
      }
      return;
    }
    for (std::size_t k = 0; k < entries.size(); ++k) {
      const Sent& s = entries[k];
      const auto& entry = doc["entry"][k];
      const auto& response = entry.contains("response") ? entry["response"] : Json::object();
      long status = entryStatus(response.value("status", std::string()));
      std::string outcomeJson = response.contains("outcome") ? response["outcome"].dump() : std::string();
      Classification c = classifyStatus(status, std::nullopt, outcomeJson, options_.retryAfterCap);
      const MappedResource& obs = mapped[s.reading].observations[s.observation];
      switch (c.disposition) {
        case Disposition::kDelivered: {
          std::string location = response.value("location", std::string());
          std::string id = idFromLocation(location, "Observation");
          if (id.empty() && entry.contains("resource") && entry["resource"].is_object()) {
            id = entry["resource"].value("id", std::string());
          }
          resourceIds[s.reading][s.observation] = "Observation/" + (id.empty() ? std::string("?") : id);
          std::lock_guard<std::mutex> lock(countersMutex_);
          ++(status == 201 ? counters_.observationsCreated : counters_.observationsExisting);
          break;
        }
        case Disposition::kResolveBySearch: {
          auto found = obs.identifierValue.empty() ? Result<std::string>(std::string())
                                                   : findObservation(obs.identifierValue, halted, haltReason);
          if (found.isOk() && !found->empty()) {
            resourceIds[s.reading][s.observation] = "Observation/" + *found;
          } else {
            decide(s.reading, halted ? haltOutcome(haltReason) : retryOutcome(Status(ErrorKind::kConflict, c.reason)));
          }
          break;
        }
        case Disposition::kReject: {
          // A cached Device id the server no longer knows makes entries fail: check it first.
          auto cached = deviceIds_.deviceLogicalId(options_.baseUrl, readings[s.reading].device);
          if (cached.isOk() && cached->has_value()) {
            HttpRequest get;
            get.url = url("Device/" + **cached);
            get.headers = {{"Accept", kFhirJson}};
            HttpOutcome check = sendAuthorized(get, halted, haltReason);
            auto* r = std::get_if<HttpResponse>(&check);
            if (r && (r->status == 404 || r->status == 410)) {
              deviceIds_.forgetDeviceLogicalId(options_.baseUrl, readings[s.reading].device);
              {
                std::lock_guard<std::mutex> lock(countersMutex_);
                ++counters_.staleDeviceIds;
              }
              decide(s.reading, retryOutcome(Status(ErrorKind::kNotFound, "stale Device id evicted; resent next time")));
              break;
            }
          }
          decide(s.reading, rejectOutcome(static_cast<int>(status), c.reason));
          break;
        }
        case Disposition::kConfigError:
          decide(s.reading, haltOutcome(Status(ErrorKind::kForbidden, "FHIR server entry: " + c.reason)));
          break;
        case Disposition::kRetryAfter:
          decide(s.reading, retryOutcome(Status(ErrorKind::kUnavailable, c.reason), c.retryAfter));
          break;
        case Disposition::kReauthenticate:
          auth_.invalidate();
          decide(s.reading, retryOutcome(Status(ErrorKind::kUnauthorized, c.reason)));
          break;
        case Disposition::kSplit:
        case Disposition::kRetry:
          decide(s.reading, retryOutcome(Status(ErrorKind::kUnavailable, c.reason)));
          break;
      }
    }
  };
  sendBatch(planned);
  if (halted) {
    for (std::size_t i = 0; i < n; ++i) {
      if (decided[i] && outcomes[i].verdict == DeliveryVerdict::kRetry) {
        decided[i] = false;
        decide(i, haltOutcome(haltReason));
      }
    }
  }

  for (const auto& [left, carrier] : sharedEntries) {
    const std::string& id = resourceIds[carrier.reading][carrier.observation];
    if (!id.empty()) resourceIds[left.reading][left.observation] = id;
  }

  // Readings whose every Observation is at the server are delivered.
  for (std::size_t i = 0; i < n; ++i) {
    if (decided[i]) {
      if (outcomes[i].verdict == DeliveryVerdict::kReject) uncertain_.erase(readings[i].id);
      continue;
    }
    DeliveryOutcome o;
    o.verdict = DeliveryVerdict::kDelivered;
    bool complete = true;
    for (const auto& id : resourceIds[i]) {
      if (id.empty()) complete = false;
      o.receipt.resourceIds.push_back(id);
    }
    if (!complete) {
      decide(i, retryOutcome(Status(ErrorKind::kInternal, "not every Observation was answered")));
      continue;
    }
    o.receipt.receipt = mapped[i].observations.empty() ? "nothing to upload: " + mapped[i].note : "batch-response";
    uncertain_.erase(readings[i].id);
    decide(i, o);
  }
  return outcomes;
}

}  // namespace rpm::fhir
