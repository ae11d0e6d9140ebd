// Pairing: the emulator's Pair() with agents as bluetoothd 5.66 does it
// (bluez-dbus-api.md §3.1, §5), the gateway's own Agent1, and the enrolment
// window over the real BlueZ client, the emulator and a real SQLite buffer.
// Waits are bounded and wait on events (agent calls, enrolment events,
// properties), never on fixed sleeps.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <sdbus-c++/sdbus-c++.h>

#include "BusFixture.h"
#include "buffer/SqliteBuffer.h"
#include "drivers/ble_enrolment/EnrolmentWindow.h"
#include "drivers/bluez/BluezClient.h"
#include "gateway/identity/Identifiers.h"
#include "tests/support/FakeClock.h"

using namespace std::chrono_literals;
using nlohmann::json;

namespace rpm {
namespace {

constexpr const char* kAgentIface = "org.bluez.Agent1";
constexpr const char* kAgentManager = "org.bluez.AgentManager1";
const std::string kCuff = "C0:11:22:33:55:01";       // shows a passkey; insists on MITM protection
const std::string kMeter = "C0:11:22:33:55:02";      // DisplayYesNo: numeric comparison with a DisplayYesNo agent
const std::string kScale = "C0:11:22:33:55:03";      // NoInputNoOutput: Just Works
const std::string kTaken = "C0:11:22:33:55:04";      // bonded to another host: refuses SMP
const std::string kBonded = "C0:11:22:33:55:05";     // bonded to the hub at start
const std::string kPatient = "Patient/pt-pairing-1";

json scenario(const std::string& plantedBug = "") {
  json s = {
      {"timing", {{"disconnect_delay_ms", 20}, {"agent_timeout_ms", 400}}},
      {"devices",
       json::array({
           {{"address", kCuff}, {"kind", "bp_cuff"}, {"pairing", {{"io", "DisplayOnly"}, {"passkey", 123456}, {"mitm", true}}}},
           {{"address", kMeter}, {"kind", "glucose_meter"}, {"pairing", {{"io", "DisplayYesNo"}, {"passkey", 654321}, {"mitm", true}}}},
           {{"address", kScale}, {"kind", "generic"}, {"advertised_uuids", {"181d"}}},
           {{"address", kTaken}, {"kind", "bp_cuff"}, {"pairing", {{"bonded_elsewhere", "rejects_pairing"}}}},
           {{"address", kBonded}, {"kind", "glucose_meter"}, {"paired", true}, {"bonded", true}, {"advertising", true}},
       })}};
  if (!plantedBug.empty()) s["plant_bug_for_test"] = plantedBug;
  return s;
}

std::string pathOf(const std::string& address) {
  std::string p = address;
  for (auto& c : p) c = c == ':' ? '_' : c;
  return "/org/bluez/hci0/dev_" + p;
}

struct AgentCall {
  std::string method, address, argument, outcome;
};

// Control calls this file needs beyond BusFixture (Agents.cpp members).
struct EmulatorControl {
  std::unique_ptr<sdbus::IConnection> connection = sdbus::createSystemBusConnection();
  std::unique_ptr<sdbus::IProxy> control = sdbus::createProxy(*connection, "org.bluez", "/org/rpmgateway/emulator");

