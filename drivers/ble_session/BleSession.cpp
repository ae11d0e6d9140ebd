#include "drivers/ble_session/BleSession.h"

#include <algorithm>

#include "drivers/common/ByteReader.h"
#include "drivers/common/GattTime.h"

namespace rpm::ble {
namespace {

// Reads one DIS string; `answered` turns false when a present characteristic
// could not be read, so the set is not cached incomplete.
std::optional<std::string> readText(BleDevice& device, std::uint16_t characteristic, bool& answered) {
  auto ch = device.characteristic(sigUuid(0x180A), sigUuid(characteristic));
  if (!ch) return std::nullopt;
  auto value = (*ch)->read();
  if (!value) {
    answered = false;
    return std::nullopt;
  }
  std::string text(value->begin(), value->end());
  // DIS strings are not NUL-terminated, but strip trailing NULs anyway (§1.2).
  while (!text.empty() && text.back() == '\0') text.pop_back();
  return text;
}

}  // namespace

class BleSession::Context final : public ProcedureContext {
 public:
  Context(BleDevice& device, const Clock& clock, std::shared_ptr<Inbox> inbox)
      : device_(device), clock_(clock), inbox_(std::move(inbox)) {}
  BleDevice& device() override { return device_; }
  const Clock& clock() const override { return clock_; }
  Result<CharacteristicValue> nextValue(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(inbox_->mutex);
    inbox_->cv.wait_for(lock, timeout, [this] { return !inbox_->values.empty() || inbox_->linkDropped; });
    if (!inbox_->values.empty()) {
      auto v = std::move(inbox_->values.front());
      inbox_->values.pop_front();
      return v;
    }
    if (inbox_->linkDropped) return Status(ErrorKind::kUnavailable, "link dropped during the procedure");
    return Status(ErrorKind::kTimeout, "no value from the device in time");
  }

