#include "drivers/ble_enrolment/EnrolmentWindow.h"

#include <algorithm>
#include <cctype>

#include "gateway/log/Log.h"

namespace rpm::ble {
namespace {

struct HealthService {
  std::uint16_t uuid;
  const char* kind;
};
// Health services a window enrols (health-devices-to-fhir.md §1.1).
constexpr HealthService kHealthServices[] = {
    {0x1808, "glucose meter"}, {0x1810, "blood pressure monitor"}, {0x180D, "heart rate monitor"},
    {0x1822, "pulse oximeter"}, {0x1809, "thermometer"},           {0x181D, "weight scale"},
    {0x181F, "continuous glucose monitor"},
};

std::string kindOf(const std::vector<std::string>& uuids) {
  for (const auto& s : kHealthServices) {
    if (std::find(uuids.begin(), uuids.end(), sigUuid(s.uuid)) != uuids.end()) return s.kind;
  }
  return {};
}

bool refusedByDevice(const Status& s) {
  // Pair() failed without our agent being asked: the device (SMP Pairing
  // Failed -> AuthenticationFailed / Rejected) or its accept list (no
  // connection -> ConnectionAttemptFailed) refused us (bluez-dbus-api.md §3.1).
  const auto& m = s.message();
  return m.find("org.bluez.Error.AuthenticationFailed") != std::string::npos ||
         m.find("org.bluez.Error.AuthenticationRejected") != std::string::npos ||
         m.find("org.bluez.Error.ConnectionAttemptFailed") != std::string::npos;
}

constexpr const char* kBondedElsewhereDetail =
    "the device refused to pair: it is probably paired with another phone or hub. Remove it there (or reset the "
    "device's pairing), then pair again";

}  // namespace

std::vector<std::string> healthServiceUuids() {
  std::vector<std::string> out;
  for (const auto& s : kHealthServices) out.push_back(sigUuid(s.uuid));
  return out;
}

const char* eventName(EnrolmentEvent::Kind kind) {
  switch (kind) {
    case EnrolmentEvent::Kind::kOpened: return "opened";
    case EnrolmentEvent::Kind::kPasskeyNeeded: return "passkey_needed";
    case EnrolmentEvent::Kind::kConfirmationNeeded: return "confirmation_needed";
    case EnrolmentEvent::Kind::kDisplayPasskey: return "display_passkey";
    case EnrolmentEvent::Kind::kPromptCancelled: return "prompt_cancelled";
    case EnrolmentEvent::Kind::kEnrolled: return "enrolled";
    case EnrolmentEvent::Kind::kAlreadyEnrolled: return "already_enrolled";
    case EnrolmentEvent::Kind::kBondedElsewhere: return "bonded_to_another_host";
    case EnrolmentEvent::Kind::kPairingFailed: return "pairing_failed";
    case EnrolmentEvent::Kind::kClosed: return "closed";
  }
  return "unknown";
}

EnrolmentWindow::EnrolmentWindow(EnrolmentOptions options, BleAdapter& adapter, BleBonding& bonding,
                                 EnrolmentStore& enrolments, const Clock& clock, const DeviceAliaser& aliaser)
    : options_(options), adapter_(adapter), bonding_(bonding), enrolments_(enrolments), clock_(clock), aliaser_(aliaser) {}

EnrolmentWindow::~EnrolmentWindow() { stop(); }

Status EnrolmentWindow::start() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (started_) return Status(ErrorKind::kConflict, "enrolment already started");
    started_ = true;
    // The first re-bond pass runs at once: bonds lost while the hub was off.
    nextRebond_ = clock_.monotonicNow();
  }
  auto s = bonding_.startAgent(*this);
  if (!s.isOk()) return s;
  thread_ = std::thread([this] { worker(); });
  return Status::ok();
}

void EnrolmentWindow::stop() {
  bool started = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    started = started_;
  }
  // The agent outlives this object on the BLE client's thread: detach first.
  if (started) bonding_.stopAgent();
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string EnrolmentWindow::aliasOf(const std::string& address) const {
  auto key = DeviceKey::bluetooth(address);
  return key ? aliaser_.aliasFor(*key).text() : std::string("unknown-device");
}

