// FhirServerControl: the FHIR test server's control API (docs/testing.md),
// for Catch2 integration tests run under tests/services/with-services.sh --fhir.
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "fhir/uplink/CurlHttpTransport.h"

namespace rpm::test {

class FhirServerControl {
 public:
  FhirServerControl() : base_(env("RPM_TEST_FHIR_CONTROL_URL")), http_(fhir::CurlTransportOptions{}) {}
  nlohmann::json call(const std::string& method, const std::string& path, const nlohmann::json& body = nlohmann::json()) {
    fhir::HttpRequest r{method, base_ + path, {{"Content-Type", "application/json"}}, body.is_null() ? "" : body.dump(),
                        false};
    auto out = http_.send(r);
    REQUIRE(std::holds_alternative<fhir::HttpResponse>(out));
    const auto& resp = std::get<fhir::HttpResponse>(out);
    INFO(resp.body);
    REQUIRE(resp.status < 300);
    return resp.body.empty() ? nlohmann::json() : nlohmann::json::parse(resp.body, nullptr, false);
  }
  void reset() { call("POST", "/reset"); }
  std::size_t count(const std::string& type) { return call("GET", "/resources/" + type).size(); }
  nlohmann::json requests() { return call("GET", "/requests"); }
  // Every recorded request body, one per line (for byte assertions).
  std::string allBodies() {
    std::string all;
    for (const auto& r : requests()) all += r.value("body", std::string()) + "\n";
    return all;
  }
  // Recorded requests whose method and URL start match (and status, if given).
  std::size_t countRequests(const std::string& method, const std::string& urlPrefix, long status = 0) {
    std::size_t n = 0;
    for (const auto& r : requests()) {
      if (r.value("method", "") != method || r.value("url", "").rfind(urlPrefix, 0) != 0) continue;
      if (status != 0 && (!r["status"].is_number() || r["status"].get<long>() != status)) continue;
      ++n;
    }
    return n;
  }
  static std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
  }

 private:
  std::string base_;
  fhir::CurlHttpTransport http_;
};

}  // namespace rpm::test
