// The scan watchdog's decisions on a fake clock's time points.
#include <catch2/catch.hpp>

#include "drivers/bluez/ScanWatchdog.h"
#include "tests/support/FakeClock.h"

using namespace rpm;
using namespace std::chrono_literals;
using bluez::ScanWatchdog;
using bluez::ScanWatchdogAction;

TEST_CASE("A scanner silent for one interval gets discovery restarted, then power cycles with doubling intervals") {
  test::FakeClock clock;
  ScanWatchdog w(60s, 240s);
  CHECK(w.poll(clock.monotonicNow(), true, 1).action == ScanWatchdogAction::kNone);
  clock.advance(59s);
  CHECK(w.poll(clock.monotonicNow(), true, 1).action == ScanWatchdogAction::kNone);
  clock.advance(1s);
  CHECK(w.poll(clock.monotonicNow(), true, 1).action == ScanWatchdogAction::kRestartDiscovery);
  clock.advance(60s);
  CHECK(w.poll(clock.monotonicNow(), true, 1).action == ScanWatchdogAction::kPowerCycle);
  clock.advance(60s);
  CHECK(w.poll(clock.monotonicNow(), true, 1).action == ScanWatchdogAction::kNone);  // now 120 s
  clock.advance(60s);
  CHECK(w.poll(clock.monotonicNow(), true, 1).action == ScanWatchdogAction::kPowerCycle);
  clock.advance(240s);
  CHECK(w.poll(clock.monotonicNow(), true, 1).action == ScanWatchdogAction::kPowerCycle);  // capped at 240 s
  CHECK(w.stage() == 4);
}

TEST_CASE("Any advertisement resets the escalation and reports the recovery once") {
  test::FakeClock clock;
  ScanWatchdog w(60s, 600s);
  w.poll(clock.monotonicNow(), true, 5);
  clock.advance(60s);
  CHECK(w.poll(clock.monotonicNow(), true, 5).action == ScanWatchdogAction::kRestartDiscovery);
  clock.advance(1s);
  auto step = w.poll(clock.monotonicNow(), true, 6);
  CHECK(step.recovered);
  CHECK(step.action == ScanWatchdogAction::kNone);
  CHECK(w.stage() == 0);
  clock.advance(1s);
  CHECK_FALSE(w.poll(clock.monotonicNow(), true, 7).recovered);  // activity without a prior step
  clock.advance(59s);
  CHECK(w.poll(clock.monotonicNow(), true, 7).action == ScanWatchdogAction::kNone);
}

TEST_CASE("Silence while not armed is normal; the interval starts again once armed") {
  test::FakeClock clock;
  ScanWatchdog w(60s, 600s);
  w.poll(clock.monotonicNow(), false, 0);
  clock.advance(600s);
  CHECK(w.poll(clock.monotonicNow(), false, 0).action == ScanWatchdogAction::kNone);
  CHECK(w.poll(clock.monotonicNow(), true, 0).action == ScanWatchdogAction::kNone);
  clock.advance(60s);
  CHECK(w.poll(clock.monotonicNow(), true, 0).action == ScanWatchdogAction::kRestartDiscovery);
}

TEST_CASE("A zero interval disables the watchdog") {
  test::FakeClock clock;
  ScanWatchdog w(0s, 0s);
  w.poll(clock.monotonicNow(), true, 0);
  clock.advance(24h);
  CHECK(w.poll(clock.monotonicNow(), true, 0).action == ScanWatchdogAction::kNone);
}
