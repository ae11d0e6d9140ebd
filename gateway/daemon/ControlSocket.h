// The daemon's control socket: a unix stream socket in the runtime directory
// (mode 0660, so an admin group can use it) carrying one JSON request and one
// JSON response per connection, each a single line. Protocol version 1:
//   request  {"v":1,"cmd":"status","args":{...}}
//   response {"v":1,"ok":true,"result":{...}} or {"v":1,"ok":false,"error":"<what>"}
// Responses never carry measured values, patient ids or secrets unless the
// command is about them (devices list shows patient bindings to the admin).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "gateway/model/Status.h"

namespace rpm::daemon {

inline constexpr int kControlProtocolVersion = 1;

class ControlServer {
 public:
  // handler: request line (JSON text) -> response line (JSON text).
  using Handler = std::function<std::string(const std::string& request)>;
  ControlServer(std::string socketPath, Handler handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds (replacing a stale socket file) and starts serving on a thread.
  Status start();
  void stop();

 private:
  void serve();
  std::string path_;
  Handler handler_;
  int listenFd_ = -1;
  int stopPipe_[2] = {-1, -1};
  std::thread thread_;
};

// Sends one request and returns the response line. kUnavailable when no
// daemon listens at the path; kTimeout after timeoutMs.
Result<std::string> controlRequest(const std::string& socketPath, const std::string& request, int timeoutMs);

}  // namespace rpm::daemon
