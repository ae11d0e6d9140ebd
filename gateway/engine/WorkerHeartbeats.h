// WorkerHeartbeats: the watchdog's view of the workers. Each worker beats
// when it made progress or sits in a healthy idle state; the watchdog pings
// systemd only if every worker beat since the last ping, so one hung thread
// stops the pings and systemd restarts the service.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>


namespace rpm::engine {

class WorkerHeartbeats {
 public:
  // Registers a worker (before the first check).
  void add(const std::string& worker);
  void remove(const std::string& worker);
  // The worker is alive.
  void beat(const std::string& worker);
  // The worker starts an operation bounded by a deadline (an HTTP request
  // with a timeout): it counts as alive until then.
  void busyUntil(const std::string& worker, std::chrono::steady_clock::time_point deadline);
  // True when every worker beat since the previous successful check (or is
  // inside a bounded operation at `now`); then starts a new round. Workers
  // that did not are returned in `silent`.
  bool allBeatSinceLastCheck(std::chrono::steady_clock::time_point now, std::vector<std::string>* silent = nullptr);
  // Test-only fault switch: the worker's beats are ignored, as if it hung.
  void hangForTest(const std::string& worker);

 private:
  std::mutex mutex_;
  std::map<std::string, bool> beatThisRound_;
  std::map<std::string, bool> hung_;
  std::map<std::string, std::chrono::steady_clock::time_point> busyUntil_;
};

}  // namespace rpm::engine
