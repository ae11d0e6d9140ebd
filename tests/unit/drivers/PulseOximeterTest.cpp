#include "drivers/pulse_oximeter/PulseOximeterParser.h"
#include "tests/unit/drivers/DecoderTestSupport.h"

using namespace rpm;
using namespace rpm::test;
using namespace rpm::drivers::pulse_oximeter;

namespace {
std::vector<std::string> values(const Reading& r) {
  std::vector<std::string> out;
  for (const Component& c : r.components()) {
    out.push_back(std::string(measureName(c.measure)) + "/" + c.code + "=" + c.quantity.value.toString() + " " +
                  c.quantity.unit);
  }
  return out;
}
}  // namespace

// The next three vectors are the literal bytes of StanfordSpezi/SpeziBluetooth
// Tests/SpeziBluetoothServicesTests/PLXTests.swift (cross-check).
TEST_CASE("PLX spot-check with every field decodes (SpeziBluetooth vector)", "[unit][pulse_oximeter]") {
  auto r = decode(kSpotCheckMeasurement,
                  {15, 172, 243, 190, 245, 232, 7, 11, 29, 23, 8, 57, 32, 64, 34, 0, 0, 102, 227}, decoderContext());
  REQUIRE(r.isOk());
  REQUIRE(r->readings.size() == 1);
  const Reading& reading = r->readings[0];
  CHECK(reading.kind == ReadingKind::kPulseOximetry);
  CHECK(values(reading) == std::vector<std::string>{"spo2/spot-check=94.0 %", "pulse-rate/spot-check=147.0 /min",
                                                    "perfusion-index/=8.70 %"});
  CHECK(reading.deviceTime->toString() == "2024-11-29T23:08:57");
  CHECK(formatDateTime(reading.effectiveStart, 60) == "2024-11-29T23:08:57+01:00");
  REQUIRE(reading.status.size() == 3);
  CHECK(reading.status[0] == StatusWord{"plx-spot-check-flags", 0x0F});
  CHECK(reading.status[1] == StatusWord{"plx-measurement-status", 0x4020});
  CHECK(reading.status[2] == StatusWord{"plx-device-sensor-status", 0x000022});
  CHECK(reading.priority == Priority::kLive);
  CHECK(fieldValue(*r, "measurement-status-flags") == "measurement-ongoing, questionable-measurement");
  CHECK(fieldValue(*r, "device-sensor-status-flags") == "equipment-malfunction, low-perfusion");
  CHECK(reading.raw.format == "gatt:2A5E");
}

TEST_CASE("PLX continuous with every field decodes (SpeziBluetooth vector)", "[unit][pulse_oximeter]") {
  auto r = decode(kContinuousMeasurement,
                  {31, 222, 243, 202, 243, 202, 243, 90, 245, 212, 243, 178, 242, 32, 1, 0, 0, 0, 122, 227},
                  decoderContext());
  REQUIRE(r.isOk());
  const Reading& reading = r->readings.at(0);
  CHECK(values(reading) == std::vector<std::string>{"spo2/normal=99.0 %", "pulse-rate/normal=97.0 /min",
                                                    "spo2/fast=97.0 %", "pulse-rate/fast=137.0 /min",
                                                    "spo2/slow=98.0 %", "pulse-rate/slow=69.0 /min",
                                                    "perfusion-index/=8.90 %"});
  REQUIRE(reading.status.size() == 2);
  CHECK(reading.status[0] == StatusWord{"plx-measurement-status", 0x0120});
  CHECK(reading.status[1] == StatusWord{"plx-device-sensor-status", 0});
  CHECK_FALSE(reading.deviceTime);
  CHECK(reading.effectiveStart == decoderContext().receivedAt);
}

TEST_CASE("PLX features with both support fields decode (SpeziBluetooth vector)", "[unit][pulse_oximeter]") {
  auto r = decode(kPlxFeatures, {163, 0, 64, 16, 128, 1, 0}, decoderContext());
  REQUIRE(r.isOk());
  CHECK(r->readings.empty());
  CHECK(fieldValue(*r, "features") == "0x00A3");
  CHECK(fieldValue(*r, "spo2pr-slow") == "yes");
  CHECK(fieldValue(*r, "spo2pr-fast") == "no");
  CHECK(fieldValue(*r, "supported-measurement-status") == "early-estimated-data, calibration-ongoing");
  CHECK(fieldValue(*r, "supported-device-sensor-status") == "non-pulsatile-signal, questionable-pulse");
}

TEST_CASE("Minimal PLX values carry only SpO2 and pulse rate", "[unit][pulse_oximeter]") {
  auto spot = decode(kSpotCheckMeasurement, hex("00 62 00 48 00"), decoderContext());
  REQUIRE(spot.isOk());
  CHECK(values(spot->readings.at(0)) ==
        std::vector<std::string>{"spo2/spot-check=98 %", "pulse-rate/spot-check=72 /min"});
  CHECK(spot->readings[0].status == std::vector<StatusWord>{{"plx-spot-check-flags", 0}});
  auto cont = decode(kContinuousMeasurement, hex("00 62 00 48 00"), decoderContext());
  REQUIRE(cont.isOk());
  CHECK(values(cont->readings.at(0)) == std::vector<std::string>{"spo2/normal=98 %", "pulse-rate/normal=72 /min"});
  CHECK(cont->readings[0].status.empty());
  auto features = decode(kPlxFeatures, hex("00 00"), decoderContext());
  REQUIRE(features.isOk());
  CHECK(fieldValue(*features, "features") == "0x0000");
}