  std::vector<AgentCall> agentCalls() {
    std::vector<sdbus::Struct<std::string, std::string, std::string, std::string>> raw;
    control->callMethod("GetAgentCalls").onInterface("org.rpmgateway.Emulator1").storeResultsTo(raw);
    std::vector<AgentCall> out;
    for (const auto& r : raw) out.push_back({std::get<0>(r), std::get<1>(r), std::get<2>(r), std::get<3>(r)});
    return out;
  }
  std::vector<sdbus::Struct<std::string, std::string, bool>> agents() {
    std::vector<sdbus::Struct<std::string, std::string, bool>> raw;
    control->callMethod("GetAgents").onInterface("org.rpmgateway.Emulator1").storeResultsTo(raw);
    return raw;
  }
  bool deviceBool(const std::string& address, const std::string& property) {
    auto proxy = sdbus::createProxy(*connection, "org.bluez", pathOf(address));
    return proxy->getProperty(property).onInterface("org.bluez.Device1").get<bool>();
  }
  bool adapterPairable() {
    auto proxy = sdbus::createProxy(*connection, "org.bluez", "/org/bluez/hci0");
    return proxy->getProperty("Pairable").onInterface("org.bluez.Adapter1").get<bool>();
  }
  std::string deviceCall(const std::string& address, const std::string& method) {
    auto proxy = sdbus::createProxy(*connection, "org.bluez", pathOf(address));
    try {
      proxy->callMethod(method).onInterface("org.bluez.Device1").withTimeout(10s);
      return "ok";
    } catch (const sdbus::Error& e) {
      return e.getName();
    }
  }
};

// A stand-in for another agent program (bluetoothctl-like), on its own connection.
class TestAgent {
 public:
  enum class Mode { kAccept, kRefuse, kNeverAnswer };
  TestAgent(const std::string& capability, Mode mode, std::uint32_t passkey = 0) : mode_(mode), passkey_(passkey) {
    object_ = sdbus::createObject(*connection_, "/test/agent");
    object_->registerMethod("RequestConfirmation")
        .onInterface(kAgentIface)
        .implementedAs([this](sdbus::Result<>&& result, sdbus::ObjectPath, std::uint32_t) {
          note("RequestConfirmation");
          if (mode_ == Mode::kNeverAnswer) {
            held_.push_back(std::make_shared<sdbus::Result<>>(std::move(result)));
          } else if (mode_ == Mode::kAccept) {
            result.returnResults();
          } else {
            result.returnError(sdbus::Error("org.bluez.Error.Rejected", "Rejected"));
          }
        });
    object_->registerMethod("RequestPasskey").onInterface(kAgentIface).implementedAs([this](sdbus::ObjectPath) {
      note("RequestPasskey");
      if (mode_ != Mode::kAccept) throw sdbus::Error("org.bluez.Error.Rejected", "Rejected");
      return passkey_;
    });
    object_->registerMethod("Cancel").onInterface(kAgentIface).implementedAs([this] { note("Cancel"); });
    object_->registerMethod("Release").onInterface(kAgentIface).implementedAs([this] { note("Release"); });
    object_->finishRegistration();
    connection_->enterEventLoopAsync();
    auto manager = sdbus::createProxy(*connection_, "org.bluez", "/org/bluez");
    manager->callMethod("RegisterAgent").onInterface(kAgentManager).withArguments(sdbus::ObjectPath("/test/agent"), capability);
    manager->callMethod("RequestDefaultAgent").onInterface(kAgentManager).withArguments(sdbus::ObjectPath("/test/agent"));
  }
  ~TestAgent() { connection_->leaveEventLoop(); }

  bool waitFor(const std::string& method, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return std::count(calls_.begin(), calls_.end(), method) > 0; });
  }
  int count(const std::string& method) {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int>(std::count(calls_.begin(), calls_.end(), method));
  }

 private:
  void note(const std::string& method) {
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.push_back(method);
    cv_.notify_all();
  }
  Mode mode_;
  std::uint32_t passkey_;
  std::unique_ptr<sdbus::IConnection> connection_ = sdbus::createSystemBusConnection();
  std::unique_ptr<sdbus::IObject> object_;
  std::vector<std::shared_ptr<sdbus::Result<>>> held_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> calls_;
};

// The gateway side: the real BlueZ client and a real buffer.
struct Gateway {
  test::FakeClock clock;
  DeviceAliaser aliaser{std::vector<std::uint8_t>{4, 2}};
  std::unique_ptr<buffer::SqliteBuffer> buffer;
  std::shared_ptr<bluez::BluezClient> client;

