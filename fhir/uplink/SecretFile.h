// SecretFile: reads a private key, token or password with strict permissions.
#pragma once

#include <string>

#include "gateway/model/Status.h"

namespace rpm::fhir {

// Reads a secret. With an empty path, reads $CREDENTIALS_DIRECTORY/<credentialName>
// (systemd LoadCredential=). A file readable by "others", or group-readable
// outside the credentials directory, is refused (kForbidden), as is a
// missing or unreadable one (kConfigInvalid). Messages name the credential,
// never the content.
Result<std::string> readSecret(const std::string& path, const std::string& credentialName);

}  // namespace rpm::fhir