 private:
  BleDevice& device_;
  const Clock& clock_;
  std::shared_ptr<Inbox> inbox_;
};

BleSession::BleSession(std::shared_ptr<BleDevice> device, SessionProfile profile, const Clock& clock, ValueSink sink,
                       SessionTiming timing)
    : device_(std::move(device)),
      profile_(std::move(profile)),
      clock_(clock),
      sink_(std::move(sink)),
      timing_(timing),
      nextAttempt_(clock.monotonicNow()),
      inbox_(std::make_shared<Inbox>()) {
  // Handlers capture the inbox and the sink, not the session, so a late
  // callback from the client's thread never touches a destroyed session.
  auto inbox = inbox_;
  auto valueSink = sink_;
  auto address = device_->address();
  device_->setValueHandler([inbox, valueSink, address](const CharacteristicValue& value) {
    if (valueSink) valueSink(address, value);
    std::lock_guard<std::mutex> lock(inbox->mutex);
    if (inbox->collecting) {
      inbox->values.push_back(value);
      inbox->cv.notify_all();
    }
  });
  device_->setLinkHandler([inbox](bool up) {
    std::lock_guard<std::mutex> lock(inbox->mutex);
    if (!inbox->collecting) return;
    if (!up) {
      inbox->linkDropped = true;
      inbox->cv.notify_all();
    } else {
      // The previous attempt's disconnect can be reported on the client's
      // thread after the next attempt began; the link coming up again
      // supersedes that stale drop (events arrive in bus order).
      inbox->linkDropped = false;
    }
  });
}

BleSession::~BleSession() {
  device_->setValueHandler(nullptr);
  device_->setLinkHandler(nullptr);
}

bool BleSession::due() const { return clock_.monotonicNow() >= nextAttempt_; }

Status BleSession::runAttempt() {
  Status result = attempt();
  {
    std::lock_guard<std::mutex> lock(inbox_->mutex);
    inbox_->collecting = false;
    inbox_->values.clear();
    inbox_->linkDropped = false;
  }
  // Always leave the link down; a failure here does not change the outcome.
  device_->disconnect();
  auto now = clock_.monotonicNow();
  lastAttemptEnded_ = now;
  if (result.isOk()) {
    failures_ = 0;
    nextAttempt_ = now + timing_.afterSuccess;
  } else {
    ++failures_;
    // Exponential backoff: firstRetry * 2^(failures-1), capped at maxRetry.
    auto delay = timing_.firstRetry;
    for (std::uint32_t i = 1; i < failures_ && delay < timing_.maxRetry; ++i) delay *= 2;
    nextAttempt_ = now + std::min(delay, timing_.maxRetry);
  }
  return result;
}

void BleSession::expedite(std::chrono::milliseconds minGap) {
  auto earliest = lastAttemptEnded_ ? *lastAttemptEnded_ + minGap : clock_.monotonicNow();
  if (earliest < nextAttempt_) nextAttempt_ = earliest;
}

Status BleSession::attempt() {
  {
    std::lock_guard<std::mutex> lock(inbox_->mutex);
    inbox_->values.clear();
    inbox_->linkDropped = false;
    inbox_->collecting = true;  // link drops from here on fail the attempt
  }
  Status s = device_->connect();
  if (!s.isOk()) return s;
  s = device_->waitServicesResolved(timing_.resolveTimeout);
  if (!s.isOk()) return s;

  if (!info_) {
    DeviceInformation info;
    bool answered = true;
    info.manufacturer = readText(*device_, 0x2A29, answered);
    info.model = readText(*device_, 0x2A24, answered);
    info.serial = readText(*device_, 0x2A25, answered);
    info.firmware = readText(*device_, 0x2A26, answered);
    if (answered) info_ = info;
  }
  if (auto battery = device_->characteristic(sigUuid(0x180F), sigUuid(0x2A19))) {
    auto level = (*battery)->read();
    if (level && level->size() == 1 && (*level)[0] <= 100) battery_ = (*level)[0];
  }
  if (auto cts = device_->characteristic(sigUuid(0x1805), sigUuid(0x2A2B))) {
    auto raw = (*cts)->read();
    if (raw) {
      CurrentTimeSample sample;
      sample.raw = *raw;
      sample.readAt = clock_.now();
      drivers::ByteReader reader(sample.raw.data(), sample.raw.size());
      LocalDateTime t;
      if (drivers::readDateTime(reader, t) == drivers::DateTimeError::kNone && t.isKnown()) sample.deviceTime = t;
      currentTime_ = sample;
    }
  }

  for (const auto& [service, characteristic] : profile_.subscriptions) {
    auto ch = device_->characteristic(service, characteristic);
    if (!ch) return Status(ErrorKind::kUnsupported, "profile characteristic missing on the device");
    s = (*ch)->startNotify();
    if (!s.isOk()) return s;
  }
  if (profile_.procedure) {
    Context context(*device_, clock_, inbox_);
    s = profile_.procedure(context);
    if (!s.isOk()) return s;
  }
  return Status::ok();
}

void BleSessionScheduler::setEnrolled(std::vector<std::string> addresses) {
  enrolled_ = std::move(addresses);
  // Sessions of devices no longer enrolled are dropped.
  sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(),
                                 [this](const auto& entry) {
                                   return std::find(enrolled_.begin(), enrolled_.end(), entry.first) == enrolled_.end();
                                 }),
                  sessions_.end());
}

BleSession* BleSessionScheduler::session(const std::string& address) {
  for (auto& [a, s] : sessions_) {
    if (a == address) return s.get();
  }
  return nullptr;
}

std::size_t BleSessionScheduler::tick() {
  std::size_t ran = 0;
  for (const auto& address : enrolled_) {
    BleSession* s = session(address);
    if (!s) {
      auto created = factory_(address);
      if (!created) continue;  // not known to the adapter yet
      s = created.get();
      sessions_.emplace_back(address, std::move(created));
    }
    if (s->due()) {
      Status outcome = s->runAttempt();
      if (observer_) observer_(address, outcome);
      ++ran;
    }
  }
  return ran;
}

}  // namespace rpm::ble
