#include "gateway/engine/WorkerHeartbeats.h"

namespace rpm::engine {

void WorkerHeartbeats::add(const std::string& worker) {
  std::lock_guard<std::mutex> lock(mutex_);
  beatThisRound_[worker] = true;  // a new worker gets one round of grace
}

void WorkerHeartbeats::remove(const std::string& worker) {
  std::lock_guard<std::mutex> lock(mutex_);
  beatThisRound_.erase(worker);
  hung_.erase(worker);
}

void WorkerHeartbeats::beat(const std::string& worker) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (hung_[worker]) return;
  auto it = beatThisRound_.find(worker);
  if (it != beatThisRound_.end()) it->second = true;
}

void WorkerHeartbeats::busyUntil(const std::string& worker, std::chrono::steady_clock::time_point deadline) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (hung_[worker]) return;
  busyUntil_[worker] = deadline;
}

bool WorkerHeartbeats::allBeatSinceLastCheck(std::chrono::steady_clock::time_point now,
                                             std::vector<std::string>* silent) {
  std::lock_guard<std::mutex> lock(mutex_);
  bool all = true;
  for (auto& [name, beat] : beatThisRound_) {
    auto busy = busyUntil_.find(name);
    bool inBoundedOperation = busy != busyUntil_.end() && busy->second > now;
    if (!beat && !inBoundedOperation) {
      all = false;
      if (silent) silent->push_back(name);
    }
  }
  if (all) {
    for (auto& [name, beat] : beatThisRound_) beat = false;
  }
  return all;
}

void WorkerHeartbeats::hangForTest(const std::string& worker) {
  std::lock_guard<std::mutex> lock(mutex_);
  hung_[worker] = true;
  beatThisRound_[worker] = false;
  busyUntil_.erase(worker);
}

}  // namespace rpm::engine
