#include <catch2/catch.hpp>

#include "gateway/model/Reading.h"
#include "gateway/model/Status.h"

using namespace rpm;

TEST_CASE("Reading kind and measure names round-trip and are frozen", "[unit][reading]") {
  // These strings are hashed into reading ids: changing one breaks dedup.
  CHECK(readingKindName(ReadingKind::kBloodPressure) == "blood-pressure");
  CHECK(readingKindName(ReadingKind::kGlucose) == "glucose");
  CHECK(readingKindName(ReadingKind::kCgmGlucose) == "cgm-glucose");
  for (int k = 1; k <= 11; ++k) {
    auto kind = static_cast<ReadingKind>(k);
    auto back = readingKindFromName(readingKindName(kind));
    REQUIRE(back);
    CHECK(*back == kind);
  }
  for (int m = 1; m <= 23; ++m) {
    auto measure = static_cast<Measure>(m);
    REQUIRE(measureName(measure) != "unknown");
    CHECK(measureFromName(measureName(measure)) == measure);
  }
  CHECK_FALSE(readingKindFromName("bloodpressure"));
}

TEST_CASE("A reading holds either components or a sample series", "[unit][reading]") {
  Reading r;
  CHECK(r.components().empty());
  r.value = std::vector<Component>{Component{Measure::kSystolic, Quantity{Decimal(121, 0), SpecialValue::kNone, "mm[Hg]"},
                                             std::nullopt, Comparator::kNone, ""}};
  CHECK(r.components().size() == 1);
  r.value = SampledSeries{};
  CHECK(r.components().empty());
}

TEST_CASE("Status and Result carry an error kind and a message", "[unit][status]") {
  Result<int> ok(5);
  CHECK(ok.isOk());
  CHECK(*ok == 5);
  Result<int> bad(Status(ErrorKind::kMalformedPayload, "Glucose Measurement (0x2A18): too short"));
  CHECK_FALSE(bad.isOk());
  CHECK(bad.status().kind() == ErrorKind::kMalformedPayload);
  CHECK(bad.status().toString() == "malformed-payload: Glucose Measurement (0x2A18): too short");
  CHECK(errorKindName(ErrorKind::kStorageFull) == "storage-full");
}
