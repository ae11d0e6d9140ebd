// EnrolmentWindow: headless pairing and enrolment of BLE health devices.
//
// A time-boxed window (opened by `rpm-gateway pair`, the MQTT pair command or
// the button unit) discovers devices advertising a health service, bonds them
// through the gateway's pairing agent, trusts them, and binds them to the
// patient (and user slot) given. It is also the agent's PairingPolicy: agent
// requests are accepted only while a window is open, and passkeys come from
// the installer's prompt or the request is refused. Outside a window nothing
// new is enrolled; enrolled devices whose bond was lost are re-bonded (Just
// Works needs no agent answer; a passkey device then waits for a window).
//
// A device whose pairing fails although our agent was never asked has refused
// us itself: in practice it is bonded to another host (phone app). That is
// reported as such, by alias, in status and in the pair command's output.
//
// Own dependency rule (docs/architecture.md): model, ports, identity
// (aliases), log. No sdbus-c++: BleAdapter and BleBonding are ports.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gateway/identity/Identifiers.h"
#include "gateway/model/Status.h"
#include "gateway/ports/BleAdapter.h"
#include "gateway/ports/BleBonding.h"
#include "gateway/ports/Clock.h"
#include "gateway/ports/EnrolmentStore.h"

namespace rpm::ble {

// 128-bit UUIDs of the health services the window looks for (GLS, BPS, HRS,
// PLXS, HTS, WSS, CGMS).
std::vector<std::string> healthServiceUuids();

struct EnrolmentOptions {
  std::chrono::seconds defaultWindow{120};
  std::chrono::seconds maxWindow{900};
  std::chrono::milliseconds tick{100};          // how often discovery results are examined (real time, not asserted)
  std::chrono::seconds rebondInterval{300};     // outside a window: lost bonds retried this often (Clock)
};

struct WindowRequest {
  std::chrono::seconds timeout{0};        // 0: the default window
  std::string patient;                    // "Patient/<id>"; empty: the hub's one enrolled patient
  std::optional<std::uint8_t> userSlot;   // nullopt: the whole device
  std::string origin = "cli";             // "cli", "mqtt" or "button"
  bool interactive = false;               // a prompt can answer passkeys / confirmations
};

struct EnrolmentEvent {
  enum class Kind {
    kOpened,
    kPasskeyNeeded,        // answer with the 6 digits the device shows (promptId)
    kConfirmationNeeded,   // answer "yes" if the device shows `passkey` (promptId)
    kDisplayPasskey,       // type `passkey` on the device
    kPromptCancelled,      // bluetoothd gave up the request
    kEnrolled,
    kAlreadyEnrolled,
    kBondedElsewhere,
    kPairingFailed,
    kClosed,
  };
  Kind kind = Kind::kOpened;
  std::string alias;        // DeviceAlias text, never the address
  std::string deviceKind;   // "blood pressure monitor", ...
  std::uint32_t passkey = 0;
  std::uint64_t promptId = 0;
  std::string detail;       // failure reason (error kind / fixed text); kClosed: summary
};
const char* eventName(EnrolmentEvent::Kind kind);

using EnrolmentEventSink = std::function<void(const EnrolmentEvent&)>;

// What `status` shows about pairing (no addresses, no patient ids).
struct EnrolmentStatus {
  bool windowOpen = false;
  std::string origin;
  std::int64_t remainingSeconds = 0;
  bool agentRegistered = false;
  std::uint64_t enrolled = 0, rebonded = 0, pairingFailures = 0, agentRefusals = 0;
  std::map<std::string, std::string> deviceStates;  // alias -> "bonded_to_another_host", "needs_pairing_window", ...
};

class EnrolmentWindow final : public PairingPolicy {
 public:
  EnrolmentWindow(EnrolmentOptions options, BleAdapter& adapter, BleBonding& bonding, EnrolmentStore& enrolments,
                  const Clock& clock, const DeviceAliaser& aliaser);
  ~EnrolmentWindow() override;

  // Registers the agent with this object as its policy and starts the worker.
  Status start();
  void stop();

  // Opens a window; kConflict while one is open, kInvalidArgument without a
  // patient. Events go to sink until kClosed. Returns the window id.
  Result<std::uint64_t> open(const WindowRequest& request, EnrolmentEventSink sink);
  // Closes the window early (the pair command's client went away).
  void close(std::uint64_t windowId);
  // The installer's answer to a prompt: 6 digits, or "yes"/"no".
  Status answerPrompt(std::uint64_t windowId, std::uint64_t promptId, const std::string& answer);
  EnrolmentStatus status() const;
  // Test hook: one re-bond pass now instead of after rebondInterval.
  void rebondNowForTest();

  // PairingPolicy (called by the agent on the BLE client's thread).
  void onAgentRequest(const AgentRequest& request, AgentReply reply) override;
  void onAgentCancel() override;

 private:
  struct Window {
    std::uint64_t id = 0;
    WindowRequest request;
    std::string patient;
    std::chrono::steady_clock::time_point deadline;
    EnrolmentEventSink sink;
    std::set<std::string> handled;  // addresses already tried in this window
    bool closeRequested = false;
    bool discovering = false;
    std::uint64_t enrolled = 0, failed = 0;
  };
  struct Prompt {
    AgentRequestKind kind;
    AgentReply reply;
    std::uint32_t passkey = 0;
  };

  void worker();
  void windowTick(std::unique_lock<std::mutex>& lock);
  void closeWindow(std::unique_lock<std::mutex>& lock);
  void rebondTick(std::unique_lock<std::mutex>& lock);
  void enrolDevice(const DeviceSnapshot& snapshot, std::unique_lock<std::mutex>& lock);
  // Pair with the agent tracking whether it was asked (and refused) for this device.
  Status pairTracked(const std::string& address, bool& agentAsked, std::unique_lock<std::mutex>& lock);
  void emit(const EnrolmentEvent& event, std::unique_lock<std::mutex>& lock);
  std::string aliasOf(const std::string& address) const;
  std::string resolvePatient(const WindowRequest& request);
  void refuseAllPrompts(std::unique_lock<std::mutex>& lock);

  EnrolmentOptions options_;
  BleAdapter& adapter_;
  BleBonding& bonding_;
  EnrolmentStore& enrolments_;
  const Clock& clock_;
  const DeviceAliaser& aliaser_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
  bool stopping_ = false, started_ = false;
  std::unique_ptr<Window> window_;
  std::uint64_t nextWindowId_ = 0, nextPromptId_ = 0;
  std::map<std::uint64_t, Prompt> prompts_;
  std::string pairingAddress_;         // the device being paired now
  bool agentAskedForPairing_ = false;  // the agent got a request for it
  std::chrono::steady_clock::time_point nextRebond_{};
  bool rebondRequested_ = false;
  std::uint64_t rebondPasses_ = 0;
  std::uint64_t enrolledTotal_ = 0, rebonded_ = 0, failures_ = 0, refusals_ = 0;
  std::map<std::string, std::string> deviceStates_;  // alias -> state
};

}  // namespace rpm::ble
