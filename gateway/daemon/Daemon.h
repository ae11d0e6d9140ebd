// Daemon: `rpm-gateway run`. Wires drivers -> ingest -> buffer -> delivery
// loop -> FHIR uplink, serves the control socket, talks to systemd, and owns
// the lifecycle: SIGTERM stops intake, stores partial aggregation windows,
// finishes the commit in flight and exits; SIGHUP reloads what can be
// reloaded and names what needs a restart.
#pragma once

#include <string>

#include "gateway/config/Config.h"

namespace rpm::daemon {

// Runs until SIGTERM or SIGINT. Exit codes: 0 clean stop, 1 a failure that
// stops the service (buffer cannot be opened), 2 invalid configuration.
int runDaemon(const Config& config, const std::string& configPath,
              const std::vector<ConfigKeySpec>& configKeys);

// The control socket of a configuration: <hub.runtime_directory>/control.sock.
std::string controlSocketPath(const Config& config);

}  // namespace rpm::daemon
