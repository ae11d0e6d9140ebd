#include "gateway/daemon/PairControl.h"

#include <condition_variable>
#include <mutex>

#include "gateway/log/Log.h"

namespace rpm::daemon {
namespace {

using nlohmann::json;

// What a request asks for, checked the same way for the socket and MQTT.
Result<ble::WindowRequest> windowRequestFrom(const json& args, const char* origin, bool interactive) {
  ble::WindowRequest r;
  r.origin = origin;
  r.interactive = interactive;
  if (args.contains("timeout_s")) {
    if (!args["timeout_s"].is_number_integer() || args["timeout_s"].get<long long>() <= 0) {
      return Status(ErrorKind::kInvalidArgument, "timeout_s must be a positive whole number of seconds");
    }
    r.timeout = std::chrono::seconds(args["timeout_s"].get<long long>());
  }
  if (args.contains("patient")) {
    if (!args["patient"].is_string()) return Status(ErrorKind::kInvalidArgument, "patient must be Patient/<id>");
    r.patient = args["patient"].get<std::string>();
    if (r.patient.rfind("Patient/", 0) != 0 || r.patient.size() <= 8) {
      return Status(ErrorKind::kInvalidArgument, "patient must be Patient/<id>");
    }
  }
  if (args.contains("user_slot")) {
    if (!args["user_slot"].is_number_integer()) return Status(ErrorKind::kInvalidArgument, "user_slot must be 1..254");
    auto slot = args["user_slot"].get<long long>();
    if (slot < 0 || slot > 254) return Status(ErrorKind::kInvalidArgument, "user_slot must be 1..254");
    if (slot > 0) r.userSlot = static_cast<std::uint8_t>(slot);
  }
  return r;
}

std::string failLine(const std::string& what) {
  return json{{"v", kControlProtocolVersion}, {"ok", false}, {"error", what}}.dump();
}

// Shared between the stream's thread and the window's event sink, which may
// run after the stream is gone (a window closing while pairing a device).
struct StreamState {
  std::mutex mutex;
  std::condition_variable cv;
  ControlStream* stream = nullptr;
  bool closed = false;
  json devices = json::array();
  std::uint64_t enrolled = 0, failed = 0;
};

}  // namespace

bool isPairStreamRequest(const std::string& line) {
  json req = json::parse(line, nullptr, false);
  return req.is_object() && req.value("cmd", "") == "pair" && req.value("stream", false) == true;
}

json pairEventJson(const ble::EnrolmentEvent& e) {
  json j{{"v", kControlProtocolVersion}, {"event", ble::eventName(e.kind)}};
  if (!e.alias.empty()) j["device"] = e.alias;
  if (!e.deviceKind.empty()) j["kind"] = e.deviceKind;
  if (e.kind == ble::EnrolmentEvent::Kind::kConfirmationNeeded || e.kind == ble::EnrolmentEvent::Kind::kDisplayPasskey) {
    char digits[8];
    std::snprintf(digits, sizeof digits, "%06u", e.passkey);
    j["passkey"] = digits;
  }
  if (e.promptId != 0) j["prompt"] = e.promptId;
  if (!e.detail.empty()) j["detail"] = e.detail;
  return j;
}

json enrolmentStatusJson(const ble::EnrolmentStatus& s) {
  json devices = json::object();
  for (const auto& [alias, state] : s.deviceStates) devices[alias] = state;
  json j{{"window_open", s.windowOpen},         {"agent_registered", s.agentRegistered},
         {"enrolled", s.enrolled},              {"rebonded", s.rebonded},
         {"pairing_failures", s.pairingFailures}, {"agent_refusals", s.agentRefusals},
         {"devices", devices}};
  if (s.windowOpen) {
    j["origin"] = s.origin;
    j["remaining_s"] = s.remainingSeconds;
  }
  return j;
}

std::string handlePairStream(ble::EnrolmentWindow* window, const std::string& line, ControlStream& stream) {
  if (!window) return failLine("Bluetooth is disabled (ble.enabled = false)");
  json req = json::parse(line, nullptr, false);
  if (!req.is_object() || req.value("v", 0) != kControlProtocolVersion) return failLine("unsupported protocol version");
  json args = req.contains("args") && req["args"].is_object() ? req["args"] : json::object();
  const bool interactive = !args.contains("interactive") || args["interactive"] != false;
  auto request = windowRequestFrom(args, interactive ? "cli" : "button", interactive);
  if (!request.isOk()) return failLine(request.status().message());
  log::info("control", "command received", {{"cmd", "pair"}});

  auto state = std::make_shared<StreamState>();
  state->stream = &stream;
  auto sink = [state](const ble::EnrolmentEvent& e) {
    std::lock_guard<std::mutex> lock(state->mutex);
    switch (e.kind) {
      case ble::EnrolmentEvent::Kind::kEnrolled:
      case ble::EnrolmentEvent::Kind::kAlreadyEnrolled:
        state->enrolled++;
        state->devices.push_back({{"device", e.alias}, {"kind", e.deviceKind}, {"state", ble::eventName(e.kind)}});
        break;
      case ble::EnrolmentEvent::Kind::kBondedElsewhere:
      case ble::EnrolmentEvent::Kind::kPairingFailed:
        state->failed++;
        state->devices.push_back({{"device", e.alias}, {"kind", e.deviceKind}, {"state", ble::eventName(e.kind)},
                                  {"detail", e.detail}});
        break;
      default:
        break;
    }
    if (state->stream) state->stream->send(pairEventJson(e).dump());
    if (e.kind == ble::EnrolmentEvent::Kind::kClosed) {
      state->closed = true;
      state->cv.notify_all();
    }
  };
  auto id = window->open(*request, sink);
  if (!id.isOk()) return failLine(id.status().message());

  for (;;) {
    {
      std::lock_guard<std::mutex> lock(state->mutex);
      if (state->closed) break;
    }
    auto in = stream.receive(100);
    if (stream.closed()) {
      // The installer pressed Ctrl-C (or the daemon stops): close the window.
      window->close(*id);
      std::lock_guard<std::mutex> lock(state->mutex);
      state->stream = nullptr;
      return failLine("the pairing window was closed early");
    }
    if (!in) continue;
    json reply = json::parse(*in, nullptr, false);
    if (!reply.is_object() || !reply.contains("reply") || !reply["reply"].is_number_unsigned()) continue;
    auto promptId = reply["reply"].get<std::uint64_t>();
    auto answered = window->answerPrompt(*id, promptId, reply.value("answer", std::string()));
    if (!answered.isOk()) {
      stream.send(json{{"v", kControlProtocolVersion}, {"event", "prompt_error"}, {"prompt", promptId},
                       {"error", answered.message()}}
                      .dump());
    }
  }
  std::lock_guard<std::mutex> lock(state->mutex);
  state->stream = nullptr;
  return json{{"v", kControlProtocolVersion},
              {"ok", true},
              {"result", {{"enrolled", state->enrolled}, {"failed", state->failed}, {"devices", state->devices}}}}
      .dump();
}

Status openPairWindowFromMqtt(ble::EnrolmentWindow* window, const std::string& payload,
                              std::function<void(const std::string&)> publish) {
  if (!window) return Status(ErrorKind::kUnavailable, "Bluetooth is disabled");
  json args = json::parse(payload, nullptr, false);
  if (!args.is_object() || args.value("cmd", "") != "pair") {
    return Status(ErrorKind::kInvalidArgument, "command payload must be {\"cmd\":\"pair\",...}");
  }
  // Nobody can type a passkey through MQTT: passkey devices are refused.
  auto request = windowRequestFrom(args, "mqtt", false);
  if (!request.isOk()) return request.status();
  auto id = window->open(*request, [publish](const ble::EnrolmentEvent& e) { publish(pairEventJson(e).dump()); });
  return id.status();
}

}  // namespace rpm::daemon
