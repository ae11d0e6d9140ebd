#include "gateway/daemon/ControlSocket.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

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

// Reads until a newline, EOF, the size cap or the deadline. passedFd, when
// given, receives the first file descriptor sent along (SCM_RIGHTS); any
// further ones are closed.
bool readLine(int fd, std::string& out, int timeoutMs, int* passedFd = nullptr) {
  char buf[4096];
  while (out.find('\n') == std::string::npos && out.size() < kMaxMessage) {
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, timeoutMs);
    if (r <= 0) return false;
    iovec iov{buf, sizeof buf};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int received;
        std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (passedFd && *passedFd < 0) {
          *passedFd = received;
        } else {
          ::close(received);
        }
      }
    }
    if (n == 0) break;
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

Result<gid_t> groupIdOf(const std::string& name) {
  std::vector<char> buf(16384);
  group g{};
  group* found = nullptr;
  int rc = ::getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found);
  if (rc != 0 || !found) return Status(ErrorKind::kConfigInvalid, "control.admin_group: no group named '" + name + "'");
  return found->gr_gid;
}

void ControlServer::setRequestHandler(RequestHandler handler) { requestHandler_ = std::move(handler); }

void ControlServer::setAccess(ControlAccess access) { access_ = access; }

bool ControlServer::peerAllowed(int client, uid_t uid, gid_t gid) const {
  if (access_.skipPeerCheckForTest) return true;
  if (uid == 0 || uid == ::geteuid()) return true;
  if (!access_.adminGroup) return false;
  gid_t admin = *access_.adminGroup;
  if (gid == admin) return true;
  // The groups the peer process holds right now, as the kernel checks them for files.
  std::vector<gid_t> groups(64);
  socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  int rc = ::getsockopt(client, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len);
  if (rc != 0 && errno == ERANGE) {
    groups.resize(len / sizeof(gid_t) + 1);
    len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    rc = ::getsockopt(client, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len);
  }
  if (rc == 0) {
    groups.resize(len / sizeof(gid_t));
    return std::find(groups.begin(), groups.end(), admin) != groups.end();
  }
  // A kernel without SO_PEERGROUPS: the user's groups from the group database.
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return false;
  int count = 64;
  groups.assign(static_cast<std::size_t>(count), 0);
  if (::getgrouplist(found->pw_name, gid, groups.data(), &count) < 0) {
    groups.assign(static_cast<std::size_t>(count), 0);
    if (::getgrouplist(found->pw_name, gid, groups.data(), &count) < 0) return false;
  }
  groups.resize(static_cast<std::size_t>(count));
  return std::find(groups.begin(), groups.end(), admin) != groups.end();
}

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
  if (access_.adminGroup && ::chown(path_.c_str(), static_cast<uid_t>(-1), *access_.adminGroup) != 0) {
    int e = errno;
    ::close(listenFd_);
    listenFd_ = -1;
    ::unlink(path_.c_str());
    return Status(ErrorKind::kForbidden, std::string("control socket: cannot give it to control.admin_group (") +
                                             std::strerror(e) + "): the service user must be a member of the group");
  }
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
    ucred peer{};
    socklen_t len = sizeof peer;
    if (::getsockopt(client, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 || !peerAllowed(client, peer.uid, peer.gid)) {
      refused_.fetch_add(1);
      if (access_.onRefused) access_.onRefused();
      // Read (and drop) the request first: closing a unix socket with unread
      // data resets the connection, and the client would miss the refusal.
      std::string ignored;
      (void)readLine(client, ignored, 1000);
      log::warning("control", "connection refused: not root, the gateway's user or in control.admin_group",
                   {{"uid", static_cast<std::uint64_t>(peer.uid)}});
      writeAll(client, std::string("{\"v\":") + std::to_string(kControlProtocolVersion) +
                           ",\"ok\":false,\"error\":\"permission denied: only root, the gateway's user and members "
                           "of control.admin_group may use the control socket\"}\n");
      ::close(client);
      continue;
    }
    ControlRequest request;
    request.peerUid = peer.uid;
    request.peerGid = peer.gid;
    const bool complete = readLine(client, request.line, 5000, &request.passedFd);
    if (complete && isStream_ && isStream_(request.line)) {
      if (request.passedFd >= 0) ::close(request.passedFd);  // streams take no files
      std::lock_guard<std::mutex> lock(streamsMutex_);
      streams_.emplace_back([this, client, line = request.line] {
        ControlStream stream(client, stopping_);
        std::string response = streamHandler_(line, stream);
        stream.send(response);
        ::close(client);
      });
      continue;
    }
    if (complete) {
      std::string response = requestHandler_ ? requestHandler_(request) : handler_(request.line);
      writeAll(client, response + "\n");
    }
    if (request.passedFd >= 0) ::close(request.passedFd);
    ::close(client);
  }
}

Result<std::string> controlRequest(const std::string& socketPath, const std::string& request, int timeoutMs) {
  return controlRequestWithFd(socketPath, request, -1, timeoutMs);
}

Result<std::string> controlRequestWithFd(const std::string& socketPath, const std::string& request, int passFd,
                                         int timeoutMs) {
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
  std::string line = request + "\n";
  std::size_t sent = 0;
  if (passFd >= 0) {
    // The descriptor rides on the first byte of the request.
    iovec iov{line.data(), 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &passFd, sizeof(int));
    ssize_t n;
    do {
      n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != 1) {
      ::close(fd);
      return Status(ErrorKind::kIo, "cannot pass the file to the gateway daemon");
    }
    sent = 1;
  }
  std::string response;
  bool ok = writeAll(fd, line.substr(sent)) && readLine(fd, response, timeoutMs);
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
