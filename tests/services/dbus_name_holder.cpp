// dbus-name-holder: connects to the system bus (so DBUS_SYSTEM_BUS_ADDRESS
// redirects it to a private test bus, exactly as for production code), owns the
// given well-known name if one is given, prints "unique-name <name>" and serves
// until it is terminated. Tests use it to hold names and to probe bus policy:
// if the policy forbids owning the name it prints the D-Bus error name and
// exits with status 1.
#include <sdbus-c++/sdbus-c++.h>

#include <iostream>
#include <memory>
#include <string>

int main(int argc, char** argv) {
  if (argc > 2) {
    std::cerr << "usage: dbus-name-holder [well-known-name]\n";
    return 2;
  }
  try {
    std::unique_ptr<sdbus::IConnection> connection =
        argc == 2 ? sdbus::createSystemBusConnection(argv[1]) : sdbus::createSystemBusConnection();
    std::cout << "unique-name " << connection->getUniqueName() << std::endl;
    connection->enterEventLoop();
  } catch (const sdbus::Error& error) {
    std::cout << "error " << error.getName() << std::endl;
    std::cerr << "dbus-name-holder: " << error.getName() << ": " << error.getMessage() << "\n";
    return 1;
  }
  return 0;
}