std::string EnrolmentWindow::resolvePatient(const WindowRequest& request) {
  if (!request.patient.empty()) return request.patient.rfind("Patient/", 0) == 0 ? request.patient : std::string();
  // No patient given (button, MQTT without one): the hub's one current patient.
  auto list = enrolments_.listEnrolments();
  if (!list.isOk()) return {};
  std::set<std::string> patients;
  for (const auto& e : *list) patients.insert(e.patient);
  return patients.size() == 1 ? *patients.begin() : std::string();
}

Result<std::uint64_t> EnrolmentWindow::open(const WindowRequest& request, EnrolmentEventSink sink) {
  if (request.userSlot && (*request.userSlot == 0 || *request.userSlot > 254)) {
    return Status(ErrorKind::kInvalidArgument, "user slot must be 1..254");
  }
  const std::string patient = resolvePatient(request);
  if (patient.empty()) {
    return Status(ErrorKind::kInvalidArgument,
                  request.patient.empty() ? "no patient: give one (Patient/<id>); the hub has no single enrolled patient"
                                          : "patient must be Patient/<id>");
  }
  auto timeout = request.timeout.count() > 0 ? request.timeout : options_.defaultWindow;
  if (timeout > options_.maxWindow) return Status(ErrorKind::kInvalidArgument, "pairing window longer than allowed");
  std::unique_lock<std::mutex> lock(mutex_);
  if (!started_ || stopping_) return Status(ErrorKind::kUnavailable, "Bluetooth enrolment is not running");
  if (window_) return Status(ErrorKind::kConflict, "a pairing window is already open");
  window_ = std::make_unique<Window>();
  window_->id = ++nextWindowId_;
  window_->request = request;
  window_->request.timeout = timeout;
  window_->patient = patient;
  window_->deadline = clock_.monotonicNow() + timeout;
  window_->sink = std::move(sink);
  const auto id = window_->id;
  log::notice("enrolment", "pairing window opened",
              {{"timeout_s", static_cast<std::int64_t>(timeout.count())},
               {"origin", request.origin == "mqtt" ? log::Text("mqtt") : request.origin == "button" ? log::Text("button") : log::Text("cli")}});
  EnrolmentEvent opened;
  opened.kind = EnrolmentEvent::Kind::kOpened;
  opened.detail = std::to_string(timeout.count());
  emit(opened, lock);
  lock.unlock();
  wake_.notify_all();
  return id;
}

void EnrolmentWindow::close(std::uint64_t windowId) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!window_ || window_->id != windowId) return;
    window_->closeRequested = true;
  }
  wake_.notify_all();
}

Status EnrolmentWindow::answerPrompt(std::uint64_t windowId, std::uint64_t promptId, const std::string& answer) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!window_ || window_->id != windowId) return Status(ErrorKind::kNotFound, "no such pairing window");
  auto it = prompts_.find(promptId);
  if (it == prompts_.end()) return Status(ErrorKind::kNotFound, "the prompt is no longer pending");
  AgentAnswer out;
  // An empty answer (Enter alone, or no terminal) declines the request.
  if (answer.empty()) {
    auto reply = it->second.reply;
    prompts_.erase(it);
    refusals_++;
    lock.unlock();
    reply(AgentAnswer::refuse());
    return Status::ok();
  }
  switch (it->second.kind) {
    case AgentRequestKind::kPasskey: {
      if (answer.empty() || answer.size() > 6 ||
          !std::all_of(answer.begin(), answer.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        return Status(ErrorKind::kInvalidArgument, "a passkey is the 6 digits the device shows");
      }
      out.accept = true;
      out.passkey = static_cast<std::uint32_t>(std::stoul(answer));
      break;
    }
    case AgentRequestKind::kPinCode:
      if (answer.empty() || answer.size() > 16) return Status(ErrorKind::kInvalidArgument, "a PIN is 1 to 16 characters");
      out.accept = true;
      out.pinCode = answer;
      break;
    default:
      out.accept = answer == "yes" || answer == "y";
      break;
  }
  auto reply = it->second.reply;
  prompts_.erase(it);
  if (!out.accept) refusals_++;
  lock.unlock();
  reply(out);
  return Status::ok();
}

