#include <catch2/catch.hpp>

#include "gateway/log/Log.h"
#include "tests/support/LogCanary.h"

using rpm::test::LogCanary;

TEST_CASE("The log canary finds every planted marker in any form", "[unit][canary]") {
  // The harness must be able to fail: each planted marker is detected.
  CHECK(LogCanary::findLeaks("reading value=7391.25").size() == 1);
  CHECK(LogCanary::findLeaks("patient Patient/canary-pt-5d1f").size() == 1);
  CHECK(LogCanary::findLeaks("addr ca:fe:5d:1f:00:42") == std::vector<std::string>{"CA:FE:5D:1F:00:42"});
  CHECK(LogCanary::findLeaks("addr CAFE5D1F0042").size() == 1);
  CHECK(LogCanary::findLeaks("addr CA-FE-5D-1F-00-42").size() == 1);
  CHECK(LogCanary::findLeaks("sysid CAFE5D1F00420001").size() >= 1);
  CHECK(LogCanary::findLeaks("serial SN-CANARY-88421").size() == 1);
  CHECK(LogCanary::findLeaks("Authorization: Bearer tok-canary-Zq8v3XwL").size() == 1);
  CHECK(LogCanary::findLeaks(std::string("jwt ") + LogCanary::kJwt).size() >= 1);
  CHECK(LogCanary::findLeaks("<6>ble: connected device=dev-1efeb6b4").empty());
}

TEST_CASE("A log line built from allow-listed fields carries no marker", "[unit][canary]") {
  std::string line = rpm::log::formatLine(rpm::log::Level::kInfo, "ble", "stored",
                                          {{"device", rpm::DeviceAlias("dev-1efeb6b4")}, {"count", 2}});
  CHECK(LogCanary::findLeaks(line).empty());
}
