// Bluetooth LE benchmark (reported, never asserted): bash bench/ble/run.sh
//  1. Download of N stored glucose records from the BlueZ emulator through the
//     gateway's BleIntake (connect, resolve, DIS, Current Time, RACP, decode,
//     IngestPipeline, SQLite buffer), against the emulator's raw notification
//     rate to a minimal sdbus-c++ subscriber (connect, resolve, StartNotify,
//     RACP write, count PropertiesChanged until the RACP response) in the same
//     run, on the same private bus. Target: intake >= 80% of raw.
//  2. CPU time of this process per heart-rate notification (BlueZ client
//     thread + intake worker + pipeline + aggregator), emulator streaming fast.
//  3. RSS of this process with ten heart-rate monitors connected and
//     notifying through the BlueZ client, against the RSS before the client.
#include <sdbus-c++/sdbus-c++.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "buffer/SqliteBuffer.h"
#include "drivers/ble_intake/BleIntake.h"
#include "drivers/bluez/BluezClient.h"
#include "gateway/engine/IngestPipeline.h"
#include "gateway/engine/StreamAggregator.h"
#include "gateway/identity/Identifiers.h"
#include "gateway/log/Log.h"
#include "gateway/time/SystemClock.h"
#include "tests/integration/bluez/BusFixture.h"

using namespace rpm;
using namespace std::chrono_literals;
using nlohmann::json;
using Steady = std::chrono::steady_clock;

namespace {

class UtcZone final : public TimeZoneRules {
 public:
  const std::string& name() const override { return name_; }
  int offsetMinutesAt(UtcInstant) const override { return 0; }
  UtcInstant toUtc(const LocalDateTime& local) const override { return fromLocal(local, 0); }

