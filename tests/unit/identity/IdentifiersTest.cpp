// Golden vectors for the frozen identifiers (docs/decisions/0002, 0005, 0006).
// The expected strings were computed independently (Python hashlib/uuid).
#include <catch2/catch.hpp>

#include "gateway/identity/Identifiers.h"

using namespace rpm;

namespace {

Reading glucoseRecord(std::uint32_t seq, LocalDateTime base, std::uint32_t epoch) {
  Reading r;
  r.device = *DeviceKey::parse("bt:B0:49:5F:00:10:71");
  r.kind = ReadingKind::kGlucose;
  r.sequence = seq;
  r.deviceTime = base;
  r.resetEpoch = epoch;
  return r;
}

}  // namespace

TEST_CASE("Glucose records are identified by sequence, base time and reset epoch", "[unit][identity]") {
  LocalDateTime base{2024, 3, 15, 7, 30, 0};
  Reading r = glucoseRecord(17, base, 0);
  CHECK(readingIdRule(r) == ReadingIdRule::kSequence);
  CHECK(computeReadingId(r) == "cc664e148ea4ef95dcfc7862481a4a15");
  // The time offset can change for the same record: it is not part of the id.
  r.deviceTimeOffsetMinutes = 60;
  CHECK(computeReadingId(r) == "cc664e148ea4ef95dcfc7862481a4a15");
}

TEST_CASE("A meter whose counter reset after a battery change does not collide", "[unit][identity]") {
  // After the reset the meter restarts at sequence 17 with the same clock
  // reading; only the reset epoch tells the records apart.
  LocalDateTime base{2024, 3, 15, 7, 30, 0};
  Reading before = glucoseRecord(17, base, 0);
  Reading after = glucoseRecord(17, base, 1);
  CHECK(computeReadingId(after) == "8493a7dbbc9272b5ca55b8c2c3015ef1");
  CHECK(computeReadingId(before) != computeReadingId(after));
}

TEST_CASE("Readings with a device time are identified by it and the user slot", "[unit][identity]") {
  Reading r;
  r.device = *DeviceKey::parse("bt:B0495F001071");
  r.kind = ReadingKind::kBloodPressure;
  r.deviceTime = LocalDateTime{2024, 5, 6, 8, 9, 10};
  r.userSlot = 1;
  CHECK(readingIdRule(r) == ReadingIdRule::kDeviceTime);
  CHECK(computeReadingId(r) == "398ebe4621a4c68c3e12b4a6c89f1295");
  r.userSlot = 2;
  CHECK(computeReadingId(r) != "398ebe4621a4c68c3e12b4a6c89f1295");
}

TEST_CASE("A producer's reading id wins over the device time", "[unit][identity]") {
  Reading r;
  r.device = *DeviceKey::parse("mqtt:scale-01");
  r.kind = ReadingKind::kBodyWeight;
  r.producerReadingId = "r-000042";
  r.deviceTime = LocalDateTime{2024, 5, 6, 8, 9, 10};
  CHECK(readingIdRule(r) == ReadingIdRule::kProducerId);
  CHECK(computeReadingId(r) == "f8eda9f29edeba9e4b931c2fe18d5b2e");
}

TEST_CASE("A device with neither time nor sequence falls back to receive time and payload", "[unit][identity]") {
  Reading r;
  r.device = *DeviceKey::parse("bt:B0495F001071");
  r.kind = ReadingKind::kBodyTemperature;
  r.receivedAt = UtcInstant(std::chrono::microseconds(1700000000000000));
  r.raw.bytes = {0x00, 0x72, 0x01, 0x00, 0xFF};
  CHECK(readingIdRule(r) == ReadingIdRule::kReceiveTime);
  CHECK(computeReadingId(r) == "4526f5fe3ee12bd959713ba92e65160a");
  // An "unknown" device date (year 0) is no time either.
  r.deviceTime = LocalDateTime{0, 0, 0, 0, 0, 0};
  CHECK(readingIdRule(r) == ReadingIdRule::kReceiveTime);
  CHECK(computeReadingId(r) == "4526f5fe3ee12bd959713ba92e65160a");
}

