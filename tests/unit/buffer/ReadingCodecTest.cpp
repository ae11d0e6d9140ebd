#include <catch2/catch.hpp>

#include "buffer/ReadingCodec.h"
#include "tests/unit/buffer/BufferFixtures.h"

using namespace rpm;
using rpm::buffer::decodeReading;
using rpm::buffer::encodeReading;

namespace {

Reading everyField() {
  Reading r = test::sampleReading("rid-1");
  r.userSlot = 3;
  r.effectiveEnd = r.effectiveStart + std::chrono::microseconds(60000001);
  r.deviceTime = LocalDateTime{2024, 5, 6, 8, 9, 10, 128};
  r.deviceTimeOffsetMinutes = -15;
  r.deviceUtcOffsetMinutes = 120;
  r.clockSkewMs = -4200;
  r.utcOffsetMinutes = -330;
  r.value = std::vector<Component>{
      Component{Measure::kGlucoseConcentration, Quantity{Decimal(-20, -2), SpecialValue::kNone, "mg/dL"},
                Quantity{Decimal(5, -3), SpecialValue::kNone, "kg/L"}, Comparator::kGreater, "fasting"},
      Component{Measure::kPulseRate, Quantity{Decimal(0, 0), SpecialValue::kNRes, "/min"}, std::nullopt,
                Comparator::kLess, ""}};
  r.status = {StatusWord{"glucose-sensor-status", 0xffffffffu}, StatusWord{"x", 0}};
  r.sequence = 4294967295u;
  r.resetEpoch = 7;
  r.relatedReadingId = "rid-0";
  r.priority = Priority::kStored;
  r.producerMessageId = "msg-9";
  r.producerReadingId = "dev-42";
  r.raw = RawPayload{"mqtt-native/1", {0x00, 0xff, 0x10}};
  return r;
}

void requireSame(const Reading& a, const Reading& b) {
  CHECK(a.id == b.id);
  CHECK(a.device == b.device);
  CHECK(a.kind == b.kind);
  CHECK(a.subject == b.subject);
  CHECK(a.userSlot == b.userSlot);
  CHECK(a.effectiveStart == b.effectiveStart);
  CHECK(a.effectiveEnd == b.effectiveEnd);
  CHECK(a.deviceTime == b.deviceTime);
  CHECK(a.deviceTimeOffsetMinutes == b.deviceTimeOffsetMinutes);
  CHECK(a.deviceUtcOffsetMinutes == b.deviceUtcOffsetMinutes);
  CHECK(a.receivedAt == b.receivedAt);
  CHECK(a.clockSkewMs == b.clockSkewMs);
  CHECK(a.utcOffsetMinutes == b.utcOffsetMinutes);
  REQUIRE(a.value.index() == b.value.index());
  if (a.value.index() == 0) {
    const auto& ca = a.components();
    const auto& cb = b.components();
    REQUIRE(ca.size() == cb.size());
    for (std::size_t i = 0; i < ca.size(); ++i) {
      CHECK(ca[i].measure == cb[i].measure);
      CHECK(ca[i].quantity == cb[i].quantity);
      CHECK(ca[i].original == cb[i].original);
      CHECK(ca[i].comparator == cb[i].comparator);
      CHECK(ca[i].code == cb[i].code);
    }
  } else {
    const auto& sa = std::get<SampledSeries>(a.value);
    const auto& sb = std::get<SampledSeries>(b.value);
    CHECK(sa.measure == sb.measure);
    CHECK(sa.mdcLead == sb.mdcLead);
    CHECK(sa.origin == sb.origin);
    CHECK(sa.periodMs == sb.periodMs);
    CHECK(sa.factor == sb.factor);
    CHECK(sa.samples == sb.samples);
  }
  CHECK(a.status == b.status);
  CHECK(a.sequence == b.sequence);
  CHECK(a.resetEpoch == b.resetEpoch);
  CHECK(a.relatedReadingId == b.relatedReadingId);
  CHECK(a.priority == b.priority);
  CHECK(a.producerMessageId == b.producerMessageId);
  CHECK(a.producerReadingId == b.producerReadingId);
  CHECK(a.raw.format == b.raw.format);
  CHECK(a.raw.bytes == b.raw.bytes);
}

std::string hex(const std::vector<std::uint8_t>& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (auto v : b) {
    s += d[v >> 4];
    s += d[v & 15];
  }
  return s;
}

}  // namespace

TEST_CASE("Every field of a reading survives the stored form unchanged", "[unit][buffer][codec]") {
  Reading r = everyField();
  auto bytes = encodeReading(r);
  auto back = decodeReading(bytes.data(), bytes.size());
  REQUIRE(back.isOk());
  requireSame(r, *back);
  CHECK(encodeReading(*back) == bytes);
}

