#include <catch2/catch.hpp>

#include "gateway/model/Time.h"

using namespace rpm;

TEST_CASE("Seconds since 2000 match the PHD IG identifier examples", "[unit][time]") {
  CHECK(LocalDateTime{2024, 5, 6, 8, 9, 10}.secondsSince2000() == 768298150);
  CHECK(LocalDateTime{2024, 3, 15, 7, 30, 0}.secondsSince2000() == 763803000);
  CHECK(LocalDateTime{2000, 1, 1, 0, 0, 0}.secondsSince2000() == 0);
  CHECK(LocalDateTime{1999, 12, 31, 23, 59, 59}.secondsSince2000() == -1);
}

TEST_CASE("Local date-times are validated field by field", "[unit][time]") {
  CHECK(LocalDateTime{2024, 2, 29, 0, 0, 0}.isValid());
  CHECK_FALSE(LocalDateTime{2023, 2, 29, 0, 0, 0}.isValid());
  CHECK_FALSE(LocalDateTime{2024, 4, 31, 0, 0, 0}.isValid());
  CHECK_FALSE(LocalDateTime{2024, 13, 1, 0, 0, 0}.isValid());
  CHECK_FALSE(LocalDateTime{2024, 1, 1, 24, 0, 0}.isValid());
  CHECK_FALSE(LocalDateTime{1581, 1, 1, 0, 0, 0}.isValid());
  CHECK_FALSE(LocalDateTime{0, 0, 0, 0, 0, 0}.isKnown());
  CHECK(LocalDateTime{2024, 12, 31, 23, 30, 0}.plusMinutes(45).toString() == "2025-01-01T00:15:00");
  CHECK(LocalDateTime{2024, 3, 1, 0, 5, 0}.plusMinutes(-10).toString() == "2024-02-29T23:55:00");
}

TEST_CASE("FHIR dateTimes carry the offset in force", "[unit][time]") {
  UtcInstant t = fromLocal(LocalDateTime{2024, 5, 6, 8, 9, 10}, 120);
  CHECK(formatDateTime(t, 120) == "2024-05-06T08:09:10+02:00");
  CHECK(formatUtc(t) == "2024-05-06T06:09:10Z");
  CHECK(formatDateTime(t, -330) == "2024-05-06T00:39:10-05:30");
  CHECK(formatDateTime(t + std::chrono::milliseconds(250), 0) == "2024-05-06T06:09:10.250+00:00");
  auto parsed = parseDateTime("2024-05-06T08:09:10+02:00");
  REQUIRE(parsed);
  CHECK(*parsed == t);
  CHECK(parseDateTime("2026-01-02T03:04:05.5Z") == fromLocal(LocalDateTime{2026, 1, 2, 3, 4, 5}, 0) + std::chrono::milliseconds(500));
  CHECK_FALSE(parseDateTime("2026-01-02T03:04:05"));
  CHECK_FALSE(parseDateTime("2026-02-30T03:04:05Z"));
  CHECK(parseUtcOffset("-05:30") == -330);
  CHECK_FALSE(parseUtcOffset("+5:30"));
  CHECK(toLocal(t, 120).toString() == "2024-05-06T08:09:10");
}
