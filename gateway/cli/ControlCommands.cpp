#include "gateway/cli/ControlCommands.h"

#include <iostream>
#include <nlohmann/json.hpp>

#include "gateway/cli/Commands.h"
#include "gateway/config/Config.h"
#include "gateway/daemon/ControlSocket.h"
#include "gateway/daemon/Daemon.h"

namespace rpm::cli {
namespace {

using nlohmann::json;

struct ControlOptions {
  std::string socket;  // overrides the path derived from the config
  bool json = false;
  std::string key;
  std::string patient;
  int userSlot = 0;
  std::string id;
  bool all = false;
  bool releaseHeld = false;
};

// Sends {cmd, args}; prints errors; returns the result or nullopt with the exit code set.
std::optional<json> call(const std::string& configPath, const ControlOptions& o, const std::string& cmd,
                         const json& args, int& exitCode) {
  std::string socket = o.socket;
  if (socket.empty()) {
    auto loaded = ConfigLoader(allConfigKeys()).loadFile(configPath);
    if (auto* problems = std::get_if<std::vector<ConfigProblem>>(&loaded)) {
      for (const auto& p : *problems) std::cerr << "rpm-gateway: " << p.toString() << "\n";
      exitCode = 2;
      return std::nullopt;
    }
    socket = daemon::controlSocketPath(std::get<Config>(loaded));
  }
  json request{{"v", daemon::kControlProtocolVersion}, {"cmd", cmd}, {"args", args}};
  auto response = daemon::controlRequest(socket, request.dump(), 30000);
  if (!response.isOk()) {
    std::cerr << "rpm-gateway: " << response.status().message() << "\n";
    exitCode = response.status().kind() == ErrorKind::kUnavailable ? kExitDaemonNotRunning : 1;
    return std::nullopt;
  }
  json r = json::parse(*response, nullptr, false);
  if (r.is_discarded() || !r.is_object()) {
    std::cerr << "rpm-gateway: the daemon sent an unreadable answer\n";
    exitCode = 1;
    return std::nullopt;
  }
  if (!r.value("ok", false)) {
    std::cerr << "rpm-gateway: " << r.value("error", std::string("the daemon refused the command")) << "\n";
    exitCode = 1;
    return std::nullopt;
  }
  exitCode = 0;
  return r.value("result", json());
}

void printStatus(const json& s) {
  std::cout << "rpm-gateway " << s.value("version", "") << ", up " << s.value("uptime_s", 0) << " s\n";
  const json& b = s.value("buffer", json::object());
  std::cout << "backlog:       " << b.value("backlog", 0);
  if (b.contains("oldest_undelivered_age_s") && !b["oldest_undelivered_age_s"].is_null()) {
    std::cout << " (oldest " << b["oldest_undelivered_age_s"].get<long long>() << " s)";
  }
  std::cout << "\nheld:          " << b.value("held", 0) << " (readings of devices without a patient binding)\n";
  std::cout << "dead letters:  " << b.value("dead_letters", 0) << "\n";
  const json& d = s.value("delivery", json::object());
  std::cout << "delivery:      " << d.value("state", "") << ", delivered " << d.value("delivered", 0);
  if (!d.value("last_delivery", json()).is_null()) std::cout << ", last " << d["last_delivery"].get<std::string>();
  if (d.value("last_error_kind", "ok") != "ok") std::cout << ", last error " << d.value("last_error_kind", "");
  std::cout << "\nrejections:    " << d.value("rejected", 0) << "\n";
  std::cout << "devices:      ";
  for (const auto& dev : s.value("devices", json::array())) {
    std::cout << " " << dev.value("alias", "") << " (" << dev.value("transport", "") << ")";
  }
  std::cout << "\n";
  // Continuous BLE streams (heart rate, PLX): a stopped one is what a care team asks about.
  for (const auto& st : s.value("ble_streams", json::array())) {
    std::cout << "stream:        " << st.value("device", "") << " " << st.value("profile", "") << " "
              << st.value("state", "");
    if (st.contains("last_sample_age_s") && st["last_sample_age_s"].is_number()) {
      std::cout << " (last sample " << st["last_sample_age_s"].get<long long>() << " s ago)";
    }
    std::cout << "\n";
  }
}

}  // namespace

std::function<int()> addControlCommands(CLI::App& app, std::string& configPath) {
  auto o = std::make_shared<ControlOptions>();
  auto common = [&configPath, o](CLI::App* c) {
    c->add_option("-c,--config", configPath, "Configuration file (locates the control socket)")->capture_default_str();
    c->add_option("--socket", o->socket, "Control socket path (overrides the configuration)");
  };
  auto* status = app.add_subcommand("status", "Show the running gateway's health (no patient data).");
  common(status);
  status->add_flag("--json", o->json, "Print the status as JSON");

  auto* devices = app.add_subcommand("devices", "List, enrol or unpair devices.");
  devices->require_subcommand(1);
  auto* list = devices->add_subcommand("list", "List enrolled devices with their patient binding.");
  common(list);
  auto* enrol = devices->add_subcommand("enrol", "Bind a device (or one user slot of it) to a patient.");
  common(enrol);
  enrol->add_option("--key", o->key, "bt:<address>, sysid:<system id> or mqtt:<identity>")->required();
  enrol->add_option("--patient", o->patient, "Patient/<id>")->required();
  enrol->add_option("--user-slot", o->userSlot, "User slot on multi-user devices (0: whole device)");
  enrol->add_flag("--release-held", o->releaseHeld, "Also queue readings held while the device was unbound");
  auto* unpair = devices->add_subcommand("unpair", "Remove a device's enrolment.");
  common(unpair);
  unpair->add_option("--key", o->key, "Device key")->required();
  unpair->add_option("--user-slot", o->userSlot, "User slot (0: whole device)");

  auto* dead = app.add_subcommand("deadletter", "Readings the FHIR server refused: list, requeue or purge.");
  dead->require_subcommand(1);
  auto* dlist = dead->add_subcommand("list", "List dead letters with the server's reason.");
  common(dlist);
  auto* requeue = dead->add_subcommand("requeue", "Queue dead letters for delivery again.");
  common(requeue);
  auto* purge = dead->add_subcommand("purge", "Delete dead letters.");
  common(purge);
  for (auto* c : {requeue, purge}) {
    auto* id = c->add_option("--id", o->id, "Reading id");
    auto* all = c->add_flag("--all", o->all, "Every dead letter");
    id->excludes(all);
  }
  auto* reload = app.add_subcommand("reload", "Reload the configuration of the running gateway.");
  common(reload);

  return [=, &configPath]() -> int {
    int code = 0;
    auto run = [&](const std::string& cmd, const json& args) { return call(configPath, *o, cmd, args, code); };
    if (*status) {
      auto r = run("status", json::object());
      if (r) o->json ? void(std::cout << r->dump(2) << "\n") : printStatus(*r);
      return code;
    }
    if (*list) {
      auto r = run("devices.list", json::object());
      if (r) {
        for (const auto& d : *r) {
          std::cout << d.value("alias", "") << "\t" << d.value("key", "") << "\t" << d.value("patient", "")
                    << "\tslot " << (d.contains("user_slot") ? std::to_string(d["user_slot"].get<int>()) : "-") << "\t"
                    << d.value("transport", "") << "\n";
        }
      }
      return code;
    }
    if (*enrol) {
      auto r = run("devices.enrol", {{"key", o->key}, {"patient", o->patient}, {"user_slot", o->userSlot},
                                     {"release_held", o->releaseHeld}});
      if (r) std::cout << "enrolled " << r->value("alias", "") << "\n";
      return code;
    }
    if (*unpair) {
      auto r = run("devices.unpair", {{"key", o->key}, {"user_slot", o->userSlot}});
      if (r) std::cout << "unpaired\n";
      return code;
    }
    if (*dlist) {
      auto r = run("deadletter.list", json::object());
      if (r) {
        for (const auto& d : *r) {
          std::cout << d.value("id", "") << "\t" << d.value("kind", "") << "\t" << d.value("device", "") << "\tHTTP "
                    << d.value("http_status", 0) << "\t" << d.value("reason", "") << "\n";
        }
      }
      return code;
    }
    if (*requeue || *purge) {
      if (o->id.empty() && !o->all) {
        std::cerr << "rpm-gateway: give --id or --all\n";
        return 2;
      }
      json args = o->all ? json{{"all", true}} : json{{"id", o->id}};
      auto r = run(*requeue ? "deadletter.requeue" : "deadletter.purge", args);
      if (r) std::cout << r->dump() << "\n";
      return code;
    }
    if (*reload) {
      auto r = run("reload", json::object());
      if (r) std::cout << "reload requested\n";
      return code;
    }
    return -1;
  };
}

}  // namespace rpm::cli