TEST_CASE("A sampled series keeps its samples, factor and period exactly", "[unit][buffer][codec]") {
  Reading r = test::sampleReading("ecg-1");
  r.kind = ReadingKind::kEcg;
  r.value = SampledSeries{Measure::kEcgLead, 131329, Quantity{Decimal(0, 0), SpecialValue::kNone, "mV"},
                          Decimal(4, 0), Decimal(1, -3), {-2147483647 - 1, 0, 1, 2147483647}};
  auto bytes = encodeReading(r);
  auto back = decodeReading(bytes.data(), bytes.size());
  REQUIRE(back.isOk());
  requireSame(r, *back);
}

TEST_CASE("Decimals keep their precision: 2, 2.0 and 2.00 stay distinct", "[unit][buffer][codec]") {
  for (auto d : {Decimal(2, 0), Decimal(20, -1), Decimal(200, -2), Decimal(-9223372036854775807LL, -18)}) {
    Reading r = test::sampleReading("d");
    r.value = std::vector<Component>{Component{Measure::kBodyWeight, Quantity{d, SpecialValue::kNone, "kg"},
                                               std::nullopt, Comparator::kNone, ""}};
    auto bytes = encodeReading(r);
    auto back = decodeReading(bytes.data(), bytes.size());
    REQUIRE(back.isOk());
    CHECK(back->components()[0].quantity.value == d);
  }
}

TEST_CASE("Format version 1 bytes are frozen", "[unit][buffer][codec]") {
  // A change here means stored backlogs no longer decode: add version 2
  // instead and keep decoding version 1 (docs/decisions/0030-buffer-reading-serialization.md).
  Reading r;
  r.id = "a";
  r.device = *DeviceKey::parse("mqtt:x");
  r.kind = ReadingKind::kBodyTemperature;
  r.value = std::vector<Component>{Component{Measure::kBodyTemperature,
                                             Quantity{Decimal(365, -1), SpecialValue::kNone, "Cel"}, std::nullopt,
                                             Comparator::kNone, ""}};
  CHECK(hex(encodeReading(r)) ==
        "01"                                // format version
        "0100000061"                        // id "a"
        "060000006d7174743a78"              // device "mqtt:x"
        "07"                                // kind body-temperature
        "00000000"                          // subject ""
        "00"                                // no user slot
        "0000000000000000"                  // effectiveStart (us)
        "00" "00" "00" "00"                 // no end, device time, time offset, device zone
        "0000000000000000"                  // receivedAt (us)
        "00"                                // no clock skew
        "00000000"                          // utcOffsetMinutes
        "00" "01000000"                     // components, count 1
        "0a00"                              // measure body-temperature
        "6d01000000000000" "ffffffff"       // 365 x 10^-1
        "00" "0300000043656c"               // no special value, unit "Cel"
        "00" "00" "00000000"                // no original, no comparator, code ""
        "00000000"                          // no status words
        "00" "00000000"                     // no sequence, reset epoch 0
        "00000000" "00"                     // no related reading, priority live
        "00000000" "00000000"               // producer message id, producer reading id
        "00000000" "00000000"               // raw format, raw bytes
        "f7e846b2041a529b");                // FNV-1a 64 of everything before
}

TEST_CASE("Any flipped byte or truncation of a stored reading is detected", "[unit][buffer][codec]") {
  auto bytes = encodeReading(everyField());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto bad = bytes;
    bad[i] ^= 0x20;
    CHECK_FALSE(decodeReading(bad.data(), bad.size()).isOk());
  }
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = decodeReading(bytes.data(), n);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().kind() == ErrorKind::kCorrupt);
  }
  auto longer = bytes;
  longer.push_back(0);
  CHECK_FALSE(decodeReading(longer.data(), longer.size()).isOk());
}

TEST_CASE("Every measure the model knows round-trips through the codec", "[unit][codec]") {
  // Regression: the codec once hard-coded the last measure and refused bodies
  // with measures added later (glucose sample location), as "corrupt".
  for (std::uint16_t m = 1; rpm::measureName(static_cast<rpm::Measure>(m)) != "unknown"; ++m) {
    rpm::Reading r;
    r.id = "r";
    r.device = *rpm::DeviceKey::parse("bt:B0495F001071");
    rpm::Component c;
    c.measure = static_cast<rpm::Measure>(m);
    c.quantity = rpm::Quantity{rpm::Decimal(1, 0), rpm::SpecialValue::kNone, "1"};
    r.value = std::vector<rpm::Component>{c};
    auto bytes = rpm::buffer::encodeReading(r);
    auto back = rpm::buffer::decodeReading(bytes.data(), bytes.size());
    INFO(rpm::measureName(c.measure));
    REQUIRE(back.isOk());
    CHECK(back->components().at(0).measure == c.measure);
  }
}