void EnrolmentWindow::onAgentRequest(const AgentRequest& request, AgentReply reply) {
  std::unique_lock<std::mutex> lock(mutex_);
  const bool forCurrentPairing = !pairingAddress_.empty() && request.address == pairingAddress_;
  if (forCurrentPairing) agentAskedForPairing_ = true;
  // Only the device an open window is pairing gets a yes (§5.2: reject = error).
  if (!window_ || window_->closeRequested || !forCurrentPairing) {
    refusals_++;
    lock.unlock();
    log::info("enrolment", "agent request refused outside a pairing window");
    reply(AgentAnswer::refuse());
    return;
  }
  EnrolmentEvent event;
  event.alias = aliasOf(request.address);
  switch (request.kind) {
    case AgentRequestKind::kDisplayPasskey:
      if (!window_->request.interactive) return;  // a passkey goes only to a person at the prompt
      event.kind = EnrolmentEvent::Kind::kDisplayPasskey;
      event.passkey = request.passkey;
      emit(event, lock);
      return;
    case AgentRequestKind::kAuthorization:
    case AgentRequestKind::kServiceAuthorization: {
      AgentAnswer yes;
      yes.accept = true;
      lock.unlock();
      reply(yes);
      return;
    }
    case AgentRequestKind::kPasskey:
    case AgentRequestKind::kPinCode:
    case AgentRequestKind::kConfirmation:
      break;
  }
  if (!window_->request.interactive) {
    // Opened by MQTT or the button: nobody can read the device's display.
    refusals_++;
    lock.unlock();
    reply(AgentAnswer::refuse());
    return;
  }
  const auto id = ++nextPromptId_;
  prompts_[id] = Prompt{request.kind, std::move(reply), request.passkey};
  event.kind = request.kind == AgentRequestKind::kConfirmation ? EnrolmentEvent::Kind::kConfirmationNeeded
                                                               : EnrolmentEvent::Kind::kPasskeyNeeded;
  event.passkey = request.kind == AgentRequestKind::kConfirmation ? request.passkey : 0;
  event.promptId = id;
  emit(event, lock);
}

void EnrolmentWindow::onAgentCancel() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (prompts_.empty()) return;
  refuseAllPrompts(lock);
  EnrolmentEvent event;
  event.kind = EnrolmentEvent::Kind::kPromptCancelled;
  if (window_) emit(event, lock);
}

void EnrolmentWindow::refuseAllPrompts(std::unique_lock<std::mutex>& lock) {
  auto pending = std::move(prompts_);
  prompts_.clear();
  lock.unlock();
  for (auto& [id, prompt] : pending) prompt.reply(AgentAnswer::refuse());
  lock.lock();
}

void EnrolmentWindow::emit(const EnrolmentEvent& event, std::unique_lock<std::mutex>& lock) {
  if (!window_ || !window_->sink) return;
  auto sink = window_->sink;
  lock.unlock();
  sink(event);
  lock.lock();
}

EnrolmentStatus EnrolmentWindow::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  EnrolmentStatus s;
  s.windowOpen = window_ != nullptr;
  if (window_) {
    s.origin = window_->request.origin;
    auto left = std::chrono::duration_cast<std::chrono::seconds>(window_->deadline - clock_.monotonicNow()).count();
    s.remainingSeconds = std::max<std::int64_t>(0, left);
  }
  s.agentRegistered = bonding_.agentState().registeredAsDefault;
  s.enrolled = enrolledTotal_;
  s.rebonded = rebonded_;
  s.pairingFailures = failures_;
  s.agentRefusals = refusals_;
  s.deviceStates = deviceStates_;
  return s;
}

void EnrolmentWindow::rebondNowForTest() {
  std::unique_lock<std::mutex> lock(mutex_);
  rebondRequested_ = true;
  const auto before = rebonded_ + failures_ + rebondPasses_;
  wake_.notify_all();
  wake_.wait_for(lock, std::chrono::seconds(30), [&] { return stopping_ || rebonded_ + failures_ + rebondPasses_ != before; });
}

