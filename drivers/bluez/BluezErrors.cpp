#include "drivers/bluez/BluezErrors.h"

#include <map>

namespace rpm::bluez {

Status statusFromDbusError(const std::string& method, const std::string& errorName, const std::string& errorMessage) {
  // Exact names; anything unknown is kInternal so a new BlueZ error shows up in counters.
  static const std::map<std::string, ErrorKind> kByName = {
      // Our own calls collided with another operation (§8 items 1, 3).
      {"org.bluez.Error.InProgress", ErrorKind::kConflict},
      {"org.bluez.Error.AlreadyExists", ErrorKind::kDuplicate},
      {"org.bluez.Error.DoesNotExist", ErrorKind::kNotFound},
      // Adapter unpowered / link not there: retry later.
      {"org.bluez.Error.NotReady", ErrorKind::kUnavailable},
      {"org.bluez.Error.NotConnected", ErrorKind::kUnavailable},
      {"org.bluez.Error.NotAvailable", ErrorKind::kUnavailable},
      {"org.bluez.Error.ConnectionAttemptFailed", ErrorKind::kUnavailable},
      // Pairing and security (§3.1 Pair, §4.3 ATT 0x05/0x08/0x0F).
      {"org.bluez.Error.AuthenticationFailed", ErrorKind::kUnauthorized},
      {"org.bluez.Error.AuthenticationRejected", ErrorKind::kUnauthorized},
      {"org.bluez.Error.AuthenticationCanceled", ErrorKind::kUnauthorized},
      {"org.bluez.Error.AuthenticationTimeout", ErrorKind::kUnauthorized},
      {"org.bluez.Error.NotAuthorized", ErrorKind::kUnauthorized},
      {"org.bluez.Error.NotPermitted", ErrorKind::kForbidden},
      {"org.bluez.Error.Blocked", ErrorKind::kForbidden},
      {"org.bluez.Error.NotSupported", ErrorKind::kUnsupported},
      {"org.bluez.Error.InvalidArguments", ErrorKind::kInvalidArgument},
      {"org.bluez.Error.InvalidOffset", ErrorKind::kInvalidArgument},
      {"org.bluez.Error.InvalidValueLength", ErrorKind::kInvalidArgument},
      // The bus or the daemon: timeouts and a missing bluetoothd.
      {"org.freedesktop.DBus.Error.NoReply", ErrorKind::kTimeout},
      {"org.freedesktop.DBus.Error.Timeout", ErrorKind::kTimeout},
      {"org.freedesktop.DBus.Error.TimedOut", ErrorKind::kTimeout},
      {"org.freedesktop.DBus.Error.ServiceUnknown", ErrorKind::kUnavailable},
      {"org.freedesktop.DBus.Error.NameHasNoOwner", ErrorKind::kUnavailable},
      {"org.freedesktop.DBus.Error.Disconnected", ErrorKind::kUnavailable},
      {"org.freedesktop.DBus.Error.NoServer", ErrorKind::kUnavailable},
      // A vanished object (§1, §8 item 6).
      {"org.freedesktop.DBus.Error.UnknownObject", ErrorKind::kNotFound},
      {"org.freedesktop.DBus.Error.UnknownMethod", ErrorKind::kNotFound},
      {"org.freedesktop.DBus.Error.InvalidArgs", ErrorKind::kInvalidArgument},
  };
  ErrorKind kind = ErrorKind::kInternal;
  auto it = kByName.find(errorName);
  if (it != kByName.end()) {
    kind = it->second;
  } else if (errorName == "org.bluez.Error.Failed" || errorName == "org.bluez.Failed") {
    // Failed is BlueZ's catch-all. ATT application errors are the device
    // refusing the request (§4.3); "Not connected", le-connection-abort-by-local,
    // br-connection-canceled and strerror texts are link trouble (§3.1, §8 item 2).
    kind = errorMessage.rfind("Operation failed with ATT error", 0) == 0 ? ErrorKind::kRejected
                                                                        : ErrorKind::kUnavailable;
  }
  std::string text = method + ": " + errorName;
  if (!errorMessage.empty()) text += " \"" + errorMessage + "\"";
  return Status(kind, text);
}

}  // namespace rpm::bluez
