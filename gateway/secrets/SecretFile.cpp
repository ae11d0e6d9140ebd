#include "gateway/secrets/SecretFile.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace rpm::secrets {

Result<std::string> readSecret(const std::string& configuredPath, const std::string& credentialName) {
  std::string path = configuredPath;
  bool fromCredentials = false;
  if (path.empty()) {
    const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
    if (!dir || !*dir) {
      return Status(ErrorKind::kConfigInvalid,
                    "secret '" + credentialName + "': no file configured and no systemd credentials directory");
    }
    path = std::string(dir) + "/" + credentialName;
    fromCredentials = true;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status(ErrorKind::kConfigInvalid, "secret '" + credentialName + "': file missing or not accessible");
  }
  if (!S_ISREG(st.st_mode)) {
    return Status(ErrorKind::kConfigInvalid, "secret '" + credentialName + "': not a regular file");
  }
  if ((st.st_mode & S_IRWXO) != 0 || (!fromCredentials && (st.st_mode & (S_IWGRP | S_IRGRP)) != 0)) {
    return Status(ErrorKind::kForbidden, "secret '" + credentialName +
                                             "': file permissions too open (must not be readable by group or others)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(ErrorKind::kConfigInvalid, "secret '" + credentialName + "': file not readable");
  std::ostringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) return Status(ErrorKind::kConfigInvalid, "secret '" + credentialName + "': file is empty");
  return secret;
}

}  // namespace rpm::secrets
