// The rpm-gateway command line: one function per subcommand, each returning
// the process exit code (0 ok, 1 failure, 2 usage or invalid input).
#pragma once

#include <string>
#include <vector>

#include "gateway/ports/ConfigKeySpec.h"

namespace rpm::cli {

inline constexpr const char* kDefaultConfigPath = "/etc/rpm-gateway/gateway.toml";

// The full configuration key table: the gateway's keys plus each driver's
// under drivers.<name>.
std::vector<ConfigKeySpec> allConfigKeys();

// Parses argv and runs the chosen subcommand.
int runCommandLine(int argc, char** argv);

}  // namespace rpm::cli