TEST_CASE("PLX special values are kept and stored data is marked stored", "[unit][pulse_oximeter]") {
  // SpO2 NaN while the finger is inserted; status bit 9 = from storage.
  auto r = decode(kSpotCheckMeasurement, hex("02 FF 07 FE 07 00 02"), decoderContext());
  REQUIRE(r.isOk());
  const Reading& reading = r->readings.at(0);
  CHECK(reading.components()[0].quantity.special == SpecialValue::kNaN);
  CHECK(reading.components()[1].quantity.special == SpecialValue::kPositiveInfinity);
  CHECK(reading.priority == Priority::kStored);
  auto nres = decode(kContinuousMeasurement, hex("10 00 08 02 08 01 08"), decoderContext());
  REQUIRE(nres.isOk());
  CHECK(nres->readings[0].components()[0].quantity.special == SpecialValue::kNRes);
  CHECK(nres->readings[0].components()[1].quantity.special == SpecialValue::kNegativeInfinity);
  CHECK(nres->readings[0].components()[2].quantity.special == SpecialValue::kReserved);
}

TEST_CASE("A spot-check from a device whose clock is not set uses the receive time", "[unit][pulse_oximeter]") {
  auto r = decode(kSpotCheckMeasurement, hex("11 62 00 48 00 E8 07 01 01 00 00 00"), decoderContext());
  REQUIRE(r.isOk());
  const Reading& reading = r->readings.at(0);
  CHECK(reading.deviceTime->toString() == "2024-01-01T00:00:00");
  CHECK(reading.effectiveStart == decoderContext().receivedAt);
  CHECK(reading.status.at(0).bits == 0x11);
  CHECK(fieldValue(*r, "device-clock-set") == "no");
}

TEST_CASE("Each PLX continuous flag adds exactly its field", "[unit][pulse_oximeter]") {
  auto size = [](const char* payload) {
    auto r = decode(kContinuousMeasurement, hex(payload), decoderContext());
    REQUIRE(r.isOk());
    return r->readings.at(0).components().size() * 10 + r->readings[0].status.size();
  };
  CHECK(size("01 62 00 48 00 61 00 49 00") == 40);
  CHECK(size("02 62 00 48 00 61 00 49 00") == 40);
  CHECK(size("04 62 00 48 00 00 00") == 21);
  CHECK(size("08 62 00 48 00 00 00 00") == 21);
  CHECK(size("10 62 00 48 00 57 F0") == 30);
}

TEST_CASE("Malformed PLX values are typed errors naming the problem", "[unit][pulse_oximeter]") {
  const std::string s = "PLX Spot-check Measurement (0x2A5E): ";
  const std::string c = "PLX Continuous Measurement (0x2A5F): ";
  const std::string f = "PLX Features (0x2A60): ";
  requireMalformed(decode, kSpotCheckMeasurement, "", s + "empty value");
  requireMalformed(decode, kSpotCheckMeasurement, "20 62 00 48 00", s + "reserved flag bits set");
  requireMalformed(decode, kSpotCheckMeasurement, "00 62 00 48", s + "too short for the SpO2 and pulse rate");
  requireMalformed(decode, kSpotCheckMeasurement, "01 62 00 48 00 E8 07", s + "too short for the timestamp");
  requireMalformed(decode, kSpotCheckMeasurement, "01 62 00 48 00 E8 07 01 01 18 00 00",
                   s + "impossible date or time in the timestamp");
  requireMalformed(decode, kSpotCheckMeasurement, "02 62 00 48 00 00", s + "too short for the measurement status");
  requireMalformed(decode, kSpotCheckMeasurement, "04 62 00 48 00 00 00",
                   s + "too short for the device and sensor status");
  requireMalformed(decode, kSpotCheckMeasurement, "08 62 00 48 00 57", s + "too short for the pulse amplitude index");
  requireMalformed(decode, kSpotCheckMeasurement, "00 62 00 48 00 00", s + "unexpected trailing bytes");
  requireMalformed(decode, kContinuousMeasurement, "01 62 00 48 00 61 00", c + "too short for SpO2PR-Fast");
  requireMalformed(decode, kContinuousMeasurement, "02 62 00 48 00", c + "too short for SpO2PR-Slow");
  requireMalformed(decode, kContinuousMeasurement, "E0 62 00 48 00", c + "reserved flag bits set");
  requireMalformed(decode, kPlxFeatures, "01", f + "too short for the supported features");
  requireMalformed(decode, kPlxFeatures, "01 00 40", f + "too short for the measurement status support");
  requireMalformed(decode, kPlxFeatures, "02 00 80 01", f + "too short for the device and sensor status support");
  requireMalformed(decode, kPlxFeatures, "00 00 00", f + "unexpected trailing bytes");
}
