#include "gateway/cli/ControlCommands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
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
  bool yes = false;
  std::string exportPath;
  bool discardUndelivered = false;
  int deliverTimeoutS = 60;
  int timeoutSeconds = 120;
  bool noPrompt = false;
};

// Sends {cmd, args}; prints errors; returns the result or nullopt with the exit code set.
std::optional<json> call(const std::string& configPath, const ControlOptions& o, const std::string& cmd,
                         const json& args, int& exitCode, int passFd = -1, int timeoutMs = 30000) {
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
  auto response = daemon::controlRequestWithFd(socket, request.dump(), passFd, timeoutMs);
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

// `pair`: a streaming request (ControlSocket.h); prompts are answered from stdin.
int runPair(const std::string& configPath, const ControlOptions& o) {
  std::string socket = o.socket;
  if (socket.empty()) {
    auto loaded = ConfigLoader(allConfigKeys()).loadFile(configPath);
    if (auto* problems = std::get_if<std::vector<ConfigProblem>>(&loaded)) {
      for (const auto& p : *problems) std::cerr << "rpm-gateway: " << p.toString() << "\n";
      return 2;
    }
    socket = daemon::controlSocketPath(std::get<Config>(loaded));
  }
  json args{{"timeout_s", o.timeoutSeconds}};
  if (!o.patient.empty()) args["patient"] = o.patient;
  if (o.userSlot > 0) args["user_slot"] = o.userSlot;
  if (o.noPrompt) args["interactive"] = false;
  json request{{"v", daemon::kControlProtocolVersion}, {"cmd", "pair"}, {"stream", true}, {"args", args}};
  auto onEvent = [&o](const std::string& line) -> std::optional<std::string> {
    json e = json::parse(line, nullptr, false);
    if (!e.is_object()) return std::nullopt;
    if (o.json) std::cout << line << std::endl;
    const std::string event = e.value("event", "");
    const std::string device = e.value("device", "") + (e.contains("kind") ? " (" + e.value("kind", "") + ")" : "");
    auto ask = [&](const std::string& question) -> std::optional<std::string> {
      std::cout << question << std::flush;
      std::string answer;
      if (!std::getline(std::cin, answer)) answer.clear();
      return json{{"v", daemon::kControlProtocolVersion}, {"reply", e.value("prompt", 0ULL)}, {"answer", answer}}.dump();
    };
    if (event == "passkey_needed") return ask("Device " + device + " shows a 6-digit passkey. Type it and press Enter: ");
    if (event == "confirmation_needed") {
      return ask("Does device " + device + " show " + e.value("passkey", "") + "? Type yes or no: ");
    }
    if (o.json) return std::nullopt;
    if (event == "opened") {
      std::cout << "Pairing window open for " << e.value("detail", "") << " s. Put the device in pairing mode.\n";
    } else if (event == "display_passkey") {
      std::cout << "Type " << e.value("passkey", "") << " on device " << device << ".\n";
    } else if (event == "prompt_error") {
      std::cout << "Not accepted: " << e.value("error", "") << "\n";
    } else if (event == "prompt_cancelled") {
      std::cout << "The device stopped waiting for the passkey.\n";
    } else if (event == "enrolled") {
      std::cout << "Paired and enrolled: " << device << "\n";
    } else if (event == "already_enrolled") {
      std::cout << "Already paired and enrolled: " << device << "\n";
    } else if (event == "bonded_to_another_host") {
      std::cout << "NOT PAIRED, bonded to another host: " << device << ": " << e.value("detail", "") << "\n";
    } else if (event == "pairing_failed") {
      std::cout << "Pairing failed: " << device << ": " << e.value("detail", "") << "\n";
    } else if (event == "closed") {
      std::cout << "Pairing window closed: " << e.value("detail", "") << ".\n";
    }
    std::cout << std::flush;  // an installer (or a script) watches the lines as they come
    return std::nullopt;
  };
  // Idle bound: a window plus one agent prompt; the daemon always ends the stream.
  const int idleMs = (o.timeoutSeconds + 120) * 1000;
  auto response = daemon::controlStreamRequest(socket, request.dump(), onEvent, idleMs);
  if (!response.isOk()) {
    std::cerr << "rpm-gateway: " << response.status().message() << "\n";
    return response.status().kind() == ErrorKind::kUnavailable ? kExitDaemonNotRunning : 1;
  }
  json r = json::parse(*response, nullptr, false);
  if (r.is_discarded() || !r.value("ok", false)) {
    std::cerr << "rpm-gateway: " << (r.is_object() ? r.value("error", std::string("pairing refused")) : "unreadable answer")
              << "\n";
    return 1;
  }
  if (o.json) std::cout << r["result"].dump() << "\n";
  // Success when something is paired and enrolled; 1 when nothing was.
  return r["result"].value("enrolled", 0) > 0 ? 0 : 1;
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
  if (s.contains("ble") && s["ble"].is_object()) {
    const json& ble = s["ble"];
    std::cout << "bluetooth:     adapter " << ble.value("adapter", "") << ", scanner " << ble.value("scanner", "")
              << ", recoveries " << ble.value("recoveries", 0) << "\n";
  }
  if (s.contains("pairing")) {
    const json& p = s["pairing"];
    std::cout << "pairing:       " << (p.value("window_open", false) ? "window open (" + std::to_string(p.value("remaining_s", 0)) + " s left)" : "closed")
              << ", agent " << (p.value("agent_registered", false) ? "registered" : "NOT registered") << ", re-bonded "
              << p.value("rebonded", 0) << "\n";
    const json states = p.contains("devices") && p["devices"].is_object() ? p["devices"] : json::object();
    for (auto it = states.begin(); it != states.end(); ++it) {
      if (it.value() != "enrolled") std::cout << "  " << it.key() << ": " << it.value().get<std::string>() << "\n";
    }
  }
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

constexpr const char* kDecommissionWarning =
    "rpm-gateway decommission hands the hub to the next patient. It will:\n"
    "  1. stop taking readings (MQTT and Bluetooth) while it runs,\n"
    "  2. let delivery send what is queued, for at most --deliver-timeout seconds,\n"
    "  3. write every reading still not delivered (queued, held, dead letters) to --export PATH,\n"
    "     or erase them too if you give --discard-undelivered (otherwise it refuses),\n"
    "  4. ERASE every enrolment, reading, dead letter, device state and FHIR Device mapping,\n"
    "     and scrub the database file so no patient data stays in it,\n"
    "  5. take readings again, ready for new enrolments.\n"
    "Nothing is erased without --yes.\n";

int decommission(const std::string& configPath, const ControlOptions& o) {
  if (!o.yes) {
    std::cerr << kDecommissionWarning;
    return 2;
  }
  int fd = -1;
  if (!o.exportPath.empty()) {
    // Created here, by the admin, 0600 and never over an existing file; the
    // daemon only receives the open descriptor.
    fd = ::open(o.exportPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      std::cerr << "rpm-gateway: cannot create the export file " << o.exportPath << ": " << std::strerror(errno)
                << (errno == EEXIST ? " (it exists; choose a new name)" : "") << "\n";
      return 1;
    }
    ::fchmod(fd, 0600);
  }
  json args{{"confirm", true}, {"deliver_timeout_s", o.deliverTimeoutS},
            {"discard_undelivered", o.discardUndelivered}, {"export", fd >= 0}};
  int code = 0;
  std::cerr << "decommissioning: delivering what is left (at most " << o.deliverTimeoutS << " s)...\n";
  auto r = call(configPath, o, "decommission", args, code, fd, (o.deliverTimeoutS + 300) * 1000);
  if (fd >= 0) {
    struct stat st {};
    bool empty = ::fstat(fd, &st) == 0 && st.st_size == 0;
    ::close(fd);
    if (!r && empty) ::unlink(o.exportPath.c_str());  // refused before anything was exported
  }
  if (!r) return code;
  const json& e = r->value("erased", json::object());
  std::cout << "decommissioned: erased " << e.value("enrolments", 0) << " enrolments, " << e.value("queued", 0)
            << " queued, " << e.value("held", 0) << " held, " << e.value("delivered", 0) << " delivered readings, "
            << e.value("dead_letters", 0) << " dead letters, " << e.value("device_states", 0) << " device states, "
            << e.value("logical_ids", 0) << " device mappings\n";
  if (r->contains("exported")) {
    std::cout << "exported " << (*r)["exported"].get<std::uint64_t>() << " undelivered readings to " << o.exportPath
              << " (0600; it holds patient data: hand it to the care team, then delete it)\n";
  }
  if (r->value("discarded", 0) > 0) std::cout << "discarded " << (*r)["discarded"] << " undelivered readings\n";
  std::cout << "the gateway is running and ready for new enrolments\n";
  return 0;
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

  auto* decom = app.add_subcommand(
      "decommission", "Hand the hub to the next patient: deliver or export what is left, then erase all patient data.");
  common(decom);
  decom->add_flag("--yes", o->yes, "Really erase (without it: explain what would be erased)");
  auto* exportOpt = decom->add_option("--export", o->exportPath,
                                      "Write undelivered readings to this new file (0600, JSON lines; "
                                      "docs/installer-guide.md)");
  decom->add_flag("--discard-undelivered", o->discardUndelivered, "Erase undelivered readings instead of refusing")
      ->excludes(exportOpt);
  decom->add_option("--deliver-timeout", o->deliverTimeoutS, "Seconds delivery may take to send what is queued")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();

  auto* pair = app.add_subcommand(
      "pair", "Open a pairing window: health devices in pairing mode are bonded, trusted and enrolled.");
  common(pair);
  pair->add_option("--timeout", o->timeoutSeconds, "Window length in seconds")->capture_default_str()->check(
      CLI::Range(1, 900));
  pair->add_option("--patient", o->patient, "Patient/<id> (default: the hub's one enrolled patient)");
  pair->add_option("--user-slot", o->userSlot, "User slot on multi-user devices (0: whole device)")->check(
      CLI::Range(0, 254));
  pair->add_flag("--json", o->json, "Print the events as JSON lines");
  pair->add_flag("--no-prompt", o->noPrompt,
                 "Nobody at the keyboard (pairing button): devices that need a passkey are refused at once");

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
    if (*decom) return decommission(configPath, *o);
    if (*pair) return runPair(configPath, *o);
    if (*reload) {
      auto r = run("reload", json::object());
      if (r) std::cout << "reload requested\n";
      return code;
    }
    return -1;
  };
}

}  // namespace rpm::cli