void EnrolmentWindow::worker() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (window_) {
      if (window_->closeRequested || clock_.monotonicNow() >= window_->deadline) {
        closeWindow(lock);
      } else {
        windowTick(lock);
      }
    } else if (rebondRequested_ || clock_.monotonicNow() >= nextRebond_) {
      rebondRequested_ = false;
      rebondTick(lock);
      nextRebond_ = clock_.monotonicNow() + options_.rebondInterval;
      rebondPasses_++;
      wake_.notify_all();
    }
    if (stopping_) break;
    wake_.wait_for(lock, options_.tick);
  }
  if (window_) closeWindow(lock);
}

void EnrolmentWindow::windowTick(std::unique_lock<std::mutex>& lock) {
  if (!window_->discovering) {
    lock.unlock();
    DiscoveryFilter filter;
    filter.serviceUuids = healthServiceUuids();
    auto s = adapter_.startDiscovery(filter);
    lock.lock();
    if (!window_) return;
    if (!s.isOk()) {
      log::warning("enrolment", "discovery for the pairing window failed", {{"error", s.kind()}});
      return;  // retried next tick
    }
    window_->discovering = true;
  }
  lock.unlock();
  auto devices = adapter_.devices();
  lock.lock();
  for (const auto& d : devices) {
    if (!window_ || window_->closeRequested || stopping_) return;
    if (window_->handled.count(d.address) || kindOf(d.uuids).empty()) continue;
    window_->handled.insert(d.address);
    enrolDevice(d, lock);
  }
}

Status EnrolmentWindow::pairTracked(const std::string& address, bool& agentAsked, std::unique_lock<std::mutex>& lock) {
  pairingAddress_ = address;
  agentAskedForPairing_ = false;
  lock.unlock();
  auto s = bonding_.pair(address);
  lock.lock();
  agentAsked = agentAskedForPairing_;
  pairingAddress_.clear();
  return s;
}

void EnrolmentWindow::enrolDevice(const DeviceSnapshot& snapshot, std::unique_lock<std::mutex>& lock) {
  auto key = DeviceKey::bluetooth(snapshot.address);
  if (!key) return;
  EnrolmentEvent event;
  event.alias = aliasOf(snapshot.address);
  event.deviceKind = kindOf(snapshot.uuids);
  const std::string patient = window_->patient;
  const auto slot = window_->request.userSlot;
  lock.unlock();
  auto existing = enrolments_.findEnrolment(*key, slot);
  lock.lock();
  const bool exactExisting = existing.isOk() && existing->userSlot == slot;
  if (exactExisting && existing->patient == patient && snapshot.bonded) {
    event.kind = EnrolmentEvent::Kind::kAlreadyEnrolled;
    emit(event, lock);
    return;
  }
  if (!snapshot.bonded) {
    bool agentAsked = false;
    auto s = pairTracked(snapshot.address, agentAsked, lock);
    if (!s.isOk() && s.kind() != ErrorKind::kDuplicate) {
      failures_++;
      if (window_) window_->failed++;
      if (!agentAsked && refusedByDevice(s)) {
        event.kind = EnrolmentEvent::Kind::kBondedElsewhere;
        event.detail = kBondedElsewhereDetail;
        deviceStates_[event.alias] = "bonded_to_another_host";
        log::warning("enrolment", "device refused pairing: bonded to another host", {{"device", DeviceAlias(event.alias)}});
      } else {
        event.kind = EnrolmentEvent::Kind::kPairingFailed;
        event.detail = agentAsked ? "pairing refused: the passkey was wrong, not entered, or refused"
                                  : std::string(errorKindName(s.kind()));
        deviceStates_[event.alias] = "pairing_failed";
        log::warning("enrolment", "pairing failed", {{"device", DeviceAlias(event.alias)}, {"error", s.kind()}});
      }
      lock.unlock();
      if (auto dev = adapter_.device(snapshot.address); dev.isOk()) (*dev)->disconnect();
      lock.lock();
      emit(event, lock);
      return;
    }
  }
  lock.unlock();
  auto trusted = bonding_.setTrusted(snapshot.address, true);
  Enrolment e;
  e.device = *key;
  e.userSlot = slot;
  e.patient = patient;
  e.transport = Transport::kBle;
  e.metadata = exactExisting ? existing->metadata : std::string("{}");
  e.enrolledAt = clock_.now();
  auto put = enrolments_.putEnrolment(e);
  // The intake connects enrolled devices on its own schedule: free the link.
  if (auto dev = adapter_.device(snapshot.address); dev.isOk()) (*dev)->disconnect();
  lock.lock();
  if (!put.isOk()) {
    failures_++;
    event.kind = EnrolmentEvent::Kind::kPairingFailed;
    event.detail = "bonded, but the enrolment could not be stored: " + std::string(errorKindName(put.kind()));
    emit(event, lock);
    return;
  }
  if (!trusted.isOk()) log::warning("enrolment", "device not marked trusted", {{"device", DeviceAlias(event.alias)}});
  enrolledTotal_++;
  if (window_) window_->enrolled++;
  deviceStates_[event.alias] = "enrolled";
  log::notice("enrolment", "device bonded and enrolled", {{"device", DeviceAlias(event.alias)}});
  event.kind = EnrolmentEvent::Kind::kEnrolled;
  emit(event, lock);
}