  explicit Gateway(const test::PrivateBus& bus) {
    buffer::BufferOptions o;
    o.path = bus.dir() + "/buffer.db";
    buffer = std::move(buffer::SqliteBuffer::open(o, clock)).value();
    auto c = bluez::BluezClient::connectSystemBus({}, clock);
    REQUIRE(c.isOk());
    client = *c;
    REQUIRE(client->waitReady(5s).isOk());
  }
  // Makes an advertising device known (unpaired devices appear only during discovery, §2.3).
  void discover(const std::string& address) {
    REQUIRE(client->adapter()->startDiscovery({}).isOk());
    REQUIRE(client->adapter()->waitForDevice(address, 5s).isOk());
  }
  ble::DeviceSnapshot snapshot(const std::string& address) {
    return (*client->adapter()->device(address))->snapshot();
  }
  std::string alias(const std::string& address) { return aliaser.aliasFor(*DeviceKey::bluetooth(address)).text(); }
  std::vector<Enrolment> enrolments() { return buffer->listEnrolments().value(); }
};

// Collects window events; answers prompts with `answer` (empty: never).
struct EventLog {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<ble::EnrolmentEvent> events;
  std::string answer;
  ble::EnrolmentWindow* window = nullptr;
  std::uint64_t windowId = 0;

  ble::EnrolmentEventSink sink() {
    return [this](const ble::EnrolmentEvent& e) {
      if (e.kind == ble::EnrolmentEvent::Kind::kPasskeyNeeded && !answer.empty()) {
        std::uint64_t id = 0;
        {
          std::unique_lock<std::mutex> lock(mutex);
          cv.wait_for(lock, 5s, [&] { return windowId != 0; });
          id = windowId;
        }
        CHECK(window->answerPrompt(id, e.promptId, answer).isOk());
      }
      std::lock_guard<std::mutex> lock(mutex);
      events.push_back(e);
      cv.notify_all();
    };
  }
  void opened(std::uint64_t id) {
    std::lock_guard<std::mutex> lock(mutex);
    windowId = id;
    cv.notify_all();
  }
  bool waitFor(ble::EnrolmentEvent::Kind kind, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mutex);
    return cv.wait_for(lock, timeout, [&] {
      return std::any_of(events.begin(), events.end(), [&](const auto& e) { return e.kind == kind; });
    });
  }
  // Devices are found in any order: wait for this device's event.
  bool waitFor(ble::EnrolmentEvent::Kind kind, const std::string& alias, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mutex);
    return cv.wait_for(lock, timeout, [&] {
      return std::any_of(events.begin(), events.end(), [&](const auto& e) { return e.kind == kind && e.alias == alias; });
    });
  }
  std::optional<ble::EnrolmentEvent> first(ble::EnrolmentEvent::Kind kind) {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& e : events) {
      if (e.kind == kind) return e;
    }
    return std::nullopt;
  }
};

ble::EnrolmentOptions fastEnrolment() {
  ble::EnrolmentOptions o;
  o.tick = 20ms;
  o.rebondInterval = std::chrono::hours(1);  // passes run only when a test asks
  return o;
}

}  // namespace

// ------------------------------------------------------------ emulator fidelity

TEST_CASE("Pair asks a DisplayYesNo default agent to confirm and bonds when it confirms", "[integration][pairing]") {
  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario());
  Gateway gw(bus);
  EmulatorControl control;
  CHECK_FALSE(control.adapterPairable());  // no default agent yet, AlwaysPairable=false (§5.3)
  TestAgent agent("DisplayYesNo", TestAgent::Mode::kAccept);
  CHECK(control.adapterPairable());
  gw.discover(kMeter);
  CHECK(gw.client->bonding()->pair(kMeter).isOk());
  CHECK(agent.count("RequestConfirmation") == 1);
  auto calls = control.agentCalls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].method == "RequestConfirmation");
  CHECK(calls[0].argument == "654321");
  CHECK(control.deviceBool(kMeter, "Paired"));
  CHECK(control.deviceBool(kMeter, "Bonded"));
}

