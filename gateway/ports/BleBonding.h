// BleBonding: pairing with BLE devices through the gateway's own pairing
// agent (BlueZ Agent1, bluez-dbus-api.md §5). The agent asks a PairingPolicy
// what to answer; the policy (gateway/enrolment) says yes only inside an open
// enrolment window and takes passkeys from the installer's prompt.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "gateway/model/Status.h"

namespace rpm::ble {

enum class AgentRequestKind {
  kPasskey,               // RequestPasskey: enter the key the device displays
  kPinCode,               // RequestPinCode: BR/EDR legacy
  kConfirmation,          // RequestConfirmation: numeric comparison of `passkey`
  kAuthorization,         // RequestAuthorization: peer-initiated Just Works
  kServiceAuthorization,  // AuthorizeService: incoming profile `serviceUuid`
  kDisplayPasskey,        // DisplayPasskey: show `passkey` so the user types it on the device (no answer)
};

struct AgentRequest {
  AgentRequestKind kind = AgentRequestKind::kPasskey;
  std::string address;       // the device's identity address
  std::uint32_t passkey = 0; // kConfirmation, kDisplayPasskey
  std::string serviceUuid;   // kServiceAuthorization
};

struct AgentAnswer {
  bool accept = false;
  std::uint32_t passkey = 0;  // kPasskey
  std::string pinCode;        // kPinCode
  static AgentAnswer refuse() { return AgentAnswer{}; }
};

// Answers once, from any thread, within bluetoothd's 60 s agent timeout.
using AgentReply = std::function<void(const AgentAnswer&)>;

class PairingPolicy {
 public:
  virtual ~PairingPolicy() = default;
  // Called on the BLE client's thread: must not block; answer through reply.
  virtual void onAgentRequest(const AgentRequest& request, AgentReply reply) = 0;
  // bluetoothd gave up the pending request (timeout, Pair aborted).
  virtual void onAgentCancel() = 0;
};

struct AgentState {
  bool registeredAsDefault = false;  // RegisterAgent + RequestDefaultAgent succeeded with this bluetoothd
  std::uint64_t registrations = 0;   // successful registrations (1 + bluetoothd restarts)
  std::uint64_t requests = 0, refusals = 0, cancels = 0;
};

class BleBonding {
 public:
  virtual ~BleBonding() = default;
  // Exports the agent, registers it as the default agent now and again each
  // time bluetoothd (re)appears. The policy must outlive the bonding.
  virtual Status startAgent(PairingPolicy& policy) = 0;
  // Detaches the policy (before it is destroyed): later agent requests are
  // refused. Returns only when no request is inside the policy.
  virtual void stopAgent() = 0;
  virtual AgentState agentState() const = 0;
  // Device1.Pair, waiting as long as an agent prompt may take.
  virtual Status pair(const std::string& address) = 0;
  // Device1.Trusted (rw): a trusted device is accepted without authorization.
  virtual Status setTrusted(const std::string& address, bool trusted) = 0;
};

}  // namespace rpm::ble