void EnrolmentWindow::closeWindow(std::unique_lock<std::mutex>& lock) {
  refuseAllPrompts(lock);
  if (window_->discovering) {
    lock.unlock();
    adapter_.stopDiscovery();
    lock.lock();
  }
  EnrolmentEvent closed;
  closed.kind = EnrolmentEvent::Kind::kClosed;
  closed.detail = "enrolled " + std::to_string(window_->enrolled) + ", failed " + std::to_string(window_->failed);
  log::notice("enrolment", "pairing window closed",
              {{"enrolled", window_->enrolled}, {"failed", window_->failed}});
  // The window is closed before anyone hears so: a listener that reacts to
  // "closed" (pair's exit, a test) must find status() saying closed too.
  auto sink = window_->sink;
  window_.reset();
  if (sink) {
    lock.unlock();
    sink(closed);
    lock.lock();
  }
}

void EnrolmentWindow::rebondTick(std::unique_lock<std::mutex>& lock) {
  lock.unlock();
  auto list = enrolments_.listEnrolments();
  auto devices = adapter_.devices();
  lock.lock();
  if (!list.isOk()) return;
  std::set<std::string> tried;
  for (const auto& e : *list) {
    if (stopping_ || window_) return;  // a window takes over
    if (e.transport != Transport::kBle || e.device.scheme() != DeviceKeyScheme::kBluetoothAddress) continue;
    auto it = std::find_if(devices.begin(), devices.end(), [&](const DeviceSnapshot& d) {
      auto k = DeviceKey::bluetooth(d.address);
      return k && *k == e.device;
    });
    // Only devices the adapter knows and that lost their keys (§5.3).
    if (it == devices.end() || it->bonded || !tried.insert(it->address).second) continue;
    const std::string alias = aliasOf(it->address);
    bool agentAsked = false;
    auto s = pairTracked(it->address, agentAsked, lock);
    if (s.isOk() || s.kind() == ErrorKind::kDuplicate) {
      lock.unlock();
      bonding_.setTrusted(it->address, true);
      lock.lock();
      rebonded_++;
      deviceStates_[alias] = "enrolled";
      log::notice("enrolment", "lost bond restored", {{"device", DeviceAlias(alias)}});
    } else {
      failures_++;
      if (agentAsked) {
        deviceStates_[alias] = "needs_pairing_window";  // a passkey device: `rpm-gateway pair`
      } else if (refusedByDevice(s)) {
        deviceStates_[alias] = "bonded_to_another_host";
      } else {
        deviceStates_[alias] = "bond_lost";
      }
      log::warning("enrolment", "lost bond not restored", {{"device", DeviceAlias(alias)}, {"error", s.kind()}});
    }
    lock.unlock();
    if (auto dev = adapter_.device(it->address); dev.isOk()) (*dev)->disconnect();
    lock.lock();
  }
}

}  // namespace rpm::ble