TEST_CASE("The conditional-create identifier follows the PHD IG pattern", "[unit][identity]") {
  ConditionalIdParts p;
  p.device = *DeviceKey::parse("bt:B0495F001071");
  p.patientId = "123";
  p.mdcCode = 160184;
  p.timestampSeconds = LocalDateTime{2024, 3, 15, 7, 30, 0}.secondsSince2000();
  CHECK(conditionalCreateIdentifier(p) == "B0495F001071-123-160184-763803000");  // reference §4.3 example
  p.mdcCode = 150020;
  p.timestampSeconds = 768298150;
  CHECK(conditionalCreateIdentifier(p) == "B0495F001071-123-150020-768298150");  // reference §4.7
  p.durationSeconds = 60;
  p.supplementalTypes = {150588};
  CHECK(conditionalCreateIdentifier(p) == "B0495F001071-123-150020-768298150..60-150588");
  p.durationSeconds.reset();
  p.supplementalTypes.clear();
  p.deviceUtcOffsetQuarterHours = -20;
  CHECK(conditionalCreateIdentifier(p) == "B0495F001071-123-150020-768298150-20");
  p.deviceUtcOffsetQuarterHours = 4;
  CHECK(conditionalCreateIdentifier(p) == "B0495F001071-123-150020-768298150+4");
}

TEST_CASE("System ids keep over-the-air byte order; MQTT devices get a UUIDv5", "[unit][identity]") {
  CHECK(deviceIdentifierPart(*DeviceKey::parse("sysid:71-10-00-FE-FF-5F-49-B0")) == "711000FEFF5F49B0");
  CHECK(deviceIdentifierPart(*DeviceKey::parse("mqtt:scale-01")) == "1954DDA0FF905A2C8692D40DB2EE7FE3");
}

TEST_CASE("Glucose identifiers use the base time, not base time plus offset", "[unit][identity]") {
  Reading r = glucoseRecord(17, LocalDateTime{2024, 3, 15, 7, 30, 0}, 0);
  r.deviceTimeOffsetMinutes = 60;
  CHECK(identifierTimestampSeconds(r) == 763803000);
  // CGM records: session start + Time Offset.
  Reading cgm = glucoseRecord(5, LocalDateTime{2024, 3, 15, 7, 30, 0}, 0);
  cgm.kind = ReadingKind::kCgmGlucose;
  cgm.deviceTimeOffsetMinutes = 5;
  CHECK(identifierTimestampSeconds(cgm) == 763803300);
  // No usable device time: the effective instant on the hub's wall clock.
  Reading live;
  live.effectiveStart = fromLocal(LocalDateTime{2024, 5, 6, 8, 9, 10}, 120);
  live.utcOffsetMinutes = 120;
  CHECK(identifierTimestampSeconds(live) == 768298150);
}

TEST_CASE("UUIDv5 matches RFC 4122 and gives PUT logical ids", "[unit][identity]") {
  CHECK(uuidToString(uuidV5(kUuidNamespaceUrl, "http://python.org/")) == "4c565f0d-3f5a-5890-b41b-20cf47701c5e");
  CHECK(logicalIdForIdentifier(kPhdIdentifierSystem, "B0495F001071-123-150020-768298150") ==
        "e4cf2466-1c70-56a4-8f0f-d7fe623c066e");
}

TEST_CASE("Device aliases are keyed hashes that reveal no address", "[unit][identity]") {
  DeviceAliaser aliaser(std::vector<std::uint8_t>{'h', 'u', 'b', '-', 's', 'e', 'c', 'r', 'e', 't'});
  auto alias = aliaser.aliasFor(*DeviceKey::parse("bt:B0495F001071"));
  CHECK(alias.text() == "dev-1efeb6b4");
  CHECK(alias.text().find("B049") == std::string::npos);
  DeviceAliaser other(std::vector<std::uint8_t>{'o', 't', 'h', 'e', 'r'});
  CHECK(other.aliasFor(*DeviceKey::parse("bt:B0495F001071")).text() != alias.text());
}
