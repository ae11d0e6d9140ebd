// Pairing as bluetoothd 5.66 does it with its Agent1 clients (bluez-dbus-api.md
// §3.1 Pair, §5; bluez src/agent.c, src/device.c, kernel net/bluetooth/smp.c).
//
// Pair() picks the caller's own agent, else the default agent, else none
// (then the IO capability is NoInputNoOutput: Just Works only). The SMP
// association model follows from our capability and the device's; the agent
// is asked only when the model needs input. Any agent error, or no reply
// within the agent timeout (60 s), is a negative reply to the kernel, so
// Pair() fails AuthenticationFailed and the kernel drops the link. A device
// already bonded to another host answers SMP "Pairing Not Supported", which
// the kernel maps to MGMT_STATUS_NOT_SUPPORTED and bluetoothd to
// AuthenticationFailed; one that only accepts its bonded host never
// connects: ConnectionAttemptFailed "Page Timeout" (src/device.c
// new_authentication_return).
//
// Modelled simplification: the exchange runs after ServicesResolved (bluetoothd
// runs SMP before the re-browse); Pair() still replies after ServicesResolved
// and Paired is still emitted after it, which is all a client can observe.
#include <csignal>

#include "Emulator.h"

namespace rpm::emulator {
namespace {

constexpr const char* kDevice = "org.bluez.Device1";
constexpr const char* kAgent = "org.bluez.Agent1";
constexpr const char* kAuthFailed = "org.bluez.Error.AuthenticationFailed";

volatile std::sig_atomic_t gShutdownRequested = 0;

enum class Association { kJustWorks, kWeEnterPasskey, kWeDisplayPasskey, kNumericComparison };

// LE Secure Connections association model (Core v5.3 Vol 3 Part H, Table 2.8),
// we are the initiator. Both sides entering (KeyboardOnly/KeyboardOnly) is
// modelled as us entering the key the user also types on the device.
Association associationFor(const std::string& ours, const std::string& device) {
  if (ours == "NoInputNoOutput" || device == "NoInputNoOutput") return Association::kJustWorks;
  const bool weKeyboard = ours == "KeyboardOnly" || ours == "KeyboardDisplay";
  const bool weDisplay = ours == "DisplayOnly" || ours == "DisplayYesNo" || ours == "KeyboardDisplay";
  const bool weYesNo = ours == "DisplayYesNo" || ours == "KeyboardDisplay";
  const bool devKeyboard = device == "KeyboardOnly" || device == "KeyboardDisplay";
  const bool devDisplay = device == "DisplayOnly" || device == "DisplayYesNo" || device == "KeyboardDisplay";
  const bool devYesNo = device == "DisplayYesNo" || device == "KeyboardDisplay";
  if (weYesNo && devYesNo) return Association::kNumericComparison;
  if (weKeyboard && devDisplay) return Association::kWeEnterPasskey;
  if (weKeyboard && devKeyboard) return Association::kWeEnterPasskey;
  if (weDisplay && devKeyboard) return Association::kWeDisplayPasskey;
  return Association::kJustWorks;
}

struct PendingAgentReply {
  BluezEmulator* emulator;
  std::function<void(sd_bus_message*)> handler;
};

}  // namespace

void requestShutdown() { gShutdownRequested = 1; }
bool shutdownRequested() { return gShutdownRequested != 0; }

void BluezEmulator::loadPairingKnobs(VirtualDevice& dev, const nlohmann::json& device) {
  const auto p = device.value("pairing", nlohmann::json::object());
  dev.pairing.io = p.value("io", dev.pairing.io);
  dev.pairing.passkey = p.value("passkey", dev.pairing.passkey);
  dev.pairing.mitm = p.value("mitm", dev.pairing.mitm);
  dev.pairing.bondedElsewhere = p.value("bonded_elsewhere", dev.pairing.bondedElsewhere);
}

void BluezEmulator::runPairing(VirtualDevice& dev) {
  if (!dev.pendingPair) return;
  const auto& knobs = dev.pairing;
  if (knobs.bondedElsewhere == "rejects_pairing") {
    finishPairing(dev, kAuthFailed, "Authentication Failed");
    return;
  }
  // The caller's own agent, else the default agent, else none (§3.1).
  const char* callerName = sd_bus_message_get_sender(dev.pendingPair.get());
  std::string agentSender = callerName && agents_.count(callerName) ? callerName : defaultAgentSender_;
  std::string capability = "NoInputNoOutput";
  if (!agentSender.empty() && agents_.count(agentSender)) capability = agents_[agentSender].capability;
  pendingAgentSender_ = agentSender;
  pendingAgentPath_ = agentSender.empty() ? "" : agents_[agentSender].path;

  const auto association = associationFor(capability, knobs.io);
  const std::uint64_t epoch = ++dev.pairingEpoch;
  auto stillPending = [this, &dev, epoch] { return dev.pendingPair && dev.pairingEpoch == epoch; };
  switch (association) {
    case Association::kJustWorks:
      // Just Works initiated by us calls no agent method (§5.2); a device that
      // insists on MITM protection answers "Authentication Requirements".
      if (knobs.mitm) {
        finishPairing(dev, kAuthFailed, "Authentication Failed");
      } else {
        finishPairing(dev, "", "");
      }
      return;
    case Association::kWeEnterPasskey:
      callAgent(dev, "RequestPasskey", nullptr, [this, &dev, stillPending](sd_bus_message* reply, bool ok) {
        if (!stillPending()) return;
        std::uint32_t entered = 0;
        if (ok && sd_bus_message_read_basic(reply, 'u', &entered) < 0) ok = false;
        if (ok && entered == dev.pairing.passkey) {
          finishPairing(dev, "", "");
        } else {
          // Wrong key: SMP Confirm Value Failed; refusal: Passkey Entry Failed.
          finishPairing(dev, kAuthFailed, "Authentication Failed");
        }
      });
      return;
    case Association::kNumericComparison: {
      const std::uint32_t value = knobs.passkey;
      callAgent(
          dev, "RequestConfirmation", [value](sd_bus_message* call) { sd_bus_message_append(call, "u", value); },
          [this, &dev, stillPending](sd_bus_message*, bool ok) {
            if (!stillPending()) return;
            finishPairing(dev, ok ? "" : kAuthFailed, ok ? "" : "Authentication Failed");
          });
      return;
    }
    case Association::kWeDisplayPasskey: {
      // bluetoothd sends DisplayPasskey without expecting a reply; the device
      // user types the key (here: at once and correctly).
      const std::uint32_t value = knobs.passkey;
      if (pendingAgentSender_.empty()) {
        finishPairing(dev, kAuthFailed, "Authentication Failed");
        return;
      }
      sd_bus_message* call = nullptr;
      if (sd_bus_message_new_method_call(bus_, &call, pendingAgentSender_.c_str(), pendingAgentPath_.c_str(), kAgent,
                                         "DisplayPasskey") >= 0) {
        sd_bus_message_append(call, "ouq", dev.path.c_str(), value, std::uint16_t{0});
        sd_bus_message_set_expect_reply(call, 0);
        sd_bus_send(bus_, call, nullptr);
        sd_bus_message_unref(call);
      }
      agentCalls_.push_back({"DisplayPasskey", dev.address, std::to_string(value), "ok"});
      after(5, [this, &dev, stillPending] {
        if (stillPending()) finishPairing(dev, "", "");
      });
      return;
    }
  }
}

void BluezEmulator::finishPairing(VirtualDevice& dev, const std::string& errorName, const std::string& message) {
  if (!dev.pendingPair) return;
  if (plantedBug_ == "pair_ignores_agent_refusal" && errorName == kAuthFailed) {
    finishPairing(dev, "", "");  // test-only planted bug: proves the refusal check can fail
    return;
  }
  auto call = dev.pendingPair;
  dev.pendingPair.reset();
  agentRequestPending_ = false;
  if (errorName.empty()) {
    // Success: Bonded only when the adapter is bondable (default agent, §5.3).
    dev.paired = true;
    dev.bonded = !defaultAgentSender_.empty();
    dev.temporary = false;
    setProperty(dev.path, kDevice, "Paired", true);
    setProperty(dev.path, kDevice, "Bonded", dev.bonded);
    if (dev.bonded) revealIdentity(dev);  // Discovery.cpp: the IRK reveals the identity (§3.6)
    flushPropertyChanges();
    sd_bus_reply_method_return(call.get(), "");
    return;
  }
  sd_bus_reply_method_errorf(call.get(), errorName.c_str(), "%s", message.c_str());
  // The kernel drops the link after an SMP failure; an untrusted, unpaired
  // device becomes temporary again (§5.3).
  if (!dev.trusted && !dev.paired) dev.temporary = true;
  if (dev.connected) linkDown(dev);
}

void BluezEmulator::callAgent(VirtualDevice& dev, const std::string& method,
                              std::function<void(sd_bus_message*)> appendArgs,
                              std::function<void(sd_bus_message* reply, bool ok)> onReply) {
  if (pendingAgentSender_.empty()) {
    // No agent: requests needing input fail ("No agent available", §5.2).
    agentCalls_.push_back({method, dev.address, "", "no agent"});
    onReply(nullptr, false);
    return;
  }
  sd_bus_message* call = nullptr;
  if (sd_bus_message_new_method_call(bus_, &call, pendingAgentSender_.c_str(), pendingAgentPath_.c_str(), kAgent,
                                     method.c_str()) < 0) {
    onReply(nullptr, false);
    return;
  }
  sd_bus_message_append(call, "o", dev.path.c_str());
  if (appendArgs) appendArgs(call);
  std::string argument;
  if (method == "RequestConfirmation") argument = std::to_string(dev.pairing.passkey);
  agentCalls_.push_back({method, dev.address, argument, ""});
  const std::size_t callIndex = agentCalls_.size() - 1;
  agentRequestPending_ = true;
  auto* pending = new PendingAgentReply{this, nullptr};
  pending->handler = [this, callIndex, onReply](sd_bus_message* reply) {
    const sd_bus_error* error = sd_bus_message_get_error(reply);
    const bool ok = error == nullptr;
    agentCalls_[callIndex].outcome = ok ? "ok" : (error->name ? error->name : "error");
    const bool timedOut = !ok && error->name &&
                          (std::string(error->name) == "org.freedesktop.DBus.Error.NoReply" ||
                           std::string(error->name) == "org.freedesktop.DBus.Error.Timeout");
    // A request that timed out is cancelled towards the agent (src/agent.c).
    if (timedOut) cancelAgentRequest();
    agentRequestPending_ = false;
    onReply(reply, ok);
  };
  int r = sd_bus_call_async(
      bus_, nullptr, call,
      [](sd_bus_message* reply, void* userdata, sd_bus_error*) -> int {
        auto* p = static_cast<PendingAgentReply*>(userdata);
        p->handler(reply);
        delete p;
        return 0;
      },
      pending, static_cast<std::uint64_t>(agentTimeoutMs_) * 1000);
  sd_bus_message_unref(call);
  if (r < 0) {
    delete pending;
    agentRequestPending_ = false;
    agentCalls_[callIndex].outcome = "send failed";
    onReply(nullptr, false);
  }
}

void BluezEmulator::cancelAgentRequest() {
  if (!agentRequestPending_ || pendingAgentSender_.empty()) return;
  agentRequestPending_ = false;
  sd_bus_message* call = nullptr;
  if (sd_bus_message_new_method_call(bus_, &call, pendingAgentSender_.c_str(), pendingAgentPath_.c_str(), kAgent,
                                     "Cancel") < 0) {
    return;
  }
  sd_bus_message_set_expect_reply(call, 0);
  sd_bus_send(bus_, call, nullptr);
  sd_bus_message_unref(call);
  agentCalls_.push_back({"Cancel", "", "", "ok"});
}

void BluezEmulator::releaseAgentsAtShutdown() {
  for (const auto& [sender, agent] : agents_) {
    sd_bus_message* call = nullptr;
    if (sd_bus_message_new_method_call(bus_, &call, sender.c_str(), agent.path.c_str(), kAgent, "Release") < 0) continue;
    sd_bus_message_set_expect_reply(call, 0);
    sd_bus_send(bus_, call, nullptr);
    sd_bus_message_unref(call);
  }
  sd_bus_flush(bus_);
}

int BluezEmulator::handlePairingControl(sd_bus_message* m, const std::string& member) {
  const char* sig = sd_bus_message_get_signature(m, 1);
  const std::string signature = sig ? sig : "";
  if (member == "SetPairing" && signature == "ss") {
    const char *address = nullptr, *json = nullptr;
    sd_bus_message_read(m, "ss", &address, &json);
    auto* dev = deviceByAddress(address ? address : "");
    if (!dev) return sd_bus_reply_method_errorf(m, "org.rpmgateway.Emulator.Error.NoSuchDevice", "no such virtual device");
    auto parsed = nlohmann::json::parse(json ? json : "", nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      return sd_bus_reply_method_errorf(m, "org.rpmgateway.Emulator.Error.BadJson", "pairing knobs must be a JSON object");
    }
    loadPairingKnobs(*dev, nlohmann::json{{"pairing", parsed}});
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "GetAgentCalls" && signature.empty()) {
    sd_bus_message* reply = nullptr;
    sd_bus_message_new_method_return(m, &reply);
    sd_bus_message_open_container(reply, 'a', "(ssss)");
    for (const auto& c : agentCalls_) {
      sd_bus_message_append(reply, "(ssss)", c.method.c_str(), c.address.c_str(), c.argument.c_str(),
                            c.outcome.c_str());
    }
    sd_bus_message_close_container(reply);
    int r = sd_bus_send(bus_, reply, nullptr);
    sd_bus_message_unref(reply);
    return r < 0 ? r : 1;
  }
  return 0;
}

}  // namespace rpm::emulator
