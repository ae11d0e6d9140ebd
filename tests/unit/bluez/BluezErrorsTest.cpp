#include <catch2/catch.hpp>

#include "drivers/bluez/BluezErrors.h"

using rpm::ErrorKind;
using rpm::bluez::statusFromDbusError;

TEST_CASE("BlueZ error names map to error kinds per the 5.66 behaviour", "[unit]") {
  struct Row {
    const char* name;
    const char* message;
    ErrorKind kind;
  };
  const Row rows[] = {
      {"org.bluez.Error.InProgress", "Operation already in progress", ErrorKind::kConflict},
      {"org.bluez.Error.Failed", "le-connection-abort-by-local", ErrorKind::kUnavailable},
      {"org.bluez.Error.Failed", "Not connected", ErrorKind::kUnavailable},
      {"org.bluez.Error.Failed", "br-connection-canceled", ErrorKind::kUnavailable},
      {"org.bluez.Error.Failed", "Operation failed with ATT error: 0x81", ErrorKind::kRejected},
      {"org.bluez.Failed", "malformed name used by ConnectDevice", ErrorKind::kUnavailable},
      {"org.bluez.Error.NotReady", "Resource Not Ready", ErrorKind::kUnavailable},
      {"org.bluez.Error.NotConnected", "Not Connected", ErrorKind::kUnavailable},
      {"org.bluez.Error.AuthenticationFailed", "Authentication Failed", ErrorKind::kUnauthorized},
      {"org.bluez.Error.AuthenticationCanceled", "", ErrorKind::kUnauthorized},
      {"org.bluez.Error.NotAuthorized", "Operation Not Authorized", ErrorKind::kUnauthorized},
      {"org.bluez.Error.NotPermitted", "Not paired", ErrorKind::kForbidden},
      {"org.bluez.Error.NotSupported", "Operation is not supported", ErrorKind::kUnsupported},
      {"org.bluez.Error.InvalidArguments", "Invalid offset", ErrorKind::kInvalidArgument},
      {"org.bluez.Error.DoesNotExist", "Does Not Exist", ErrorKind::kNotFound},
      {"org.bluez.Error.AlreadyExists", "Already Exists", ErrorKind::kDuplicate},
      {"org.freedesktop.DBus.Error.NoReply", "", ErrorKind::kTimeout},
      {"org.freedesktop.DBus.Error.ServiceUnknown", "", ErrorKind::kUnavailable},
      {"org.freedesktop.DBus.Error.UnknownObject", "", ErrorKind::kNotFound},
      {"org.example.Unheard.Of", "", ErrorKind::kInternal},
  };
  for (const auto& row : rows) {
    INFO(row.name << " " << row.message);
    auto s = statusFromDbusError("Device1.Connect", row.name, row.message);
    CHECK(s.kind() == row.kind);
    CHECK(s.message().find(row.name) != std::string::npos);
    CHECK(s.message().rfind("Device1.Connect: ", 0) == 0);
  }
}
