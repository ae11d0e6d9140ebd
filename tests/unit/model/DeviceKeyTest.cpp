#include <catch2/catch.hpp>

#include "gateway/model/DeviceKey.h"

using rpm::DeviceKey;

TEST_CASE("Device keys normalise addresses to one canonical text", "[unit][device-key]") {
  CHECK(DeviceKey::parse("bt:b0:49:5f:00:10:71")->canonical() == "bt:B0495F001071");
  CHECK(DeviceKey::parse("bt:B0-49-5F-00-10-71")->canonical() == "bt:B0495F001071");
  CHECK(DeviceKey::parse("bt:B0495F001071")->value() == "B0495F001071");
  CHECK(DeviceKey::parse("sysid:71-10-00-FE-FF-5F-49-B0")->canonical() == "sysid:711000FEFF5F49B0");
  CHECK(DeviceKey::parse("mqtt:scale-kitchen_01")->canonical() == "mqtt:scale-kitchen_01");
}

TEST_CASE("Device keys reject malformed text", "[unit][device-key]") {
  for (const char* bad : {"", "bt:", "bt:B0495F00107", "bt:B0495F0010711", "bt:G0495F001071", "bt::B0495F001071",
                          "bt:B0:49:5F:00:10:71:", "sysid:711000FEFF5F49", "mqtt:", "mqtt:has space", "mqtt:a/b",
                          "usb:1234"}) {
    INFO(bad);
    CHECK_FALSE(DeviceKey::parse(bad));
  }
}
