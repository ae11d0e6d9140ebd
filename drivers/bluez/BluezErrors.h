// D-Bus error names from bluetoothd turned into our ErrorKind at the client
// boundary (bluez-dbus-api.md §2.1, §3.1, §4.3, §8). Pure: unit-tested
// without a bus.
#pragma once

#include <string>

#include "gateway/model/Status.h"

namespace rpm::bluez {

// "method" names the BlueZ call (a literal such as "Device1.Connect"); the
// error name and BlueZ's own message (fixed strings, no addresses) are kept in
// the Status message for diagnosis.
Status statusFromDbusError(const std::string& method, const std::string& errorName, const std::string& errorMessage);

}  // namespace rpm::bluez