TEST_CASE("A refusing agent makes Pair fail AuthenticationFailed and the link drop", "[integration][pairing]") {
  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario());
  Gateway gw(bus);
  EmulatorControl control;
  TestAgent agent("DisplayYesNo", TestAgent::Mode::kRefuse);
  gw.discover(kMeter);
  auto s = gw.client->bonding()->pair(kMeter);
  CHECK(s.kind() == ErrorKind::kUnauthorized);
  CHECK(s.message().find("org.bluez.Error.AuthenticationFailed") != std::string::npos);
  CHECK_FALSE(control.deviceBool(kMeter, "Paired"));
  CHECK_FALSE(control.deviceBool(kMeter, "Connected"));
}

TEST_CASE("A KeyboardOnly agent is asked for the passkey a display-only cuff shows; a wrong key fails",
          "[integration][pairing]") {
  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario());
  Gateway gw(bus);
  gw.discover(kCuff);
  {
    TestAgent wrong("KeyboardOnly", TestAgent::Mode::kAccept, 111111);
    CHECK(gw.client->bonding()->pair(kCuff).kind() == ErrorKind::kUnauthorized);
    CHECK(wrong.count("RequestPasskey") == 1);
  }
  gw.discover(kCuff);
  TestAgent right("KeyboardOnly", TestAgent::Mode::kAccept, 123456);
  CHECK(gw.client->bonding()->pair(kCuff).isOk());
  CHECK(right.count("RequestPasskey") == 1);
  CHECK(right.count("RequestConfirmation") == 0);
}

TEST_CASE("Without any agent Pair is Just Works: paired but not bonded, and the pairing is gone after disconnect",
          "[integration][pairing]") {
  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario());
  Gateway gw(bus);
  EmulatorControl control;
  gw.discover(kScale);
  REQUIRE(gw.client->bonding()->pair(kScale).isOk());
  CHECK(control.agentCalls().empty());  // Just Works calls no agent method (§5.2)
  CHECK(control.deviceBool(kScale, "Paired"));
  CHECK_FALSE(control.deviceBool(kScale, "Bonded"));  // not bondable without a default agent
  REQUIRE((*gw.client->adapter()->device(kScale))->disconnect().isOk());
  CHECK_FALSE(control.deviceBool(kScale, "Paired"));
  // A device that insists on MITM protection cannot pair Just Works at all.
  gw.discover(kCuff);
  CHECK(gw.client->bonding()->pair(kCuff).kind() == ErrorKind::kUnauthorized);
}

TEST_CASE("An agent that never answers is cancelled at the agent timeout and Pair fails", "[integration][pairing]") {
  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario());  // agent_timeout_ms 400 instead of bluetoothd's 60 s
  Gateway gw(bus);
  TestAgent agent("DisplayYesNo", TestAgent::Mode::kNeverAnswer);
  gw.discover(kMeter);
  CHECK(gw.client->bonding()->pair(kMeter).kind() == ErrorKind::kUnauthorized);
  CHECK(agent.waitFor("Cancel"));
  CHECK(agent.count("Release") == 0);  // Release only at bluetoothd shutdown
}

TEST_CASE("Registered agents get Release when bluetoothd shuts down", "[integration][pairing]") {
  test::PrivateBus bus;
  auto emulator = std::make_unique<test::Emulator>(bus, scenario());
  TestAgent agent("KeyboardOnly", TestAgent::Mode::kAccept);
  emulator.reset();  // SIGTERM
  CHECK(agent.waitFor("Release"));
}

TEST_CASE("A device bonded to another host refuses Pair with AuthenticationFailed before any agent call",
          "[integration][pairing]") {
  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario());
  Gateway gw(bus);
  EmulatorControl control;
  TestAgent agent("KeyboardOnly", TestAgent::Mode::kAccept);
  gw.discover(kTaken);
  auto s = gw.client->bonding()->pair(kTaken);
  CHECK(s.message().find("org.bluez.Error.AuthenticationFailed") != std::string::npos);
  CHECK(control.agentCalls().empty());
}

