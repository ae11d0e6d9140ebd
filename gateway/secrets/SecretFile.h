// SecretFile: reads a private key, token or password with strict permissions.
// Shared by the FHIR uplink and the MQTT intake so both apply one rule.
#pragma once

#include <string>

#include "gateway/model/Status.h"

namespace rpm::secrets {

// Reads a secret. With an empty path, reads $CREDENTIALS_DIRECTORY/<credentialName>
// (systemd LoadCredential=). A file readable by "others", or group-readable
// outside the credentials directory, is refused (kForbidden), as is a
// missing or unreadable one (kConfigInvalid). Messages name the credential,
// never the content.
Result<std::string> readSecret(const std::string& path, const std::string& credentialName);

}  // namespace rpm::secrets
