#include "drivers/heart_rate/HeartRateParser.h"
#include "tests/unit/drivers/DecoderTestSupport.h"

using namespace rpm;
using namespace rpm::test;
using namespace rpm::drivers::heart_rate;

TEST_CASE("Heart rate with every field yields a rate reading and an RR reading", "[unit][heart_rate]") {
  // flags 0x1F: u16 rate, contact detected, energy, RR; 72 /min, 1000 kJ,
  // RR 1024, 512, 1, 64 and 1023 ticks of 1/1024 s.
  const std::string payload = "1F 48 00 E8 03 00 04 00 02 01 00 40 00 FF 03";
  auto r = decode(kHeartRateMeasurement, hex(payload), decoderContext());
  REQUIRE(r.isOk());
  REQUIRE(r->readings.size() == 2);
  const Reading& hr = r->readings[0];
  CHECK(hr.kind == ReadingKind::kHeartRate);
  REQUIRE(hr.components().size() == 2);
  CHECK(hr.components()[0].measure == Measure::kHeartRate);
  CHECK(hr.components()[0].quantity.value.toString() == "72");
  CHECK(hr.components()[0].quantity.unit == "/min");
  CHECK(hr.components()[1].measure == Measure::kEnergyExpended);
  CHECK(hr.components()[1].quantity.value.toString() == "1000");
  CHECK(hr.components()[1].quantity.unit == "kJ");
  CHECK(hr.status.at(0) == StatusWord{"hr-sensor-contact", 3});
  CHECK(hr.effectiveStart == decoderContext().receivedAt);
  CHECK(hr.raw.format == "gatt:2A37");
  CHECK(hr.raw.bytes == hex(payload));

  const Reading& rr = r->readings[1];
  CHECK(rr.kind == ReadingKind::kRrIntervals);
  std::vector<std::string> ms, ticks;
  for (const Component& c : rr.components()) {
    CHECK(c.measure == Measure::kRrInterval);
    CHECK(c.quantity.unit == "ms");
    REQUIRE(c.original);
    CHECK(c.original->unit == "s/1024");
    ms.push_back(c.quantity.value.toString());
    ticks.push_back(c.original->value.toString());
  }
  // 64/1024 s = 62.5 ms rounds half away from zero; 1023 -> 999.02 -> 999.
  CHECK(ms == std::vector<std::string>{"1000", "500", "1", "63", "999"});
  CHECK(ticks == std::vector<std::string>{"1024", "512", "1", "64", "1023"});
  CHECK(fieldValue(*r, "sensor-contact") == "contact");
}

TEST_CASE("Minimal heart rate is one 8-bit rate", "[unit][heart_rate]") {
  auto r = decode(kHeartRateMeasurement, hex("00 3C"), decoderContext());
  REQUIRE(r.isOk());
  REQUIRE(r->readings.size() == 1);
  CHECK(r->readings[0].components().size() == 1);
  CHECK(r->readings[0].components()[0].quantity.value.toString() == "60");
  CHECK(r->readings[0].status.at(0).bits == 0);
  CHECK(fieldValue(*r, "sensor-contact") == "not-supported");
}

TEST_CASE("A 16-bit heart rate above 255 decodes", "[unit][heart_rate]") {
  auto r = decode(kHeartRateMeasurement, hex("01 2C 01"), decoderContext());
  REQUIRE(r.isOk());
  CHECK(r->readings.at(0).components()[0].quantity.value.toString() == "300");
}

TEST_CASE("Sensor contact values: no contact yields nothing, contact and unsupported a reading", "[unit][heart_rate]") {
  auto none = decode(kHeartRateMeasurement, hex("04 48"), decoderContext());
  REQUIRE(none.isOk());
  CHECK(none->readings.empty());
  CHECK(fieldValue(*none, "sensor-contact") == "no-contact");
  CHECK_FALSE(none->note.empty());
  auto contact = decode(kHeartRateMeasurement, hex("06 48"), decoderContext());
  REQUIRE(contact.isOk());
  CHECK(contact->readings.at(0).status.at(0).bits == 3);
  auto unsupported = decode(kHeartRateMeasurement, hex("02 48"), decoderContext());
  REQUIRE(unsupported.isOk());
  CHECK(unsupported->readings.at(0).status.at(0).bits == 1);
}

TEST_CASE("Nine RR intervals fill a 20-byte notification", "[unit][heart_rate]") {
  std::string payload = "10 48";
  for (int i = 0; i < 9; ++i) payload += " 00 04";
  auto r = decode(kHeartRateMeasurement, hex(payload), decoderContext());
  REQUIRE(r.isOk());
  CHECK(r->readings.at(1).components().size() == 9);
}

TEST_CASE("Malformed heart rate values are typed errors naming the problem", "[unit][heart_rate]") {
  const std::string m = "Heart Rate Measurement (0x2A37): ";
  requireMalformed(decode, kHeartRateMeasurement, "", m + "empty value");
  requireMalformed(decode, kHeartRateMeasurement, "00", m + "too short for the heart rate");
  requireMalformed(decode, kHeartRateMeasurement, "20 48", m + "reserved flag bits set");
  requireMalformed(decode, kHeartRateMeasurement, "01 48", m + "too short for the 16-bit heart rate");
  requireMalformed(decode, kHeartRateMeasurement, "08 48 E8", m + "too short for the energy expended");
  requireMalformed(decode, kHeartRateMeasurement, "10 48", m + "too short for the RR intervals");
  requireMalformed(decode, kHeartRateMeasurement, "10 48 00 04 00", m + "odd number of bytes for the RR intervals");
  requireMalformed(decode, kHeartRateMeasurement, "00 48 00", m + "unexpected trailing bytes");
}