// ------------------------------------------------------------ the gateway agent and the window

TEST_CASE("The gateway registers a KeyboardOnly default agent and registers again after bluetoothd restarts",
          "[integration][pairing]") {
  test::PrivateBus bus;
  auto emulator = std::make_unique<test::Emulator>(bus, scenario());
  Gateway gw(bus);
  ble::EnrolmentWindow window(fastEnrolment(), *gw.client->adapter(), *gw.client->bonding(), *gw.buffer, gw.clock,
                              gw.aliaser);
  REQUIRE(window.start().isOk());
  auto registered = [&](std::uint64_t n) {
    for (int i = 0; i < 500; ++i) {
      auto st = gw.client->bonding()->agentState();
      if (st.registeredAsDefault && st.registrations >= n) return true;
      std::this_thread::sleep_for(10ms);  // polling a state, bounded: 5 s
    }
    return false;
  };
  REQUIRE(registered(1));
  {
    EmulatorControl control;
    auto agents = control.agents();
    REQUIRE(agents.size() == 1);
    CHECK(std::get<0>(agents[0]) == "/org/rpmgateway/agent");
    CHECK(std::get<1>(agents[0]) == "KeyboardOnly");
    CHECK(std::get<2>(agents[0]));
    CHECK(control.adapterPairable());
  }
  emulator->kill();
  emulator = std::make_unique<test::Emulator>(bus, scenario());
  REQUIRE(registered(2));
  EmulatorControl control;
  CHECK(control.agents().size() == 1);
  CHECK(control.adapterPairable());
  window.stop();
}

TEST_CASE("The gateway's agent is exported and registered again after the D-Bus connection itself was lost",
          "[integration][pairing]") {
  test::PrivateBus bus;
  auto emulator = std::make_unique<test::Emulator>(bus, scenario());
  Gateway gw(bus);
  ble::EnrolmentWindow window(fastEnrolment(), *gw.client->adapter(), *gw.client->bonding(), *gw.buffer, gw.clock,
                              gw.aliaser);
  REQUIRE(window.start().isOk());
  auto until = [](const std::function<bool()>& done) {
    for (int i = 0; i < 500; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(10ms);  // polling a state, bounded: 5 s
    }
    return false;
  };
  auto registered = [&](std::uint64_t n) {
    return until([&] {
      auto st = gw.client->bonding()->agentState();
      return st.registeredAsDefault && st.registrations >= n;
    });
  };
  REQUIRE(registered(1));
  bus.kill();  // the bus itself dies; the emulator exits with it
  REQUIRE(until([&] { return !gw.client->busAlive(); }));
  emulator.reset();
  bus.restart();
  emulator = std::make_unique<test::Emulator>(bus, scenario());
  bool back = false;
  for (int i = 0; i < 30 && !back; ++i) {
    gw.clock.advance(1s);  // the reconnect backoff runs on the injected clock
    back = until([&] { return gw.client->busAlive(); });
  }
  REQUIRE(back);
  // Without re-exporting the agent object on the new connection, bluetoothd
  // would call a path nobody serves and every pairing would fail.
  REQUIRE(registered(2));
  EmulatorControl control;
  auto agents = control.agents();
  REQUIRE(agents.size() == 1);
  CHECK(std::get<0>(agents[0]) == "/org/rpmgateway/agent");
  CHECK(control.adapterPairable());
  window.stop();
}

