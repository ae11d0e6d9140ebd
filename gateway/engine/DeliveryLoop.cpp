#include "gateway/engine/DeliveryLoop.h"

#include <algorithm>

#include "gateway/log/Log.h"

namespace rpm::engine {

DeliveryLoop::DeliveryLoop(ReadingStore& store, Uplink& uplink, const Clock& clock, DeliveryLoopOptions options,
                           Backoff::Random random)
    : store_(store),
      uplink_(uplink),
      clock_(clock),
      options_(options),
      random_(random),
      destinationBackoff_(options.backoffBase, options.backoffCap, random) {}

void DeliveryLoop::noteError(const Status& status) {
  std::lock_guard<std::mutex> lock(healthMutex_);
  health_.lastErrorKind = status.kind();
  health_.lastError = status.toString();
}

DeliveryHealth DeliveryLoop::health() const {
  std::lock_guard<std::mutex> lock(healthMutex_);
  DeliveryHealth h = health_;
  h.consecutiveFailures = destinationBackoff_.consecutiveFailures();
  return h;
}

std::chrono::milliseconds DeliveryLoop::runOnce() {
  auto leased = store_.lease(options_.batchSize);
  if (!leased.isOk()) {
    noteError(leased.status());
    log::error("delivery", "lease failed", {{"error", leased.status().kind()}});
    return destinationBackoff_.nextDelay();
  }
  if (leased->empty()) return options_.idlePoll;

  std::vector<Reading> readings;
  readings.reserve(leased->size());
  for (const auto& l : *leased) readings.push_back(l.reading);
  UtcInstant now = clock_.now();
  {
    std::lock_guard<std::mutex> lock(healthMutex_);
    health_.lastAttemptAt = now;
  }
  std::vector<DeliveryOutcome> outcomes = uplink_.deliver(readings);
  if (outcomes.size() != readings.size()) {
    // Broken invariant of an uplink: treat the whole batch as not delivered.
    log::error("delivery", "uplink returned the wrong number of outcomes", {{"error", ErrorKind::kInternal}});
    outcomes.assign(readings.size(), DeliveryOutcome{DeliveryVerdict::kRetry, {}, {}, Status(ErrorKind::kInternal,
                                                     "uplink returned the wrong number of outcomes"), std::nullopt});
  }

  std::vector<Acknowledgement> acks;
  std::vector<std::size_t> retries;
  bool anyDelivered = false, anyHalt = false;
  std::optional<std::chrono::seconds> serverFloor;
  std::uint64_t rejected = 0;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const LeasedReading& l = (*leased)[i];
    const DeliveryOutcome& o = outcomes[i];
    switch (o.verdict) {
      case DeliveryVerdict::kDelivered:
        acks.push_back(Acknowledgement{l.reading.id, l.leaseId, o.receipt});
        anyDelivered = true;
        break;
      case DeliveryVerdict::kReject: {
        Status s = store_.reject(l.reading.id, l.leaseId, o.rejection);
        if (!s.isOk()) noteError(s);
        ++rejected;
        break;
      }
      case DeliveryVerdict::kHalt:
        anyHalt = true;
        noteError(o.reason);
        retries.push_back(i);
        break;
      case DeliveryVerdict::kRetry:
        noteError(o.reason);
        if (o.serverDelay && (!serverFloor || *o.serverDelay > *serverFloor)) serverFloor = o.serverDelay;
        retries.push_back(i);
        break;
    }
  }
  if (!acks.empty()) {
    Status s = store_.ack(acks);
    if (!s.isOk()) {
      // The server has these readings; an expired lease re-sends them and
      // the conditional-create identifier absorbs the repeat.
      noteError(s);
      log::error("delivery", "recording deliveries failed", {{"error", s.kind()}});
    }
  }

  std::chrono::milliseconds next{0};
  if (anyHalt) {
    next = options_.haltPause;
  } else if (!retries.empty() && !anyDelivered) {
    next = destinationBackoff_.nextDelay(serverFloor);  // the destination is failing as a whole
  }
  if (anyDelivered) destinationBackoff_.reset();
  for (std::size_t i : retries) {
    const LeasedReading& l = (*leased)[i];
    std::chrono::milliseconds wait = next;
    if (anyDelivered && !anyHalt) {
      // Only some entries failed: each waits by its own attempt count.
      wait = fullJitter(options_.backoffBase, options_.backoffCap, l.attempts, random_);
      if (outcomes[i].serverDelay) wait = std::max<std::chrono::milliseconds>(wait, *outcomes[i].serverDelay);
    }
    Status s = store_.retryLater(l.reading.id, l.leaseId, outcomes[i].reason, now + wait);
    if (!s.isOk()) noteError(s);
  }

  std::lock_guard<std::mutex> lock(healthMutex_);
  health_.delivered += acks.size();
  health_.rejected += rejected;
  health_.retried += retries.size();
  health_.halted = anyHalt;
  if (anyDelivered) health_.lastDeliveryAt = now;
  if (!acks.empty() || rejected || !retries.empty()) {
    log::info("delivery", "batch done",
              {{"delivered", static_cast<std::uint64_t>(acks.size())}, {"rejected", rejected},
               {"retry", static_cast<std::uint64_t>(retries.size())}, {"wait_ms", static_cast<std::int64_t>(next.count())}});
  }
  return next;
}

}  // namespace rpm::engine
