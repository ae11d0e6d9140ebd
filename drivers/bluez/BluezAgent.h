// BluezBonding (internal): the BleBonding port over BluezCore; exports the
// gateway's org.bluez.Agent1 as a loop extension (BluezAgent.cpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "drivers/bluez/BluezCore.h"
#include "gateway/ports/BleBonding.h"

namespace rpm::bluez {

// Shared by BluezBonding and the agent object on the loop thread (which may
// outlive the policy: stopAgent() detaches it).
struct AgentCounters {
  std::mutex policyMutex;
  ble::PairingPolicy* policy = nullptr;  // guarded by policyMutex
  std::atomic<bool> registered{false};
  std::atomic<std::uint64_t> registrations{0}, requests{0}, refusals{0}, cancels{0};
};

class BluezBonding final : public ble::BleBonding {
 public:
  explicit BluezBonding(std::shared_ptr<BluezCore> core);
  Status startAgent(ble::PairingPolicy& policy) override;
  void stopAgent() override;
  ble::AgentState agentState() const override;
  Status pair(const std::string& address) override;
  Status setTrusted(const std::string& address, bool trusted) override;

 private:
  std::shared_ptr<BluezCore> core_;
  std::atomic<bool> started_{false};
  AgentCounters counters_;
};

}  // namespace rpm::bluez