 private:
  std::string name_ = "Etc/UTC";
};

// Counts and discards (the BLE path without storage).
class CountingSink final : public ReadingSink {
 public:
  Result<AppendReport> submit(std::vector<Reading> readings) override {
    AppendReport r;
    r.outcomes.assign(readings.size(), AppendOutcome::kStored);
    count += readings.size();
    return r;
  }
  std::atomic<std::uint64_t> count{0};
};

double seconds(Steady::duration d) { return std::chrono::duration<double>(d).count(); }

double cpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

long rssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

std::string pathOf(const std::string& address) {
  std::string p = "/org/bluez/hci0/dev_" + address;
  for (auto& c : p) c = c == ':' ? '_' : c;
  return p;
}

json meter(const std::string& address, int records) {
  json recs = json::array();
  for (int i = 1; i <= records; ++i) {
    recs.push_back({{"seq", i}, {"mg_dl", std::to_string(80 + i % 60)},
                    {"time", "2024-03-0" + std::to_string(1 + i / 400) + "T" + (i % 24 < 10 ? "0" : "") +
                                 std::to_string(i % 24) + ":" + (i % 60 < 10 ? "0" : "") + std::to_string(i % 60) + ":00"}});
  }
  return {{"address", address}, {"kind", "glucose_meter"}, {"paired", true}, {"glucose", {{"records", recs}}}};
}

json heartRateMonitor(const std::string& address, int intervalMs) {
  return {{"address", address},
          {"kind", "heart_rate_monitor"},
          {"paired", true},
          {"heart_rate",
           {{"interval_ms", intervalMs}, {"samples", {{{"bpm", 72}, {"rr_1024", {850, 840}}}, {{"bpm", 74}, {"rr_1024", {830}}}}}}}};
}

// The minimal subscriber: plain sdbus-c++ calls, no gateway code.
double rawDownloadSeconds(const std::string& address, int records, int& received) {
  auto connection = sdbus::createSystemBusConnection();
  std::string dev = pathOf(address);
  auto start = Steady::now();
  auto device = sdbus::createProxy(*connection, "org.bluez", dev);
  device->callMethod("Connect").onInterface("org.bluez.Device1");
  for (;;) {
    sdbus::Variant v;
    device->callMethod("Get").onInterface("org.freedesktop.DBus.Properties").withArguments("org.bluez.Device1", "ServicesResolved").storeResultsTo(v);
    if (v.get<bool>()) break;
    std::this_thread::sleep_for(1ms);
  }
  auto root = sdbus::createProxy(*connection, "org.bluez", "/");
  std::map<sdbus::ObjectPath, std::map<std::string, std::map<std::string, sdbus::Variant>>> objects;
  root->callMethod("GetManagedObjects").onInterface("org.freedesktop.DBus.ObjectManager").storeResultsTo(objects);
  std::string measurement, racp;
  for (auto& [path, ifaces] : objects) {
    auto it = ifaces.find("org.bluez.GattCharacteristic1");
    if (it == ifaces.end() || path.rfind(dev, 0) != 0) continue;
    auto uuid = it->second["UUID"].get<std::string>();
    if (uuid.rfind("00002a18", 0) == 0) measurement = path;
    if (uuid.rfind("00002a52", 0) == 0) racp = path;
  }
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  received = 0;
  auto measurementProxy = sdbus::createProxy(*connection, "org.bluez", measurement);
  auto racpProxy = sdbus::createProxy(*connection, "org.bluez", racp);
  measurementProxy->uponSignal("PropertiesChanged").onInterface("org.freedesktop.DBus.Properties").call(
      [&](const std::string&, const std::map<std::string, sdbus::Variant>& changed, const std::vector<std::string>&) {
        if (changed.count("Value")) ++received;
      });
  racpProxy->uponSignal("PropertiesChanged").onInterface("org.freedesktop.DBus.Properties").call(
      [&](const std::string&, const std::map<std::string, sdbus::Variant>& changed, const std::vector<std::string>&) {
        if (!changed.count("Value")) return;
        std::lock_guard<std::mutex> lock(m);
        done = true;
        cv.notify_all();
      });
  measurementProxy->finishRegistration();
  racpProxy->finishRegistration();
  connection->enterEventLoopAsync();
  measurementProxy->callMethod("StartNotify").onInterface("org.bluez.GattCharacteristic1");
  racpProxy->callMethod("StartNotify").onInterface("org.bluez.GattCharacteristic1");
  std::map<std::string, sdbus::Variant> options{{"type", sdbus::Variant(std::string("request"))}};
  racpProxy->callMethod("WriteValue").onInterface("org.bluez.GattCharacteristic1")
      .withArguments(std::vector<std::uint8_t>{0x01, 0x01}, options);
  {
    std::unique_lock<std::mutex> lock(m);
    cv.wait_for(lock, std::chrono::seconds(10 + records / 50), [&] { return done; });
  }
  double s = seconds(Steady::now() - start);
  device->callMethod("Disconnect").onInterface("org.bluez.Device1");
  connection->leaveEventLoop();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int records = argc > 1 ? std::atoi(argv[1]) : 1000;
  std::string scratch = argc > 2 ? argv[2] : "/tmp";
  log::setLevel(log::Level::kError);
  long rssStart = rssKiB();
  const std::string kRaw = "C0:11:22:33:66:01", kStored = "C0:11:22:33:66:02", kCounted = "C0:11:22:33:66:03";
  const std::string kHr = "C0:11:22:33:66:10";
  json scenario = {{"timing", {{"disconnect_delay_ms", 20}, {"advertising_interval_ms", 50}}}, {"devices", json::array()}};
  for (const auto& a : {kRaw, kStored, kCounted}) scenario["devices"].push_back(meter(a, records));
  scenario["devices"].push_back(heartRateMonitor(kHr, 1));
  for (int i = 0; i < 10; ++i) scenario["devices"].push_back(heartRateMonitor("C0:11:22:33:77:0" + std::to_string(i), 20));

  test::PrivateBus bus;
  test::Emulator emulator(bus, scenario);
  SystemClock clock;
  UtcZone zone;
  DeviceAliaser aliaser{std::vector<std::uint8_t>{1, 2, 3}};

  auto client = bluez::BluezClient::connectSystemBus({}, clock).value();
  if (!client->waitReady(5s).isOk()) return 2;
  // 1. RSS (first, before the downloads grow the heap) with ten connected, notifying devices.
  {
    long before = rssKiB();
    std::vector<std::shared_ptr<ble::BleDevice>> devices;
    std::atomic<std::uint64_t> values{0};
    for (int i = 0; i < 10; ++i) {
      std::string a = "C0:11:22:33:77:0" + std::to_string(i);
      std::shared_ptr<ble::BleDevice> d;
      for (auto until = Steady::now() + 5s; Steady::now() < until; std::this_thread::sleep_for(10ms)) {
        auto r = client->adapter()->device(a);
        if (r) {
          d = *r;
          break;
        }
      }
      if (!d || !d->connect().isOk() || !d->waitServicesResolved(5s).isOk()) {
        std::printf("  device %d did not connect\n", i);
        continue;
      }
      d->setValueHandler([&values](const ble::CharacteristicValue&) { ++values; });
      auto ch = d->characteristic(ble::sigUuid(0x180D), ble::sigUuid(0x2A37));
      if (ch) (*ch)->startNotify();
      devices.push_back(d);
    }
    std::this_thread::sleep_for(3s);  // reported figure, not a synchronisation
    long after = rssKiB();
    std::printf("RSS: %ld KiB at start, %ld KiB with the BlueZ client ready, %ld KiB with %zu devices connected and "
                "notifying (%llu notifications so far): +%ld KiB\n", rssStart, before, after, devices.size(),
                static_cast<unsigned long long>(values.load()), after - before);
    for (auto& d : devices) d->disconnect();
  }
  // 2. Raw subscriber vs the intake.
  int rawReceived = 0;
  double raw = rawDownloadSeconds(kRaw, records, rawReceived);

  buffer::BufferOptions bo;
  bo.path = bus.dir() + "/buffer.db";
  if (scratch != "/tmp") bo.path = scratch + "/ble-bench-buffer.db";
  std::remove(bo.path.c_str());
  auto buffer = std::move(buffer::SqliteBuffer::open(bo, clock)).value();
  StreamAggregator aggregator(clock, 60s);
  engine::IngestPipeline pipeline(*buffer, aggregator, clock, [] {});
  auto enrol = [&](EnrolmentStore& store, const std::string& address) {
    Enrolment e;
    e.device = *DeviceKey::bluetooth(address);
    e.patient = "Patient/bench";
    e.transport = Transport::kBle;
    e.metadata = "{}";
    e.enrolledAt = clock.now();
    store.putEnrolment(e);
  };
  ble::BleIntakeOptions io;
  io.recordTimeout = 5000ms;
  auto timeIntake = [&](ReadingSink& sink, const std::string& address, std::uint64_t& downloaded) {
    auto b2 = std::move(buffer::SqliteBuffer::open(
        [&] { buffer::BufferOptions o; o.path = bus.dir() + "/enrol-" + address.substr(15) + ".db"; return o; }(), clock)).value();
    enrol(*b2, address);
    auto intake = std::move(ble::BleIntake::create(io, sink, *b2, *b2, clock, client->adapter(), zone, aliaser)).value();
    auto start = Steady::now();
    while (intake->runDueSessions() == 0 && Steady::now() - start < 10s) std::this_thread::sleep_for(5ms);
    double s = seconds(Steady::now() - start);
    downloaded = intake->counters().glucoseRecords;
    return s;
  };
  std::uint64_t storedRecords = 0, countedRecords = 0;
  double stored = timeIntake(pipeline, kStored, storedRecords);
  CountingSink counting;
  double counted = timeIntake(counting, kCounted, countedRecords);

  std::printf("glucose download, %d records (emulator paces one record per 2 ms)\n", records);
  std::printf("  raw sdbus-c++ subscriber : %6.3f s  %7.1f records/s  (%d notifications)\n", raw, rawReceived / raw, rawReceived);
  std::printf("  BleIntake + SQLite buffer: %6.3f s  %7.1f records/s  (%llu records)  ratio %.1f%% of raw\n", stored,
              storedRecords / stored, static_cast<unsigned long long>(storedRecords), 100.0 * raw / stored);
  std::printf("  BleIntake, counting sink : %6.3f s  %7.1f records/s  (%llu records)  ratio %.1f%% of raw\n", counted,
              countedRecords / counted, static_cast<unsigned long long>(countedRecords), 100.0 * raw / counted);

  // 3. CPU per heart-rate notification.
  {
    auto b3 = std::move(buffer::SqliteBuffer::open(
        [&] { buffer::BufferOptions o; o.path = bus.dir() + "/hr.db"; return o; }(), clock)).value();
    enrol(*b3, kHr);
    StreamAggregator hrAggregator(clock, 60s);
    engine::IngestPipeline hrPipeline(*b3, hrAggregator, clock, [] {});
    ble::BleIntakeOptions ho;
    ho.streamStallTimeout = 10000ms;
    auto intake = std::move(ble::BleIntake::create(ho, hrPipeline, *b3, *b3, clock, client->adapter(), zone, aliaser)).value();
    intake->start();
    auto deadline = Steady::now() + 20s;
    while (intake->counters().heartRateNotifications < 200 && Steady::now() < deadline) std::this_thread::sleep_for(10ms);
    std::uint64_t n0 = intake->counters().heartRateNotifications;
    double cpu0 = cpuSeconds();
    auto t0 = Steady::now();
    while (intake->counters().heartRateNotifications < n0 + 3000 && Steady::now() < deadline + 10s) {
      std::this_thread::sleep_for(10ms);
    }
    std::uint64_t n1 = intake->counters().heartRateNotifications;
    double cpu1 = cpuSeconds();
    double wall = seconds(Steady::now() - t0);
    intake->stop();
    std::printf("heart-rate stream: %llu notifications in %.2f s (%.0f/s)\n", static_cast<unsigned long long>(n1 - n0),
                wall, (n1 - n0) / wall);
    std::printf("  CPU per notification (this process, all threads): %.1f us\n", 1e6 * (cpu1 - cpu0) / (n1 - n0));
  }

  return 0;
}
