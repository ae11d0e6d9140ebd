// The sd_notify protocol for real: a unix datagram socket as NOTIFY_SOCKET.
#include <catch2/catch.hpp>

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "systemd/SdNotifier.h"

namespace {

class NotifySocket {
 public:
  NotifySocket() {
    char dir[] = "/tmp/rpm-notify-XXXXXX";
    dir_ = ::mkdtemp(dir);
    path_ = dir_ + "/notify";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  // Next datagram; empty after a bounded wait.
  std::string next() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return "";
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  std::string dir_, path_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE("Lifecycle messages reach NOTIFY_SOCKET in the sd_notify format", "[unit][systemd]") {
  NotifySocket sock;
  rpm::SdNotifier n;
  n.ready();
  CHECK(sock.next() == "READY=1");
  n.status("backlog 3, last delivery ok\nsecond line");
  CHECK(sock.next() == "STATUS=backlog 3, last delivery ok second line");
  n.watchdog();
  CHECK(sock.next() == "WATCHDOG=1");
  n.reloading();
  CHECK(sock.next().rfind("RELOADING=1\nMONOTONIC_USEC=", 0) == 0);
  n.stopping();
  CHECK(sock.next() == "STOPPING=1");
}

TEST_CASE("The watchdog interval comes from WATCHDOG_USEC for this process only", "[unit][systemd]") {
  rpm::SdNotifier n;
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  CHECK(n.watchdogInterval() == std::chrono::microseconds(2000000));
  ::setenv("WATCHDOG_PID", "1", 1);  // meant for another process
  CHECK_FALSE(n.watchdogInterval());
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
  CHECK_FALSE(n.watchdogInterval());
}
