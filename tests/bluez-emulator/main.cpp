// bluez-emulator: owns org.bluez on the bus named by DBUS_SYSTEM_BUS_ADDRESS
// (a private dbus-daemon in tests) and plays bluetoothd 5.66 with the virtual
// devices of a scenario file. Usage: bluez-emulator <scenario.json>
#include <systemd/sd-bus.h>

#include <csignal>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "Emulator.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: bluez-emulator <scenario.json>\n");
    return 2;
  }
  nlohmann::json scenario;
  try {
    std::ifstream in(argv[1]);
    scenario = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bluez-emulator: bad scenario: %s\n", e.what());
    return 2;
  }
  // SIGTERM ends the loop cleanly so agents get Release, as at bluetoothd shutdown.
  struct sigaction onTerm {};
  onTerm.sa_handler = [](int) { rpm::emulator::requestShutdown(); };
  sigaction(SIGTERM, &onTerm, nullptr);
  sd_bus* bus = nullptr;
  int r = sd_bus_open_system(&bus);
  if (r < 0) {
    std::fprintf(stderr, "bluez-emulator: cannot connect to the bus (%d)\n", r);
    return 1;
  }
  int code = 1;
  try {
    rpm::emulator::BluezEmulator emulator(bus, scenario);
    r = emulator.start();
    if (r < 0) {
      std::fprintf(stderr, "bluez-emulator: cannot own org.bluez (%d)\n", r);
    } else {
      std::printf("bluez-emulator: ready\n");
      std::fflush(stdout);
      code = emulator.run();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bluez-emulator: %s\n", e.what());
  }
  sd_bus_flush_close_unref(bus);
  return code;
}
