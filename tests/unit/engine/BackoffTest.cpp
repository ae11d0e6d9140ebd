#include <catch2/catch.hpp>

#include "gateway/engine/Backoff.h"

using namespace rpm::engine;
using namespace std::chrono_literals;

namespace {
// The largest value allowed: delays equal the jitter ceiling, so tests are exact.
std::uint64_t ceilingOf(std::uint64_t n) { return n; }
std::uint64_t zero(std::uint64_t) { return 0; }
}  // namespace

TEST_CASE("Backoff ceilings double from the base up to the cap", "[unit][backoff]") {
  Backoff b(1000ms, 8000ms, ceilingOf);
  CHECK(b.nextDelay() == 1000ms);
  CHECK(b.nextDelay() == 2000ms);
  CHECK(b.nextDelay() == 4000ms);
  CHECK(b.nextDelay() == 8000ms);
  CHECK(b.nextDelay() == 8000ms);
  CHECK(b.consecutiveFailures() == 5);
  b.reset();
  CHECK(b.nextDelay() == 1000ms);
}

TEST_CASE("Full jitter draws between zero and the ceiling", "[unit][backoff]") {
  std::uint64_t lastBound = 0;
  Backoff b(1000ms, 300000ms, [&](std::uint64_t n) {
    lastBound = n;
    return n / 2;
  });
  b.nextDelay();
  b.nextDelay();
  CHECK(lastBound == 2000);
  CHECK(b.nextDelay() == 2000ms);  // half of the 4000 ms ceiling
  auto random = systemRandom();
  for (int i = 0; i < 1000; ++i) {
    auto v = random(100);
    REQUIRE(v <= 100);
  }
}

TEST_CASE("A server's Retry-After is a floor under the jitter", "[unit][backoff]") {
  Backoff b(1000ms, 300000ms, zero);
  CHECK(b.nextDelay(30s) == 30000ms);
  CHECK(b.nextDelay() == 0ms);
  CHECK(fullJitter(1000ms, 300000ms, 40, ceilingOf) == 300000ms);  // no overflow at many attempts
}
