// The daemon's control socket: a unix stream socket in the runtime directory
// (mode 0660, so an admin group can use it) carrying one JSON request and one
// JSON response per connection, each a single line. Protocol version 1:
//   request  {"v":1,"cmd":"status","args":{...}}
//   response {"v":1,"ok":true,"result":{...}} or {"v":1,"ok":false,"error":"<what>"}
// Responses never carry measured values, patient ids or secrets unless the
// command is about them (devices list shows patient bindings to the admin).
//
// Streaming requests (a compatible v1 extension, used by `pair`):
//   request  {"v":1,"cmd":"pair","stream":true,"args":{...}}
//   events   zero or more lines {"v":1,"event":"<name>",...} while the command runs
//   prompt   an event with "prompt":<n> wants one reply line from the client:
//            {"v":1,"reply":<n>,"answer":"<text>"}; a bad answer gets the event
//            {"v":1,"event":"prompt_error","prompt":<n>,"error":"<what>"} and the prompt stays open
//   end      one ordinary response line {"v":1,"ok":...}; then the daemon closes the connection
// The final line is the only one with "ok", so a client reads lines until it
// sees it. A request without "stream" never gets events, so v1 clients are
// unaffected, and an older daemon answers a streaming request with its usual
// one-line error ("unknown command"). A client that closes the connection
// ends the command (pair: the window closes). Streams run on their own thread,
// so status and other commands are served meanwhile.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/model/Status.h"

namespace rpm::daemon {

inline constexpr int kControlProtocolVersion = 1;

// One accepted request with what the kernel says about its sender.
struct ControlRequest {
  std::string line;
  int passedFd = -1;  // a file descriptor sent with the request (SCM_RIGHTS); closed by the server afterwards
  uid_t peerUid = 0;
  gid_t peerGid = 0;
};

// Who may talk to the daemon (docs/threat-model.md): root, the daemon's own
// uid and members of the admin group (the peer's gid or one of the
// supplementary groups its process holds, SO_PEERGROUPS; getgrouplist of its
// user where the kernel cannot tell). The socket file is also chowned to the
// group and 0660, so others fail at connect(); the peer check is the second
// wall for a socket made world-accessible by mistake.
struct ControlAccess {
  std::optional<gid_t> adminGroup;
  bool skipPeerCheckForTest = false;  // the planted bug the access test must catch
  std::function<void()> onRefused;    // counts a refusal (metrics); called on the server thread
};

// The gid of a group name; kConfigInvalid when no such group exists.
Result<gid_t> groupIdOf(const std::string& name);

// One streaming exchange, owned by its thread in the server.
class ControlStream {
 public:
  ControlStream(int fd, const std::atomic<bool>& serverStopping) : fd_(fd), stopping_(serverStopping) {}
  // Sends one line (no newline inside); thread-safe; false once the client is gone.
  bool send(const std::string& line);
  // Waits up to timeoutMs for one line from the client; nullopt on timeout or
  // when the client closed the connection (then closed() is true).
  std::optional<std::string> receive(int timeoutMs);
  bool closed() const { return closed_.load() || stopping_.load(); }

 private:
  int fd_;
  const std::atomic<bool>& stopping_;
  std::mutex sendMutex_;
  std::atomic<bool> closed_{false};
  std::string pending_;
};

class ControlServer {
 public:
  // handler: request line (JSON text) -> response line (JSON text).
  using Handler = std::function<std::string(const std::string& request)>;
  // Streaming: events through the stream, returns the final response line.
  using StreamHandler = std::function<std::string(const std::string& request, ControlStream& stream)>;
  ControlServer(std::string socketPath, Handler handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Replaces the line handler with one that also sees the peer and a passed fd.
  using RequestHandler = std::function<std::string(const ControlRequest& request)>;
  void setRequestHandler(RequestHandler handler);
  // Before start().
  void setAccess(ControlAccess access);
  // Connections refused by the peer check since start.
  std::uint64_t refusedConnections() const { return refused_.load(); }
  // Requests for which isStream(request) is true go to handler on their own
  // thread. Call before start().
  void setStreamHandler(std::function<bool(const std::string&)> isStream, StreamHandler handler);

  // Binds (replacing a stale socket file) and starts serving on a thread.
  Status start();
  void stop();

 private:
  void serve();
  bool peerAllowed(int client, uid_t uid, gid_t gid) const;
  std::string path_;
  Handler handler_;
  RequestHandler requestHandler_;
  ControlAccess access_;
  std::atomic<std::uint64_t> refused_{0};
  int listenFd_ = -1;
  int stopPipe_[2] = {-1, -1};
  std::thread thread_;
  std::function<bool(const std::string&)> isStream_;
  StreamHandler streamHandler_;
  std::atomic<bool> stopping_{false};
  std::mutex streamsMutex_;
  std::vector<std::thread> streams_;
};

// Sends one request and returns the response line. kUnavailable when no
// daemon listens at the path; kTimeout after timeoutMs.
Result<std::string> controlRequest(const std::string& socketPath, const std::string& request, int timeoutMs);

// The same, passing an open file descriptor along with the request.
Result<std::string> controlRequestWithFd(const std::string& socketPath, const std::string& request, int fd,
                                         int timeoutMs);
// Sends a streaming request; onEvent gets each event line and may return a
// reply line to send. Returns the final response line. kTimeout when nothing
// arrives for idleTimeoutMs.
Result<std::string> controlStreamRequest(const std::string& socketPath, const std::string& request,
                                         const std::function<std::optional<std::string>(const std::string& event)>& onEvent,
                                         int idleTimeoutMs);

}  // namespace rpm::daemon
