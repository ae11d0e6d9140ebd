// Properties every registered decoder must have, checked through the
// registry so a new driver folder is covered without editing this file.
#include "drivers/registry/DriverRegistry.h"
#include "tests/unit/drivers/DecoderTestSupport.h"

using namespace rpm;
using namespace rpm::test;

TEST_CASE("Every health characteristic of the reference has a driver", "[unit][registry]") {
  for (std::uint16_t c : {0x2A18, 0x2A34, 0x2A51, 0x2A52, 0x2A35, 0x2A36, 0x2A49, 0x2A37, 0x2A5E, 0x2A5F, 0x2A60,
                          0x2A1C, 0x2A1E, 0x2A1D, 0x2A21, 0x2A9D, 0x2A9E, 0x2AA7, 0x2A08, 0x2A2B, 0x2A29, 0x2A24, 0x2A25, 0x2A27,
                          0x2A26, 0x2A28, 0x2A23, 0x2A50, 0x2A19}) {
    INFO(std::hex << c);
    CHECK(drivers::driverForCharacteristic(c) != nullptr);
  }
}

TEST_CASE("Every decoder rejects an empty or truncated value with a message naming its characteristic",
          "[unit][registry]") {
  for (const DriverDescriptor* d : drivers::registeredDrivers()) {
    for (std::uint16_t c : d->characteristics) {
      char uuid[8];
      std::snprintf(uuid, sizeof uuid, "0x%04X", c);
      INFO(d->name << " " << uuid);
      // DIS strings may be empty; everything else needs at least one byte.
      auto r = d->decode(c, {}, decoderContext());
      if (!r.isOk()) {
        CHECK(r.status().kind() == ErrorKind::kMalformedPayload);
        CHECK(r.status().message().find(uuid) != std::string::npos);
      }
    }
  }
}

TEST_CASE("Every decoder fills fields for what it decodes and never computes reading ids", "[unit][registry]") {
  struct Sample { std::uint16_t characteristic; const char* payload; };
  DecodeContext context = decoderContext();
  context.sessionStart = LocalDateTime{2024, 1, 1, 0, 0, 0, 0};
  for (const Sample& s : {Sample{0x2A18, "02 02 00 E8 07 05 06 08 09 0A 5F B0 11"}, Sample{0x2A34, "02 01 00 01"},
                          Sample{0x2A51, "00 00"}, Sample{0x2A52, "06 00 01 01"}, Sample{0x2A35, "00 79 00 4F 00 5D 00"},
                          Sample{0x2A36, "00 28 00 FF 07 FF 07"}, Sample{0x2A49, "00 00"}, Sample{0x2A37, "00 48"},
                          Sample{0x2A5E, "00 62 00 48 00"}, Sample{0x2A5F, "00 62 00 48 00"}, Sample{0x2A60, "00 00"},
                          Sample{0x2A1C, "00 72 01 00 FF"}, Sample{0x2A9D, "00 B0 36"}, Sample{0x2A9E, "00 00 00 00"},
                          Sample{0x2AA7, "06 00 64 00 0A 00"}, Sample{0x2A19, "64"}, Sample{0x2A23, "01 02 03 04 05 06 07 08"}}) {
    INFO(std::hex << s.characteristic);
    const DriverDescriptor* d = drivers::driverForCharacteristic(s.characteristic);
    REQUIRE(d != nullptr);
    auto r = d->decode(s.characteristic, hex(s.payload), context);
    REQUIRE(r.isOk());
    CHECK_FALSE(r->fields.empty());
    if (r->readings.empty()) CHECK_FALSE(r->note.empty());  // nothing to upload says why
    for (const Reading& reading : r->readings) {
      CHECK(reading.id.empty());
      CHECK(reading.device == context.device);
      CHECK(reading.receivedAt == context.receivedAt);
      CHECK(reading.raw.format.rfind("gatt:", 0) == 0);
      CHECK_FALSE(reading.raw.bytes.empty());
    }
  }
}

TEST_CASE("The measures the decoders added keep their frozen numbers and names", "[unit][registry]") {
  struct Case { Measure measure; int number; const char* name; };
  for (const Case& c : {Case{Measure::kSampleLocation, 24, "sample-location"}, Case{Measure::kMeal, 25, "meal"},
                        Case{Measure::kTester, 26, "tester"}, Case{Measure::kHealth, 27, "health"},
                        Case{Measure::kCgmTrend, 28, "cgm-trend"}, Case{Measure::kCgmQuality, 29, "cgm-quality"}}) {
    CHECK(static_cast<int>(c.measure) == c.number);
    CHECK(measureName(c.measure) == c.name);
    CHECK(measureFromName(c.name) == std::optional<Measure>(c.measure));
  }
}
