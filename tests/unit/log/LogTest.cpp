#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "gateway/log/Log.h"

using namespace rpm;

namespace {
struct Capture {
  std::vector<std::string> lines;
  Capture() {
    log::setSinkForTest([this](std::string_view l) { lines.emplace_back(l); });
  }
  ~Capture() { log::setSinkForTest({}); }
};
}  // namespace

TEST_CASE("Log lines carry a systemd priority prefix and allow-listed fields", "[unit][log]") {
  Capture cap;
  log::setLevel(log::Level::kDebug);
  log::warning("buffer", "append refused", {{"count", 3}, {"error", ErrorKind::kStorageFull}});
  log::info("ble", "connected", {{"device", DeviceAlias("dev-1efeb6b4")}, {"state", "ready"}});
  log::error("uplink", "request failed", {log::Field::reviewed("detail", "Couldn't connect to server")});
  REQUIRE(cap.lines.size() == 3);
  CHECK(cap.lines[0] == "<4>buffer: append refused count=3 error=storage-full");
  CHECK(cap.lines[1] == "<6>ble: connected device=dev-1efeb6b4 state=ready");
  CHECK(cap.lines[2] == "<3>uplink: request failed detail=\"Couldn't connect to server\"");
}

TEST_CASE("Lines below the threshold are not written", "[unit][log]") {
  Capture cap;
  log::setLevel(log::Level::kNotice);
  log::info("x", "hidden");
  log::debug("x", "hidden");
  log::notice("x", "shown");
  CHECK(cap.lines == std::vector<std::string>{"<5>x: shown"});
  log::setLevel(log::Level::kInfo);
}

TEST_CASE("Level names parse", "[unit][log]") {
  log::Level l = log::Level::kInfo;
  CHECK(log::parseLevel("debug", l));
  CHECK(l == log::Level::kDebug);
  CHECK_FALSE(log::parseLevel("verbose", l));
}

// Compile-time guard, checked by reading: log::Text has no constructor from
// std::string, so `log::info("x", std::string("y"))` does not compile.
static_assert(!std::is_convertible_v<std::string, log::Text>, "dynamic text must not reach a log line");
static_assert(!std::is_convertible_v<const char*, log::Text>, "only string literals are log text");
