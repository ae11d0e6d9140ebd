// LogCanary: plant marker PHI and secrets, then prove none reached the logs.
//
// An integration test puts these markers where real data would be (a
// measured value, a patient id, a MAC, a serial, a token, a JWT), runs, and
// passes everything captured from stdout/stderr to findLeaks().
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rpm::test {

struct LogCanary {
  static constexpr const char* kValue = "7391.25";                 // a measured value (SFLOAT-able 739.125 x10)
  static constexpr const char* kPatientId = "canary-pt-5d1f";      // Patient/<id>
  static constexpr const char* kMac = "CA:FE:5D:1F:00:42";         // a Bluetooth address
  static constexpr const char* kSystemId = "CAFE5D1F00420001";     // a DIS system id
  static constexpr const char* kSerial = "SN-CANARY-88421";        // a device serial number
  static constexpr const char* kToken = "tok-canary-Zq8v3XwL";     // a bearer token or password
  static constexpr const char* kJwt =
      "eyJhbGciOiJSUzM4NCJ9.eyJjYW5hcnkiOiJ5ZXMifQ.c2lnLWNhbmFyeS1zaWduYXR1cmU";

  // Every textual form of every marker that must never appear (the MAC with
  // and without separators, in either case, and so on).
  static std::vector<std::string> forbiddenForms();
  // The forbidden forms found in text; empty when the text is clean.
  static std::vector<std::string> findLeaks(std::string_view text);
};

}  // namespace rpm::test
