#include "gateway/daemon/ControlSocket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "gateway/log/Log.h"

namespace rpm::daemon {
namespace {

constexpr std::size_t kMaxMessage = 1 << 20;

bool fillAddress(const std::string& path, sockaddr_un& addr) {
  if (path.size() >= sizeof(addr.sun_path)) return false;
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return true;
}

// Reads until a newline, EOF, the size cap or the deadline.
bool readLine(int fd, std::string& out, int timeoutMs) {
  char buf[4096];
  while (out.find('\n') == std::string::npos && out.size() < kMaxMessage) {
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, timeoutMs);
    if (r <= 0) return false;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  auto nl = out.find('\n');
  if (nl != std::string::npos) out.resize(nl);
  return !out.empty();
}

bool writeAll(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

bool ControlStream::send(const std::string& line) {
  std::lock_guard<std::mutex> lock(sendMutex_);
  if (closed_.load()) return false;
  if (!writeAll(fd_, line + "\n")) {
    closed_.store(true);
    return false;
  }
  return true;
}

std::optional<std::string> ControlStream::receive(int timeoutMs) {
  auto takeLine = [this]() -> std::optional<std::string> {
    auto nl = pending_.find('\n');
    if (nl == std::string::npos) return std::nullopt;
    std::string line = pending_.substr(0, nl);
    pending_.erase(0, nl + 1);
    return line;
  };
  if (auto line = takeLine()) return line;
  if (closed()) return std::nullopt;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, timeoutMs) <= 0) return std::nullopt;
  char buf[4096];
  ssize_t n = ::read(fd_, buf, sizeof buf);
  if (n <= 0) {
    if (n < 0 && errno == EINTR) return std::nullopt;
    closed_.store(true);  // the client went away
    return std::nullopt;
  }
  pending_.append(buf, static_cast<std::size_t>(n));
  if (pending_.size() > kMaxMessage) {
    closed_.store(true);
    return std::nullopt;
  }
  return takeLine();
}

void ControlServer::setStreamHandler(std::function<bool(const std::string&)> isStream, StreamHandler handler) {
  isStream_ = std::move(isStream);
  streamHandler_ = std::move(handler);
}

ControlServer::ControlServer(std::string socketPath, Handler handler)
    : path_(std::move(socketPath)), handler_(std::move(handler)) {}

ControlServer::~ControlServer() { stop(); }

Status ControlServer::start() {
  sockaddr_un addr{};
  if (!fillAddress(path_, addr)) return Status(ErrorKind::kConfigInvalid, "control socket path too long");
  listenFd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listenFd_ < 0) return Status(ErrorKind::kIo, "control socket: cannot create a socket");
  ::unlink(path_.c_str());  // a stale socket of a crashed daemon
  mode_t old = ::umask(0117);
  int rc = ::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0 || ::listen(listenFd_, 16) != 0) {
    ::close(listenFd_);
    listenFd_ = -1;
    return Status(ErrorKind::kIo, std::string("control socket: cannot listen: ") + std::strerror(errno));
  }
  ::chmod(path_.c_str(), 0660);
  if (::pipe2(stopPipe_, O_CLOEXEC) != 0) return Status(ErrorKind::kIo, "control socket: cannot create a pipe");
  thread_ = std::thread([this] { serve(); });
  return Status::ok();
}

void ControlServer::stop() {
  stopping_.store(true);
  if (thread_.joinable()) {
    char c = 'x';
    (void)!::write(stopPipe_[1], &c, 1);
    thread_.join();
  }
  std::vector<std::thread> streams;
  {
    std::lock_guard<std::mutex> lock(streamsMutex_);
    streams.swap(streams_);
  }
  for (auto& t : streams) t.join();
  for (int* fd : {&listenFd_, &stopPipe_[0], &stopPipe_[1]}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  ::unlink(path_.c_str());
}

void ControlServer::serve() {
  for (;;) {
    pollfd fds[2] = {{listenFd_, POLLIN, 0}, {stopPipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int client = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    std::string request;
    const bool complete = readLine(client, request, 5000);
    if (complete && isStream_ && isStream_(request)) {
      std::lock_guard<std::mutex> lock(streamsMutex_);
      streams_.emplace_back([this, client, request] {
        ControlStream stream(client, stopping_);
        std::string response = streamHandler_(request, stream);
        stream.send(response);
        ::close(client);
      });
      continue;
    }
    if (complete) {
      std::string response = handler_(request);
      writeAll(client, response + "\n");
    }
    ::close(client);
  }
}

Result<std::string> controlRequest(const std::string& socketPath, const std::string& request, int timeoutMs) {
  sockaddr_un addr{};
  if (!fillAddress(socketPath, addr)) return Status(ErrorKind::kInvalidArgument, "control socket path too long");
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status(ErrorKind::kIo, "cannot create a socket");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    if (e == EACCES) return Status(ErrorKind::kForbidden, "permission denied on the control socket " + socketPath);
    return Status(ErrorKind::kUnavailable, "the gateway daemon is not running (no control socket at " + socketPath + ")");
  }
  std::string response;
  bool ok = writeAll(fd, request + "\n") && readLine(fd, response, timeoutMs);
  ::close(fd);
  if (!ok) return Status(ErrorKind::kTimeout, "the gateway daemon did not answer on " + socketPath);
  return response;
}

Result<std::string> controlStreamRequest(const std::string& socketPath, const std::string& request,
                                         const std::function<std::optional<std::string>(const std::string& event)>& onEvent,
                                         int idleTimeoutMs) {
  sockaddr_un addr{};
  if (!fillAddress(socketPath, addr)) return Status(ErrorKind::kInvalidArgument, "control socket path too long");
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status(ErrorKind::kIo, "cannot create a socket");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    if (e == EACCES) return Status(ErrorKind::kForbidden, "permission denied on the control socket " + socketPath);
    return Status(ErrorKind::kUnavailable, "the gateway daemon is not running (no control socket at " + socketPath + ")");
  }
  if (!writeAll(fd, request + "\n")) {
    ::close(fd);
    return Status(ErrorKind::kIo, "cannot send to " + socketPath);
  }
  std::atomic<bool> never{false};
  ControlStream stream(fd, never);
  for (;;) {
    auto line = stream.receive(idleTimeoutMs);
    if (!line) {
      ::close(fd);
      if (stream.closed()) return Status(ErrorKind::kUnavailable, "the gateway daemon closed the connection");
      return Status(ErrorKind::kTimeout, "the gateway daemon did not answer on " + socketPath);
    }
    // The final response is the only line with "ok" (see the header).
    if (line->find("\"ok\":") != std::string::npos && line->find("\"event\":") == std::string::npos) {
      ::close(fd);
      return *line;
    }
    if (auto reply = onEvent(*line)) stream.send(*reply);
  }
}

}  // namespace rpm::daemon