TEST_CASE("A pairing window bonds a passkey cuff with the installer's passkey, enrols it, and the bond survives "
          "reconnection",
          "[integration][pairing]") {
  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario());
  Gateway gw(bus);
  EmulatorControl control;
  ble::EnrolmentWindow window(fastEnrolment(), *gw.client->adapter(), *gw.client->bonding(), *gw.buffer, gw.clock,
                              gw.aliaser);
  REQUIRE(window.start().isOk());
  EventLog log;
  log.answer = "123456";
  log.window = &window;
  ble::WindowRequest request;
  request.timeout = 60s;
  request.patient = kPatient;
  request.userSlot = 2;
  request.interactive = true;
  auto id = window.open(request, log.sink());
  REQUIRE(id.isOk());
  log.opened(*id);
  REQUIRE(log.waitFor(ble::EnrolmentEvent::Kind::kPasskeyNeeded, gw.alias(kCuff)));
  // Found by alias only: the event never names the address.
  REQUIRE(log.waitFor(ble::EnrolmentEvent::Kind::kEnrolled, gw.alias(kCuff)));
  auto enrolled = gw.buffer->findEnrolment(*DeviceKey::bluetooth(kCuff), std::uint8_t{2});
  REQUIRE(enrolled.isOk());
  CHECK(enrolled->patient == kPatient);
  CHECK(control.deviceBool(kCuff, "Bonded"));
  CHECK(control.deviceBool(kCuff, "Trusted"));
  CHECK(window.status().windowOpen);
  CHECK(window.status().deviceStates.at(gw.alias(kCuff)) == "enrolled");
  // Reconnect: the bond is kept and no new pairing is needed.
  auto cuff = *gw.client->adapter()->device(kCuff);
  for (int round = 0; round < 2; ++round) {
    REQUIRE(cuff->connect().isOk());
    REQUIRE(cuff->waitServicesResolved(5s).isOk());
    REQUIRE(cuff->disconnect().isOk());
    CHECK(control.deviceBool(kCuff, "Paired"));
    CHECK(control.deviceBool(kCuff, "Bonded"));
  }
  // Closing the window (clock past the deadline) stops discovery and reports.
  gw.clock.advance(61s);
  REQUIRE(log.waitFor(ble::EnrolmentEvent::Kind::kClosed));
  CHECK_FALSE(window.status().windowOpen);
  window.stop();
}

TEST_CASE("A window opened without a prompt refuses passkey requests and enrols nothing needing one",
          "[integration][pairing]") {
  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario());
  Gateway gw(bus);
  EmulatorControl control;
  ble::EnrolmentWindow window(fastEnrolment(), *gw.client->adapter(), *gw.client->bonding(), *gw.buffer, gw.clock,
                              gw.aliaser);
  REQUIRE(window.start().isOk());
  EventLog log;
  ble::WindowRequest request;
  request.patient = kPatient;
  request.origin = "mqtt";
  request.interactive = false;
  REQUIRE(window.open(request, log.sink()).isOk());
  // The scale pairs Just Works and is enrolled; the cuff needs a passkey nobody can give.
  // (The scale has no user slots: the whole device is bound.)
  REQUIRE(log.waitFor(ble::EnrolmentEvent::Kind::kPairingFailed, gw.alias(kCuff)));
  REQUIRE(log.waitFor(ble::EnrolmentEvent::Kind::kEnrolled, gw.alias(kScale)));
  CHECK_FALSE(gw.buffer->findEnrolment(*DeviceKey::bluetooth(kCuff), std::nullopt).isOk());
  CHECK_FALSE(control.deviceBool(kCuff, "Bonded"));
  bool refusedByAgent = false;
  for (const auto& c : control.agentCalls()) {
    if (c.method == "RequestPasskey" && c.address == kCuff) refusedByAgent = c.outcome == "org.bluez.Error.Rejected";
  }
  CHECK(refusedByAgent);
  window.stop();
}

