#include <catch2/catch.hpp>

#include "gateway/engine/StreamAggregator.h"
#include "gateway/identity/Identifiers.h"
#include "tests/support/FakeClock.h"

using namespace rpm;
using namespace std::chrono;

namespace {

// 2023-11-14T22:13:00Z, a multiple of 60 s.
const UtcInstant kT0 = UtcInstant(seconds(1700000000 - 1700000000 % 60));

Decimal dec(const char* s) { return *Decimal::parse(s); }

Reading heartRate(UtcInstant t, const char* bpm, std::vector<const char*> rrMs = {}) {
  Reading r;
  r.device = *DeviceKey::parse("bt:B0495F001071");
  r.subject = "Patient/123";
  r.kind = ReadingKind::kHeartRate;
  r.effectiveStart = t;
  r.receivedAt = t;
  std::vector<Component> c;
  c.push_back(Component{Measure::kHeartRate, Quantity{dec(bpm), SpecialValue::kNone, "/min"}, {}, {}, {}});
  for (const char* rr : rrMs) c.push_back(Component{Measure::kRrInterval, Quantity{dec(rr), SpecialValue::kNone, "ms"}, {}, {}, {}});
  r.value = c;
  return r;
}

Reading plx(UtcInstant t, const char* spo2, const char* pr) {
  Reading r;
  r.device = *DeviceKey::parse("bt:B0495F001072");
  r.subject = "Patient/123";
  r.kind = ReadingKind::kPulseOximetry;
  r.effectiveStart = t;
  r.raw.format = "gatt:2A5F";
  r.value = std::vector<Component>{Component{Measure::kSpo2, Quantity{dec(spo2), SpecialValue::kNone, "%"}, {}, {}, {}},
                                   Component{Measure::kPulseRate, Quantity{dec(pr), SpecialValue::kNone, "/min"}, {}, {}, {}}};
  return r;
}

const Component* find(const Reading& r, Measure m) {
  for (const auto& c : r.components()) {
    if (c.measure == m) return &c;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("decimal mean keeps one more decimal than its finest input, rounding half away from zero", "[unit][engine]") {
  CHECK(decimalMean({dec("72"), dec("73")}) == dec("72.5"));
  CHECK(decimalMean({dec("70"), dec("71"), dec("71")}) == dec("70.7"));   // 70.666.. -> 70.7
  CHECK(decimalMean({dec("1"), dec("0"), dec("0"), dec("0")}) == dec("0.3"));  // 0.25 -> 0.3
  CHECK(decimalMean({dec("-1"), dec("0"), dec("0"), dec("0")}) == dec("-0.3"));
  CHECK(decimalMean({dec("97.5"), dec("98")}) == dec("97.75"));
  CHECK_FALSE(decimalMean({}).has_value());
}

TEST_CASE("decimal median is the middle value, or the mean of the two middle values", "[unit][engine]") {
  CHECK(decimalMedian({dec("98"), dec("96"), dec("97")}) == dec("97"));
  CHECK(decimalMedian({dec("98"), dec("96"), dec("97"), dec("99")}) == dec("97.5"));
}

TEST_CASE("one heart-rate summary and one RR reading per window, closed by the clock", "[unit][engine]") {
  test::FakeClock clock(kT0);
  StreamAggregator agg(clock, seconds(60));
  CHECK(agg.add(heartRate(kT0 + seconds(1), "70", {"800", "812"})).empty());
  CHECK(agg.add(heartRate(kT0 + seconds(2), "76", {"790"})).empty());
  CHECK(agg.add(heartRate(kT0 + seconds(3), "71")).empty());
  clock.advance(seconds(61));
  CHECK(agg.poll().empty());  // within the grace for late samples
  clock.advance(StreamAggregator::kGrace);
  auto out = agg.poll();
  REQUIRE(out.size() == 2);
  const Reading& hr = out[0].kind == ReadingKind::kHeartRate ? out[0] : out[1];
  const Reading& rr = out[0].kind == ReadingKind::kRrIntervals ? out[0] : out[1];
  CHECK(hr.kind == ReadingKind::kHeartRate);
  CHECK(find(hr, Measure::kHeartRate)->quantity.value == dec("72.3"));  // 217/3 = 72.33
  CHECK(find(hr, Measure::kHeartRateMin)->quantity.value == dec("70"));
  CHECK(find(hr, Measure::kHeartRateMax)->quantity.value == dec("76"));
  CHECK(hr.effectiveStart == kT0);
  CHECK(*hr.effectiveEnd == kT0 + seconds(60));
  CHECK(hr.subject == "Patient/123");
  CHECK_FALSE(hr.producerReadingId.empty());
  REQUIRE(rr.components().size() == 3);
  CHECK(rr.components()[0].quantity.value == dec("800"));
  CHECK(rr.components()[2].quantity.value == dec("790"));
  CHECK(agg.poll().empty());
}

TEST_CASE("a sample in a later window closes the earlier one at once", "[unit][engine]") {
  test::FakeClock clock(kT0);
  StreamAggregator agg(clock, seconds(60));
  agg.add(heartRate(kT0 + seconds(10), "70"));
  auto out = agg.add(heartRate(kT0 + seconds(65), "80"));
  REQUIRE(out.size() == 1);
  CHECK(find(out[0], Measure::kHeartRate)->quantity.value == dec("70.0"));
}

TEST_CASE("PLX continuous becomes per-window median SpO2 and pulse; invalid samples are left out", "[unit][engine]") {
  test::FakeClock clock(kT0);
  StreamAggregator agg(clock, seconds(30));
  agg.add(plx(kT0 + seconds(1), "97", "64"));
  agg.add(plx(kT0 + seconds(2), "99", "70"));
  agg.add(plx(kT0 + seconds(3), "98", "66"));
  agg.add(plx(kT0 + seconds(4), "96", "68"));
  Reading bad = plx(kT0 + seconds(5), "50", "200");
  bad.status.push_back({"plx-measurement-status", 1u << 15});
  agg.add(bad);
  clock.advance(seconds(40));
  auto out = agg.poll();
  REQUIRE(out.size() == 1);
  CHECK(out[0].kind == ReadingKind::kPulseOximetry);
  CHECK(find(out[0], Measure::kSpo2)->quantity.value == dec("97.5"));
  CHECK(find(out[0], Measure::kPulseRate)->quantity.value == dec("67.0"));
  CHECK(*out[0].effectiveEnd == kT0 + seconds(30));
}

TEST_CASE("spot measurements pass through and are never aggregated", "[unit][engine]") {
  test::FakeClock clock(kT0);
  StreamAggregator agg(clock, seconds(60));
  Reading spot = plx(kT0, "97", "64");
  spot.raw.format = "gatt:2A5E";
  auto out = agg.add(spot);
  REQUIRE(out.size() == 1);
  CHECK(out[0].raw.format == "gatt:2A5E");
  Reading spotHr = heartRate(kT0, "70");
  std::get<std::vector<Component>>(spotHr.value)[0].code = "spot";
  CHECK(agg.add(spotHr).size() == 1);
  Reading bp;
  bp.kind = ReadingKind::kBloodPressure;
  CHECK(agg.add(bp).size() == 1);
  CHECK(agg.flush().empty());
}

TEST_CASE("flush stores partial windows covering what was observed", "[unit][engine]") {
  test::FakeClock clock(kT0 + seconds(20));
  StreamAggregator agg(clock, seconds(60));
  agg.add(heartRate(kT0 + seconds(5), "70"));
  agg.add(heartRate(kT0 + seconds(15), "72"));
  auto out = agg.flush();
  REQUIRE(out.size() == 1);
  CHECK(find(out[0], Measure::kHeartRate)->quantity.value == dec("71.0"));
  CHECK(out[0].effectiveStart == kT0);
  CHECK(*out[0].effectiveEnd == kT0 + seconds(20));
  CHECK(agg.flush().empty());
}

TEST_CASE("the same samples give the same producer reading id; late samples are counted and dropped", "[unit][engine]") {
  auto run = [] {
    test::FakeClock clock(kT0);
    StreamAggregator agg(clock, seconds(60));
    agg.add(heartRate(kT0 + seconds(3), "70"));
    clock.advance(seconds(70));
    return agg.poll();
  };
  auto a = run();
  auto b = run();
  REQUIRE(a.size() == 1);
  CHECK(a[0].producerReadingId == b[0].producerReadingId);
  CHECK(readingIdRule(a[0]) == ReadingIdRule::kProducerId);
  CHECK(computeReadingId(a[0]) == computeReadingId(b[0]));

  test::FakeClock clock(kT0);
  StreamAggregator agg(clock, seconds(60));
  agg.add(heartRate(kT0 + seconds(3), "70"));
  clock.advance(seconds(70));
  REQUIRE(agg.poll().size() == 1);
  CHECK(agg.add(heartRate(kT0 + seconds(59), "90")).empty());
  CHECK(agg.lateSamples() == 1);
}

TEST_CASE("streams of different devices are summarised separately", "[unit][engine]") {
  test::FakeClock clock(kT0);
  StreamAggregator agg(clock, seconds(60));
  Reading a = heartRate(kT0 + seconds(1), "70");
  Reading b = heartRate(kT0 + seconds(1), "90");
  b.device = *DeviceKey::parse("bt:B0495F00AAAA");
  agg.add(a);
  agg.add(b);
  auto out = agg.flush();
  REQUIRE(out.size() == 2);
  CHECK(out[0].device != out[1].device);
}
