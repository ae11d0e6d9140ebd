// WorkerHeartbeats: the watchdog's view of the workers. Each worker beats
// when it made progress or sits in a healthy idle state; the watchdog pings
// systemd only if every worker beat since the last ping, so one hung thread
// stops the pings and systemd restarts the service.
#pragma once

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
  // True when every worker beat since the previous successful check; then
  // starts a new round. Workers that did not beat are returned in `silent`.
  bool allBeatSinceLastCheck(std::vector<std::string>* silent = nullptr);
  // Test-only fault switch: the worker's beats are ignored, as if it hung.
  void hangForTest(const std::string& worker);

 private:
  std::mutex mutex_;
  std::map<std::string, bool> beatThisRound_;
  std::map<std::string, bool> hung_;
};

}  // namespace rpm::engine