TEST_CASE("A device bonded to another host is reported as such in the window's events and in status",
          "[integration][pairing]") {
  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario());
  Gateway gw(bus);
  ble::EnrolmentWindow window(fastEnrolment(), *gw.client->adapter(), *gw.client->bonding(), *gw.buffer, gw.clock,
                              gw.aliaser);
  REQUIRE(window.start().isOk());
  EventLog log;
  ble::WindowRequest request;
  request.patient = kPatient;
  REQUIRE(window.open(request, log.sink()).isOk());
  REQUIRE(log.waitFor(ble::EnrolmentEvent::Kind::kBondedElsewhere));
  auto e = log.first(ble::EnrolmentEvent::Kind::kBondedElsewhere);
  CHECK(e->alias == gw.alias(kTaken));
  CHECK(e->detail.find("paired with another phone or hub") != std::string::npos);
  CHECK(e->detail.find(kTaken) == std::string::npos);
  CHECK(window.status().deviceStates.at(gw.alias(kTaken)) == "bonded_to_another_host");
  CHECK_FALSE(gw.buffer->findEnrolment(*DeviceKey::bluetooth(kTaken), std::nullopt).isOk());
  window.stop();
}

TEST_CASE("Outside a window nothing new is enrolled and agent requests are refused", "[integration][pairing]") {
  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario());
  Gateway gw(bus);
  EmulatorControl control;
  ble::EnrolmentWindow window(fastEnrolment(), *gw.client->adapter(), *gw.client->bonding(), *gw.buffer, gw.clock,
                              gw.aliaser);
  REQUIRE(window.start().isOk());
  gw.discover(kCuff);  // advertising health devices are around
  window.rebondNowForTest();
  CHECK(gw.enrolments().empty());
  // Someone else's Pair() reaches the gateway's default agent: refused outside a window.
  CHECK(gw.client->bonding()->pair(kCuff).kind() == ErrorKind::kUnauthorized);
  CHECK(gw.enrolments().empty());
  CHECK(gw.client->bonding()->agentState().refusals >= 1);
  window.stop();
}

TEST_CASE("An enrolled device whose bond was lost is re-bonded automatically, outside any window",
          "[integration][pairing]") {
  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario());
  Gateway gw(bus);
  EmulatorControl control;
  Enrolment e;
  e.device = *DeviceKey::bluetooth(kBonded);
  e.patient = kPatient;
  e.transport = Transport::kBle;
  e.metadata = "{}";
  e.enrolledAt = gw.clock.now();
  REQUIRE(gw.buffer->putEnrolment(e).isOk());
  ble::EnrolmentWindow window(fastEnrolment(), *gw.client->adapter(), *gw.client->bonding(), *gw.buffer, gw.clock,
                              gw.aliaser);
  REQUIRE(window.start().isOk());
  // The hub loses the keys (CancelPairing with nothing pending unpairs, §3.1 quirk).
  CHECK(control.deviceCall(kBonded, "CancelPairing") == "org.bluez.Error.DoesNotExist");
  REQUIRE(gw.client->waitReady(1s).isOk());
  for (int i = 0; i < 500 && gw.snapshot(kBonded).bonded; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE_FALSE(gw.snapshot(kBonded).bonded);
  window.rebondNowForTest();
  CHECK(window.status().rebonded == 1);
  CHECK(control.deviceBool(kBonded, "Bonded"));
  CHECK(window.status().deviceStates.at(gw.alias(kBonded)) == "enrolled");
  window.stop();
}

TEST_CASE("The refusal check catches an emulator that bonds although the agent refused", "[integration][pairing]") {
  // Planted bug: the emulator ignores the agent's rejection. The same check as
  // "A refusing agent makes Pair fail..." must then see a bond.
  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario("pair_ignores_agent_refusal"));
  Gateway gw(bus);
  EmulatorControl control;
  TestAgent agent("DisplayYesNo", TestAgent::Mode::kRefuse);
  gw.discover(kMeter);
  const bool refusalHonoured = !gw.client->bonding()->pair(kMeter).isOk() && !control.deviceBool(kMeter, "Paired");
  CHECK_FALSE(refusalHonoured);
}

}  // namespace rpm
