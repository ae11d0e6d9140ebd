#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "drivers/registry/DriverRegistry.h"

using namespace rpm;

TEST_CASE("The registry lists every driver folder, by its folder name", "[unit][registry]") {
  // Folders that declare a driver (rpm_add_driver in their CMakeLists.txt).
  std::set<std::string> folders;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(RPM_SOURCE_DIR) + "/drivers")) {
    auto cmake = entry.path() / "CMakeLists.txt";
    if (!entry.is_directory() || !std::filesystem::exists(cmake)) continue;
    std::ifstream in(cmake);
    std::stringstream text;
    text << in.rdbuf();
    if (text.str().find("rpm_add_driver(") != std::string::npos) folders.insert(entry.path().filename().string());
  }
  std::set<std::string> registered;
  for (const DriverDescriptor* d : drivers::registeredDrivers()) {
    INFO(d->name);
    CHECK(registered.insert(d->name).second);  // names are unique
    CHECK(d->decode != nullptr);
    CHECK_FALSE(d->summary.empty());
  }
  CHECK(registered == folders);
  CHECK(registered.count("thermometer") == 1);
}

TEST_CASE("Drivers are found by characteristic and by name", "[unit][registry]") {
  const DriverDescriptor* d = drivers::driverForCharacteristic(0x2A1C);
  REQUIRE(d != nullptr);
  CHECK(d->name == "thermometer");
  CHECK(drivers::driverByName("thermometer") == d);
  CHECK(drivers::driverForCharacteristic(0xFFFF) == nullptr);
  CHECK(drivers::driverByName("toaster") == nullptr);
}

TEST_CASE("No two drivers claim the same characteristic", "[unit][registry]") {
  std::set<std::uint16_t> seen;
  for (const DriverDescriptor* d : drivers::registeredDrivers()) {
    for (auto c : d->characteristics) {
      INFO(d->name << " " << c);
      CHECK(seen.insert(c).second);
    }
  }
}
