#include "BusFixture.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <sdbus-c++/sdbus-c++.h>

extern char** environ;

namespace rpm::test {
namespace {

pid_t spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("cannot start " + args[0]);
  }
  return pid;
}

void stopProcess(pid_t& pid, int sig) {
  if (pid <= 0) return;
  ::kill(pid, sig);
  int status = 0;
  ::waitpid(pid, &status, 0);
  pid = -1;
}

}  // namespace

bool waitForName(const std::string& address, const std::string& name, bool owned, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  try {
    auto connection = sdbus::createSystemBusConnection();
    auto proxy = sdbus::createProxy(*connection, "org.freedesktop.DBus", "/org/freedesktop/DBus");
    (void)address;
    while (std::chrono::steady_clock::now() < deadline) {
      bool has = false;
      proxy->callMethod("NameHasOwner").onInterface("org.freedesktop.DBus").withArguments(name).storeResultsTo(has);
      if (has == owned) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval of a bounded readiness wait
    }
  } catch (const sdbus::Error&) {
    return false;
  }
  return false;
}

PrivateBus::PrivateBus() {
  char tmpl[] = "/tmp/rpm-bus-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
  dir_ = tmpl;
  start();
}

void PrivateBus::restart() {
  stopProcess(pid_, SIGKILL);
  std::remove((dir_ + "/bus").c_str());
  start();
}

void PrivateBus::start() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  // The write end must survive exec: dbus-daemon prints its address there.
  int writeFd = fcntl(fds[1], F_DUPFD, 10);
  close(fds[1]);
  pid_ = spawn({"/usr/bin/dbus-daemon", "--session", "--nofork", "--nopidfile",
                "--print-address=" + std::to_string(writeFd), "--address=unix:path=" + dir_ + "/bus"});
  close(writeFd);
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    struct pollfd p {fds[0], POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  if (line.find('\n') == std::string::npos) {
    stopProcess(pid_, SIGKILL);
    throw std::runtime_error("dbus-daemon did not print its address");
  }
  address_ = line.substr(0, line.find('\n'));
  setenv("DBUS_SYSTEM_BUS_ADDRESS", address_.c_str(), 1);
}

PrivateBus::~PrivateBus() {
  stopProcess(pid_, SIGTERM);
  std::remove((dir_ + "/bus").c_str());
  std::remove((dir_ + "/scenario.json").c_str());
  rmdir(dir_.c_str());
}

void PrivateBus::kill() { stopProcess(pid_, SIGKILL); }

Emulator::Emulator(const PrivateBus& bus, const nlohmann::json& scenario) {
  std::string file = bus.dir() + "/scenario.json";
  std::ofstream(file) << scenario.dump(2);
  pid_ = spawn({RPM_BLUEZ_EMULATOR, file});
  if (!waitForName(bus.address(), "org.bluez", true, std::chrono::seconds(10))) {
    stopProcess(pid_, SIGKILL);
    throw std::runtime_error("bluez-emulator did not own org.bluez");
  }
  connection_ = sdbus::createSystemBusConnection();
  control_ = sdbus::createProxy(*connection_, "org.bluez", "/org/rpmgateway/emulator");
}

Emulator::~Emulator() {
  control_.reset();
  connection_.reset();
  stopProcess(pid_, SIGTERM);
}

void Emulator::kill() { stopProcess(pid_, SIGKILL); }

constexpr const char* kControl = "org.rpmgateway.Emulator1";

void Emulator::setAdvertising(const std::string& address, bool on) {
  control_->callMethod("SetAdvertising").onInterface(kControl).withArguments(address, on);
}
void Emulator::injectError(const std::string& target, const std::string& method, const std::string& errorName,
                           const std::string& message, std::uint32_t count) {
  control_->callMethod("InjectError").onInterface(kControl).withArguments(target, method, errorName, message, count);
}
void Emulator::setResponseDelay(const std::string& address, std::uint32_t ms) {
  control_->callMethod("SetResponseDelay").onInterface(kControl).withArguments(address, ms);
}
void Emulator::setDisconnectAfterRecords(const std::string& address, std::int32_t n) {
  control_->callMethod("SetDisconnectAfterRecords").onInterface(kControl).withArguments(address, n);
}
void Emulator::sendValue(const std::string& address, const std::string& charUuid, const std::vector<std::uint8_t>& value) {
  control_->callMethod("SendValue").onInterface(kControl).withArguments(address, charUuid, value);
}
void Emulator::setStreaming(const std::string& address, bool on) {
  control_->callMethod("SetStreaming").onInterface(kControl).withArguments(address, on);
}
void Emulator::addGlucoseRecords(const std::string& address, const nlohmann::json& records) {
  control_->callMethod("AddGlucoseRecords").onInterface(kControl).withArguments(address, records.dump());
}
void Emulator::setGlucoseRecords(const std::string& address, const nlohmann::json& records) {
  control_->callMethod("SetGlucoseRecords").onInterface(kControl).withArguments(address, records.dump());
}
std::map<std::string, std::uint32_t> Emulator::counters(const std::string& address) {
  std::map<std::string, std::uint32_t> out;
  control_->callMethod("GetCounters").onInterface(kControl).withArguments(address).storeResultsTo(out);
  return out;
}

}  // namespace rpm::test
