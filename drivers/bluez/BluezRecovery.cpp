#include "drivers/bluez/BluezRecovery.h"

#include <algorithm>

#include "drivers/bluez/BluezCore.h"
#include "drivers/bluez/BluezDiscovery.h"
#include "gateway/log/Log.h"

namespace rpm::bluez {
namespace {
constexpr std::chrono::milliseconds kRearmRetryFirst{1000}, kRearmRetryMax{60000};
constexpr std::chrono::milliseconds kPowerOnRetryMax{300000};
}  // namespace

BluezRecovery::BluezRecovery(std::shared_ptr<BluezCore> core, std::shared_ptr<BluezDiscovery> discovery,
                             const BluezClientOptions& options)
    : core_(std::move(core)),
      discovery_(std::move(discovery)),
      options_(options),
      watchdog_(options.scanSilence, options.scanSilenceMax) {}

BluezRecovery::~BluezRecovery() { stop(); }

void BluezRecovery::start() {
  seenEpoch_ = core_->sessionEpoch();
  thread_ = std::thread([this] { run(); });
}

void BluezRecovery::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stopCv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BluezRecovery::setDevicesExpected(std::function<bool()> expected) {
  std::lock_guard<std::mutex> lock(mutex_);
  expected_ = std::move(expected);
}

void BluezRecovery::setRestoredHandler(std::function<void()> handler) {
  std::lock_guard<std::mutex> lock(mutex_);
  restored_ = std::move(handler);
}

std::string BluezRecovery::scannerState() const {
  std::lock_guard<std::mutex> lock(stateMutex_);
  return scanner_;
}

void BluezRecovery::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // A wake-up granularity only: every decision below reads the injected clock.
      stopCv_.wait_for(lock, options_.recoveryPoll, [this] { return stopping_; });
      if (stopping_) return;
    }
    step();
    passes_.fetch_add(1);
  }
}

bool BluezRecovery::expected() {
  std::function<bool()> fn;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fn = expected_;
  }
  return fn && fn();
}

bool BluezRecovery::adapterReady(bool& presentUnpowered) const {
  presentUnpowered = false;
  if (!core_->busAlive() || !core_->bluezPresent()) return false;
  auto adapter = core_->object(core_->adapterPath());
  if (!adapter || !adapter->isAdapter) return false;
  presentUnpowered = !adapter->powered;
  return adapter->powered;
}

void BluezRecovery::step() {
  const auto now = core_->clock().monotonicNow();

  // 1. Our discovery session cannot have survived what happened: re-arm it
  //    once the adapter is ready again.
  std::uint64_t epoch = core_->sessionEpoch();
  if (epoch != seenEpoch_) {
    seenEpoch_ = epoch;
    discovery_->sessionLost();
    restorePending_ = true;
    rearmAt_ = now;
    rearmBackoff_ = std::chrono::milliseconds(0);
  }
  bool presentUnpowered = false;
  bool ready = adapterReady(presentUnpowered);
  if (ready && restorePending_ && now >= rearmAt_) {
    Status s = discovery_->rearm();  // nothing to do when the owner wants no discovery
    if (s.isOk()) {
      restorePending_ = false;
      if (discovery_->wanted()) {
        core_->count(&BluezRecoveryCounters::discoveryRearms);
        log::notice("bluez", "discovery re-armed after recovery");
      }
      std::function<void()> restored;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        restored = restored_;
      }
      if (restored) restored();
    } else {
      rearmBackoff_ = rearmBackoff_.count() == 0 ? kRearmRetryFirst : std::min(rearmBackoff_ * 2, kRearmRetryMax);
      rearmAt_ = now + rearmBackoff_;
      log::warning("bluez", "discovery not re-armed yet", {log::Field("error", s)});
    }
  }

  // 2. An adapter left unpowered while devices are expected is powered on
  //    (bluetoothd's AutoEnable only acts at start and plug-in, §7).
  if (presentUnpowered) {
    if (!unpoweredSince_) {
      unpoweredSince_ = now;
      powerOnBackoff_ = options_.powerOnGrace;
      powerOnAt_ = now + options_.powerOnGrace;
    }
    if (now >= powerOnAt_) {
      if (expected()) {
        core_->count(&BluezRecoveryCounters::powerOnAttempts);
        Status s = discovery_->setPowered(true);
        if (s.isOk()) {
          log::notice("bluez", "adapter powered on by the gateway");
        } else {
          // e.g. org.bluez.Error.Blocked (rfkill): try again later, less often.
          powerOnBackoff_ = std::min(powerOnBackoff_ * 2, std::max(kPowerOnRetryMax, options_.powerOnGrace));
          log::warning("bluez", "adapter could not be powered on", {log::Field("error", s)});
        }
      }
      powerOnAt_ = now + powerOnBackoff_;
    }
  } else {
    unpoweredSince_.reset();
  }

  // 3. The scan watchdog.
  bool armed = ready && !restorePending_ && discovery_->active();
  auto ws = watchdog_.poll(now, armed, core_->scanActivity());
  if (ws.recovered) {
    core_->count(&BluezRecoveryCounters::scannerRecoveries);
    log::notice("bluez", "scanner reporting again");
  }
  if (ws.action != ScanWatchdogAction::kNone) {
    if (!expected()) {
      watchdog_.reset(now);  // nothing enrolled: a quiet scanner is normal
    } else if (ws.action == ScanWatchdogAction::kRestartDiscovery) {
      core_->count(&BluezRecoveryCounters::watchdogDiscoveryRestarts);
      log::warning("bluez", "scanner silent: restarting discovery",
                   {log::Field("silent_ms", static_cast<std::int64_t>(options_.scanSilence.count()))});
      Status s = discovery_->restart();
      if (!s.isOk()) log::warning("bluez", "discovery restart failed", {log::Field("error", s)});
    } else {
      core_->count(&BluezRecoveryCounters::watchdogPowerCycles);
      log::warning("bluez", "scanner still silent: power-cycling the adapter",
                   {log::Field("stage", watchdog_.stage())});
      Status s = discovery_->powerCycle();
      if (!s.isOk()) log::warning("bluez", "adapter power cycle failed", {log::Field("error", s)});
    }
  }
  std::string scanner = !armed || !watchdog_.enabled() ? "off" : watchdog_.stage() > 0 ? "silent" : "ok";
  std::lock_guard<std::mutex> lock(stateMutex_);
  scanner_ = scanner;
}

}  // namespace rpm::bluez
