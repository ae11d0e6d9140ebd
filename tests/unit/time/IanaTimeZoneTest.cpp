#include <catch2/catch.hpp>

#include "gateway/time/IanaTimeZone.h"
#include "tests/support/FakeClock.h"

using namespace rpm;

TEST_CASE("hub.timezone gives DST-aware offsets", "[unit][timezone]") {
  auto zone = IanaTimeZone::load("Europe/Berlin");
  REQUIRE(zone.isOk());
  auto& z = **zone;
  CHECK(z.offsetMinutesAt(fromLocal(LocalDateTime{2024, 1, 15, 12, 0, 0}, 0)) == 60);
  CHECK(z.offsetMinutesAt(fromLocal(LocalDateTime{2024, 7, 15, 12, 0, 0}, 0)) == 120);
  CHECK(formatDateTime(z.toUtc(LocalDateTime{2024, 5, 6, 8, 9, 10}), 120) == "2024-05-06T08:09:10+02:00");
}

TEST_CASE("Ambiguous and skipped local times follow the written rule", "[unit][timezone]") {
  auto z = *IanaTimeZone::load("Europe/Berlin");
  // 2024-10-27 02:30 happens twice: the earlier instant (still +02:00).
  CHECK(formatUtc(z->toUtc(LocalDateTime{2024, 10, 27, 2, 30, 0})) == "2024-10-27T00:30:00Z");
  // 2024-03-31 02:30 does not exist: read with the offset before the gap.
  CHECK(formatUtc(z->toUtc(LocalDateTime{2024, 3, 31, 2, 30, 0})) == "2024-03-31T01:30:00Z");
}

TEST_CASE("Unknown zone names are a configuration error", "[unit][timezone]") {
  auto z = IanaTimeZone::load("Mars/Olympus_Mons");
  REQUIRE_FALSE(z.isOk());
  CHECK(z.status().kind() == ErrorKind::kConfigInvalid);
}

TEST_CASE("The fake clock moves only when told", "[unit][clock]") {
  test::FakeClock clock;
  auto t0 = clock.now();
  auto m0 = clock.monotonicNow();
  clock.advance(std::chrono::seconds(5));
  CHECK(clock.now() - t0 == std::chrono::seconds(5));
  CHECK(clock.monotonicNow() - m0 == std::chrono::seconds(5));
  clock.setWallClock(t0);
  CHECK(clock.monotonicNow() - m0 == std::chrono::seconds(5));
  clock.setSynchronized(false);
  CHECK_FALSE(clock.isSynchronized());
}
