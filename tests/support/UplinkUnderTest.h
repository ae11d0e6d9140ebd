// UplinkUnderTest: the FHIR uplink wired as the daemon wires it (a real
// SQLite buffer, the libcurl transport, a fixed +01:00 zone, a fake clock),
// pointed at the test FHIR server from with-services.sh. The integration
// suites swap in the authorization under test before build().
#pragma once

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "buffer/SqliteBuffer.h"
#include "fhir/FixedOffsetZone.h"
#include "fhir/uplink/AccessTokenProvider.h"
#include "fhir/uplink/CurlHttpTransport.h"
#include "fhir/uplink/FhirUplink.h"
#include "tests/support/FakeClock.h"
#include "tests/unit/buffer/BufferFixtures.h"

namespace rpm::test {

// hubAddress and serial keep each suite's Device resources apart.
struct UplinkUnderTestOptions {
  fhir::CurlTransportOptions transport;
  UtcInstant clockStart = UtcInstant(std::chrono::seconds(1700000000));
  std::string hubAddress = "DC:A6:32:00:00:01";
  std::string deviceSerial = "SN0001";
};

struct UplinkUnderTest {
  using Options = UplinkUnderTestOptions;

  TempDir dir;
  FakeClock clock;
  std::unique_ptr<buffer::SqliteBuffer> store;
  std::unique_ptr<fhir::CurlHttpTransport> transport;
  std::unique_ptr<fhir::AccessTokenProvider> auth = fhir::makeNoAuthorization();
  fhir::FixedOffsetZone zone{60};
  std::unique_ptr<fhir::FhirUplink> uplink;
  std::string hubAddress, deviceSerial;

  explicit UplinkUnderTest(Options options = {})
      : clock(options.clockStart), hubAddress(options.hubAddress), deviceSerial(options.deviceSerial) {
    buffer::BufferOptions o;
    o.path = dir.file("buffer.db");
    store = std::move(buffer::SqliteBuffer::open(o, clock)).value();
    options.transport.requestTimeoutMs = 20000;
    transport = std::make_unique<fhir::CurlHttpTransport>(options.transport);
  }

  static std::string baseUrl() {
    const char* v = std::getenv("RPM_TEST_FHIR_BASE_URL");
    return v ? v : "";
  }

  // Builds the uplink with the current authorization.
  UplinkUnderTest& build() {
    fhir::FhirUplinkOptions options;
    options.baseUrl = baseUrl();
    options.hub = fhir::HubRecord{"hub-test", hubAddress, "0.1.0"};
    const std::string serial = deviceSerial;
    uplink = std::make_unique<fhir::FhirUplink>(
        options, *transport, *auth, *store, zone, clock,
        [serial](const Reading& r) {
          fhir::DeviceRecord d;
          d.key = r.device;
          d.source = fhir::DeviceInfoSource::kBleDeviceInformation;
          d.manufacturer = "ACME Medical";
          d.modelNumber = "Multi-1";
          d.serialNumber = serial;
          d.kinds = {r.kind};
          return d;
        },
        [this](const std::string& id) { return store->find(id); });
    return *this;
  }

  std::vector<DeliveryOutcome> deliver(const std::vector<Reading>& readings) {
    auto out = uplink->deliver(readings);
    // Printed, so the log canary also covers every reason the uplink reports.
    for (const auto& o : out) std::cout << "outcome " << static_cast<int>(o.verdict) << " " << o.reason.toString() << "\n";
    return out;
  }
};

}  // namespace rpm::test
