// Uplink benchmark: Observations delivered per second through FhirUplink +
// CurlHttpTransport, against a plain libcurl client posting the very same
// Bundle bytes over one keep-alive connection, in the same run. Also HTTP
// requests per 1,000 readings and CPU time (getrusage) per delivered reading.
// Reported, never asserted.
//
//   uplink_bench BASE_URL [readings] [batch] [rounds] [--no-plain]
#include <curl/curl.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fhir/FixedOffsetZone.h"
#include "gateway/ports/Driver.h"
#include "fhir/uplink/CurlHttpTransport.h"
#include "fhir/uplink/FhirUplink.h"
#include "gateway/identity/Identifiers.h"
#include "gateway/log/Log.h"

namespace rpm::drivers::thermometer {
const DriverDescriptor& descriptor();
}

using namespace rpm;
using namespace rpm::fhir;

namespace {

class WallClock final : public Clock {
 public:
  UtcInstant now() const override {
    return UtcInstant(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch()));
  }
  std::chrono::steady_clock::time_point monotonicNow() const override { return std::chrono::steady_clock::now(); }
  bool isSynchronized() const override { return true; }
};

class MemoryDeviceIds final : public DeviceLogicalIdStore {
 public:
  Result<std::optional<std::string>> deviceLogicalId(const std::string& base, const DeviceKey& d) override {
    auto it = ids_.find(base + " " + d.canonical());
    if (it == ids_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Status putDeviceLogicalId(const std::string& base, const DeviceKey& d, const std::string& id) override {
    ids_[base + " " + d.canonical()] = id;
    return Status();
  }
  Status forgetDeviceLogicalId(const std::string& base, const DeviceKey& d) override {
    ids_.erase(base + " " + d.canonical());
    return Status();
  }

 private:
  std::map<std::string, std::string> ids_;
};

// Keeps the body of every Bundle the uplink posts, for the plain client to replay.
class RecordingTransport final : public HttpTransport {
 public:
  RecordingTransport(HttpTransport& inner, std::string baseUrl, std::vector<std::string>* bundles)
      : inner_(inner), baseUrl_(std::move(baseUrl)), bundles_(bundles) {}
  HttpOutcome send(const HttpRequest& r) override {
    if (bundles_ && r.method == "POST" && r.url == baseUrl_) bundles_->push_back(r.body);
    return inner_.send(r);
  }

 private:
  HttpTransport& inner_;
  std::string baseUrl_;
  std::vector<std::string>* bundles_;
};

// Temperature readings (GATT 0x2A1C with a time stamp), 10 devices, one a minute per device.
std::vector<Reading> makeReadings(std::size_t n) {
  const DriverDescriptor& d = drivers::thermometer::descriptor();
  std::vector<Reading> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t device = i % 10, k = i / 10;
    std::uint16_t mantissa = static_cast<std::uint16_t>(3600 + (i % 150));
    std::vector<std::uint8_t> payload = {0x06, static_cast<std::uint8_t>(mantissa & 0xFF),
                                         static_cast<std::uint8_t>(mantissa >> 8), 0x00, 0xFE, 0xEA, 0x07,
                                         static_cast<std::uint8_t>(1 + (k / 40320) % 12),
                                         static_cast<std::uint8_t>(1 + (k / 1440) % 28),
                                         static_cast<std::uint8_t>((k / 60) % 24), static_cast<std::uint8_t>(k % 60),
                                         0x1E, 0x06};
    DecodeContext ctx;
    char address[32];
    std::snprintf(address, sizeof address, "bt:B0495F0030%02X", static_cast<unsigned>(device));
    ctx.device = *DeviceKey::parse(address);
    ctx.receivedAt = UtcInstant(std::chrono::seconds(1767225600 + static_cast<long>(i)));
    ctx.utcOffsetMinutes = 60;
    auto decoded = d.decode(0x2A1C, payload, ctx);
    if (!decoded.isOk()) {
      std::fprintf(stderr, "decode failed: %s\n", decoded.status().toString().c_str());
      std::exit(1);
    }
    for (auto r : decoded->readings) {
      r.subject = "Patient/bench";
      r.id = computeReadingId(r);
      out.push_back(r);
    }
  }
  return out;
}

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Run {
  double seconds = 0, cpu = 0;
  std::size_t readings = 0, observations = 0, requests = 0;
};

Run runUplink(const std::string& base, const std::vector<Reading>& readings, std::size_t batch,
              std::vector<std::string>* bundles) {
  WallClock clock;
  FixedOffsetZone zone(60);
  MemoryDeviceIds ids;
  CurlTransportOptions transportOptions;
  transportOptions.requestTimeoutMs = 300000;  // the validating server takes seconds per batch
  CurlHttpTransport curl(transportOptions);
  RecordingTransport transport(curl, base, bundles);
  auto auth = makeNoAuthorization();
  FhirUplinkOptions options;
  options.baseUrl = base;
  options.hub = HubRecord{"hub-bench", "DC:A6:32:00:00:09", "0.1.0"};
  FhirUplink uplink(options, transport, *auth, ids, zone, clock, [](const Reading& r) {
    DeviceRecord d;
    d.key = r.device;
    d.source = DeviceInfoSource::kBleDeviceInformation;
    d.manufacturer = "ACME Medical";
    d.modelNumber = "Therm-1";
    d.serialNumber = "SN-BENCH";
    d.kinds = {r.kind};
    return d;
  }, [](const std::string&) { return Result<std::optional<Reading>>(std::optional<Reading>()); });
  Run run;
  double cpu0 = cpuSeconds();
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < readings.size(); i += batch) {
    std::vector<Reading> chunk(readings.begin() + i, readings.begin() + std::min(readings.size(), i + batch));
    for (const auto& o : uplink.deliver(chunk)) {
      if (o.verdict != DeliveryVerdict::kDelivered) {
        std::fprintf(stderr, "not delivered: %s\n", o.reason.toString().c_str());
        std::exit(1);
      }
      ++run.readings;
      run.observations += o.receipt.resourceIds.size();
    }
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  run.cpu = cpuSeconds() - cpu0;
  run.requests = uplink.counters().requests;
  return run;
}

size_t discard(char*, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(size * count, ' ');  // as cheap as keeping the bytes
  return size * count;
}

// The baseline: the same Bundle bytes, posted one after another over one kept-alive connection.
Run runPlain(const std::string& base, const std::vector<std::string>& bundles, std::size_t readings,
             std::size_t observations) {
  CURL* c = curl_easy_init();
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/fhir+json");
  headers = curl_slist_append(headers, "Accept: application/fhir+json");
  headers = curl_slist_append(headers, "Expect:");
  std::string response;
  curl_easy_setopt(c, CURLOPT_URL, base.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &discard);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response);
  Run run;
  double cpu0 = cpuSeconds();
  auto t0 = std::chrono::steady_clock::now();
  for (const auto& body : bundles) {
    response.clear();
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    long status = 0;
    if (curl_easy_perform(c) != CURLE_OK || (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status), status != 200)) {
      std::fprintf(stderr, "plain client: request failed\n");
      std::exit(1);
    }
    ++run.requests;
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  run.cpu = cpuSeconds() - cpu0;
  run.readings = readings;
  run.observations = observations;
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: uplink_bench BASE_URL [readings] [batch] [rounds] [--no-plain]\n");
    return 2;
  }
  log::setLevel(log::Level::kWarning);
  std::string base = argv[1];
  std::size_t n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 5000;
  std::size_t batch = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 50;
  int rounds = argc > 4 ? std::atoi(argv[4]) : 3;
  bool plain = !(argc > 5 && std::string(argv[5]) == "--no-plain");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  auto readings = makeReadings(n);

  // Rounds alternate uplink and plain client; the best round of each is reported (least disturbed by neighbours).
  Run bestUplink, bestPlain;
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::string> bundles;
    Run u = runUplink(base, readings, batch, &bundles);
    if (bestUplink.seconds == 0 || u.seconds < bestUplink.seconds) bestUplink = u;
    if (plain) {
      Run p = runPlain(base, bundles, u.readings, u.observations);
      if (bestPlain.seconds == 0 || p.seconds < bestPlain.seconds) bestPlain = p;
    }
  }
  auto rate = [](const Run& r) { return static_cast<double>(r.observations) / r.seconds; };
  std::printf("readings %zu, batch %zu readings, best of %d rounds\n", bestUplink.readings, batch, rounds);
  std::printf("uplink (FhirUplink+CurlHttpTransport): %.0f Observations/s (%.3f s for %zu Observations)\n",
              rate(bestUplink), bestUplink.seconds, bestUplink.observations);
  std::printf("uplink HTTP requests per 1000 readings: %.1f (%zu requests)\n",
              1000.0 * static_cast<double>(bestUplink.requests) / static_cast<double>(bestUplink.readings),
              bestUplink.requests);
  std::printf("uplink CPU per delivered reading: %.1f us (user+sys, getrusage)\n",
              1e6 * bestUplink.cpu / static_cast<double>(bestUplink.readings));
  if (plain) {
    std::printf("plain client (same Bundles, one keep-alive connection): %.0f Observations/s (%.3f s, %zu requests)\n",
                rate(bestPlain), bestPlain.seconds, bestPlain.requests);
    std::printf("plain client CPU per reading: %.1f us\n",
                1e6 * bestPlain.cpu / static_cast<double>(bestPlain.readings));
    std::printf("ratio uplink/plain: %.2f (target >= 0.80)\n", rate(bestUplink) / rate(bestPlain));
  }
  curl_global_cleanup();
  return 0;
}
