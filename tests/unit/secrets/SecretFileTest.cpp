#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gateway/secrets/SecretFile.h"

using namespace rpm;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/rpm-secret-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& content, mode_t mode) const {
    auto p = path / name;
    std::ofstream(p) << content;
    ::chmod(p.c_str(), mode);
    return p.string();
  }
};
}  // namespace

TEST_CASE("A secret file readable only by its owner is read, trailing newline dropped", "[unit][secret]") {
  TempDir dir;
  auto r = secrets::readSecret(dir.write("token", "tok-canary-Zq8v3XwL\n", 0600), "fhir-token");
  REQUIRE(r.isOk());
  CHECK(*r == "tok-canary-Zq8v3XwL");
}

TEST_CASE("Secret files with open permissions are refused without revealing content", "[unit][secret]") {
  TempDir dir;
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    auto r = secrets::readSecret(dir.write("key" + std::to_string(mode), "tok-canary-Zq8v3XwL", mode), "fhir-client-key");
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().kind() == ErrorKind::kForbidden);
    CHECK(r.status().message().find("tok-canary") == std::string::npos);
    CHECK(r.status().message().find("fhir-client-key") != std::string::npos);
  }
}

TEST_CASE("Secrets come from the systemd credentials directory when no path is set", "[unit][secret]") {
  TempDir dir;
  dir.write("mqtt-password", "s3cret", 0440);  // systemd may make credentials group-readable for the service
  ::setenv("CREDENTIALS_DIRECTORY", dir.path.c_str(), 1);
  auto r = secrets::readSecret("", "mqtt-password");
  REQUIRE(r.isOk());
  CHECK(*r == "s3cret");
  auto missing = secrets::readSecret("", "fhir-client-key");
  CHECK(missing.status().kind() == ErrorKind::kConfigInvalid);
  ::unsetenv("CREDENTIALS_DIRECTORY");
  CHECK(secrets::readSecret("", "mqtt-password").status().kind() == ErrorKind::kConfigInvalid);
}

TEST_CASE("Missing, empty and non-regular secret files are configuration errors", "[unit][secret]") {
  TempDir dir;
  CHECK(secrets::readSecret((dir.path / "none").string(), "x").status().kind() == ErrorKind::kConfigInvalid);
  CHECK(secrets::readSecret(dir.write("empty", "\n", 0600), "x").status().kind() == ErrorKind::kConfigInvalid);
  CHECK(secrets::readSecret(dir.path.string(), "x").status().kind() == ErrorKind::kConfigInvalid);
}
