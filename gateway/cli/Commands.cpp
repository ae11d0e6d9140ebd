#include "gateway/cli/Commands.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "drivers/registry/DriverRegistry.h"
#include "gateway/cli/DecodeCommand.h"
#include "gateway/cli/ControlCommands.h"
#include "gateway/config/Config.h"
#include "gateway/daemon/Daemon.h"
#include "gateway/log/Log.h"

#ifndef RPM_GATEWAY_VERSION
#define RPM_GATEWAY_VERSION "0.0.0"
#endif

namespace rpm::cli {

std::vector<ConfigKeySpec> allConfigKeys() {
  std::vector<ConfigKeySpec> keys = gatewayConfigKeys();
  for (const DriverDescriptor* d : drivers::registeredDrivers()) {
    for (ConfigKeySpec k : d->config) {
      k.key = "drivers." + d->name + "." + k.key;
      keys.push_back(std::move(k));
    }
  }
  return keys;
}

namespace {

// Loads the file; prints one line per problem on stderr. nullopt on problems.
std::optional<Config> loadOrReport(const std::string& path) {
  auto loaded = ConfigLoader(allConfigKeys()).loadFile(path);
  if (auto* problems = std::get_if<std::vector<ConfigProblem>>(&loaded)) {
    for (const auto& p : *problems) std::cerr << "rpm-gateway: " << p.toString() << "\n";
    return std::nullopt;
  }
  return std::get<Config>(std::move(loaded));
}

int checkConfig(const std::string& path) {
  auto config = loadOrReport(path);
  if (!config) return 2;
  std::cout << path << ": configuration is valid\n";
  return 0;
}

int run(const std::string& path) {
  auto config = loadOrReport(path);
  if (!config) return 2;
  return daemon::runDaemon(*config, path, allConfigKeys());
}

int version() {
  std::cout << "rpm-gateway " << RPM_GATEWAY_VERSION << "\n";
  return 0;
}

int listDrivers() {
  for (const DriverDescriptor* d : drivers::registeredDrivers()) {
    std::cout << d->name << "\t" << (d->transport == Transport::kBle ? "ble" : "mqtt") << "\tservices:";
    char buf[8];
    for (auto uuid : d->serviceUuids) {
      std::snprintf(buf, sizeof buf, " %04X", uuid);
      std::cout << buf;
    }
    std::cout << "\t" << d->summary << "\n";
  }
  return 0;
}

}  // namespace

int runCommandLine(int argc, char** argv) {
  CLI::App app{"rpm-gateway: remote patient monitoring edge gateway (BLE and MQTT health devices to FHIR R4)",
               "rpm-gateway"};
  app.require_subcommand(1);
  app.footer("Exit codes: 0 ok, 1 failure, 2 usage error or invalid configuration, 3 the daemon is not running.");
  std::string configPath = kDefaultConfigPath;
  const std::string keyHelp = formatConfigHelp(allConfigKeys());

  auto* runCmd = app.add_subcommand("run", "Run the gateway daemon in the foreground.");
  runCmd->add_option("-c,--config", configPath, "Configuration file")->capture_default_str();
  runCmd->footer(keyHelp);

  auto* checkCmd = app.add_subcommand("check-config", "Validate a configuration file; one line per problem.");
  checkCmd->add_option("-c,--config", configPath, "Configuration file")->capture_default_str();
  checkCmd->footer(keyHelp);

  auto* versionCmd = app.add_subcommand("version", "Print the version.");
  auto* driversCmd = app.add_subcommand("drivers", "List the device drivers built into this gateway.");

  DecodeOptions decodeOptions;
  auto* decodeCmd = app.add_subcommand(
      "decode", "Decode one device payload and print the FHIR collection Bundle the gateway would upload.");
  decodeCmd->add_option("--characteristic", decodeOptions.characteristic, "16-bit GATT characteristic UUID in hex (2A35)")
      ->required();
  decodeCmd->add_option("--hex", decodeOptions.hex, "Payload bytes in hex; spaces, colons or no separators")->required();
  decodeCmd->add_option("--patient", decodeOptions.patient, "Patient reference")->capture_default_str();
  decodeCmd->add_option("--device-address", decodeOptions.deviceAddress, "Bluetooth address of the device")
      ->capture_default_str();
  decodeCmd->add_option("--received-at", decodeOptions.receivedAt, "Gateway receive time (RFC 3339)")
      ->capture_default_str();
  decodeCmd->add_option("--utc-offset", decodeOptions.utcOffset, "UTC offset of the hub's time zone")
      ->capture_default_str();
  decodeCmd->add_option("--context", decodeOptions.contextHex, "Glucose Measurement Context (0x2A34) payload in hex");
  decodeCmd->add_option("--session-start", decodeOptions.sessionStart, "CGM session start, device local time");
  decodeCmd->add_option("--format", decodeOptions.format, "fhir (collection Bundle) or reading (decoded fields)")
      ->capture_default_str();
  decodeCmd->footer("Exit codes: 0 decoded (an empty collection and a note on stderr when nothing is uploaded), "
                    "2 malformed input (one line on stderr).");

  auto runControlCommand = addControlCommands(app, configPath);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the usage problem
    return 2;
  }
  if (*runCmd) return run(configPath);
  if (*checkCmd) return checkConfig(configPath);
  if (*versionCmd) return version();
  if (*driversCmd) return listDrivers();
  if (*decodeCmd) return runDecode(decodeOptions, std::cout, std::cerr);
  if (int code = runControlCommand(); code >= 0) return code;
  return 2;
}

}  // namespace rpm::cli
