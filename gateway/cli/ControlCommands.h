// Subcommands that talk to a running daemon over its control socket:
// status, devices, deadletter, reload. Exit 3 when no daemon is running.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace rpm::cli {

inline constexpr int kExitDaemonNotRunning = 3;

// Adds the subcommands to app. The returned function runs the one that was
// chosen (after parsing) and returns its exit code, or -1 if none of them was.
// configPath locates the control socket (hub.runtime_directory).
std::function<int()> addControlCommands(CLI::App& app, std::string& configPath);

}  // namespace rpm::cli
