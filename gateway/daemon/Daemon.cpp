#include "gateway/daemon/Daemon.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "buffer/SqliteBuffer.h"
#include "drivers/ble_enrolment/EnrolmentWindow.h"
#include "drivers/ble_intake/BleIntake.h"
#include "gateway/daemon/BleStreamStatus.h"
#include "drivers/bluez/BluezClient.h"
#include "gateway/daemon/BleStatus.h"
#include "fhir/uplink/AccessTokenProvider.h"
#include "fhir/uplink/CurlHttpTransport.h"
#include "fhir/uplink/FhirUplink.h"
#include "gateway/secrets/SecretFile.h"
#include "gateway/daemon/ControlSocket.h"
#include "gateway/daemon/Decommission.h"
#include "gateway/daemon/PairControl.h"
#include "gateway/engine/DeliveryLoop.h"
#include "gateway/engine/IngestPipeline.h"
#include "gateway/engine/StreamAggregator.h"
#include "gateway/engine/WorkerHeartbeats.h"
#include "gateway/identity/Identifiers.h"
#include "gateway/log/Log.h"
#include "gateway/metrics/GatewayMetrics.h"
#include "gateway/metrics/MetricsServer.h"
#include "gateway/mqtt/MqttIntake.h"
#include "gateway/mqtt/MqttTemplatesConfig.h"
#include "gateway/time/IanaTimeZone.h"
#include "gateway/time/SystemClock.h"
#include "systemd/SdNotifier.h"

#ifndef RPM_GATEWAY_VERSION
#define RPM_GATEWAY_VERSION "0.0.0"
#endif

namespace rpm::daemon {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Counts the HTTP requests of the delivery worker as bounded operations, so a
// slow but live server never looks like a hung thread to the watchdog.
class HeartbeatTransport final : public fhir::HttpTransport {
 public:
  HeartbeatTransport(fhir::HttpTransport& inner, engine::WorkerHeartbeats& heartbeats, std::string worker,
                     std::chrono::milliseconds budget)
      : inner_(inner), heartbeats_(heartbeats), worker_(std::move(worker)), budget_(budget) {}
  fhir::HttpOutcome send(const fhir::HttpRequest& request) override {
    heartbeats_.busyUntil(worker_, std::chrono::steady_clock::now() + budget_);
    auto out = inner_.send(request);
    heartbeats_.busyUntil(worker_, {});  // the bounded operation is over
    heartbeats_.beat(worker_);
    return out;
  }

 private:
  fhir::HttpTransport& inner_;
  engine::WorkerHeartbeats& heartbeats_;
  std::string worker_;
  std::chrono::milliseconds budget_;
};

Transport transportOf(const Reading& r) {
  return r.device.scheme() == DeviceKeyScheme::kMqttIdentity ? Transport::kMqtt : Transport::kBle;
}

// Counts readings into the pipeline for the metrics endpoint.
class MeteredSink final : public ReadingSink {
 public:
  MeteredSink(ReadingSink& inner, metrics::GatewayMetrics& m) : inner_(inner), metrics_(m) {}
  Result<AppendReport> submit(std::vector<Reading> readings) override {
    for (const auto& r : readings) metrics_.readingReceived(r.kind, transportOf(r));
    Transport t = readings.empty() ? Transport::kMqtt : transportOf(readings.front());
    auto report = inner_.submit(std::move(readings));
    if (!report.isOk()) metrics_.readingRejected(t, report.status().kind());
    return report;
  }

 private:
  ReadingSink& inner_;
  metrics::GatewayMetrics& metrics_;
};

// Counts delivery outcomes and the receive-to-delivered latency.
class MeteredUplink final : public Uplink {
 public:
  MeteredUplink(Uplink& inner, metrics::GatewayMetrics& m, const Clock& clock) : inner_(inner), metrics_(m), clock_(clock) {}
  std::vector<DeliveryOutcome> deliver(const std::vector<Reading>& readings) override {
    auto outcomes = inner_.deliver(readings);
    UtcInstant now = clock_.now();
    for (std::size_t i = 0; i < outcomes.size() && i < readings.size(); ++i) {
      const Reading& r = readings[i];
      switch (outcomes[i].verdict) {
        case DeliveryVerdict::kDelivered:
          metrics_.deliveryOutcome(r.kind, metrics::DeliveryOutcome::kCreated);
          metrics_.readingDelivered(r.kind, transportOf(r), now - r.receivedAt);
          break;
        case DeliveryVerdict::kReject: metrics_.deliveryOutcome(r.kind, metrics::DeliveryOutcome::kDeadLettered); break;
        case DeliveryVerdict::kRetry:
        case DeliveryVerdict::kHalt: metrics_.deliveryOutcome(r.kind, metrics::DeliveryOutcome::kRetry); break;
      }
    }
    return outcomes;
  }

 private:
  Uplink& inner_;
  metrics::GatewayMetrics& metrics_;
  const Clock& clock_;
};

// The per-hub secret behind device aliases: 32 random bytes, created once, 0600.
Result<std::vector<std::uint8_t>> hubSecret(const std::string& stateDir) {
  std::string path = stateDir + "/hub-secret";
  std::ifstream in(path, std::ios::binary);
  std::vector<std::uint8_t> secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (secret.size() == 32) return secret;
  secret.assign(32, 0);
  if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) {
    return Status(ErrorKind::kInternal, "cannot draw random bytes for the hub secret");
  }
  mode_t old = ::umask(0077);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(secret.data()), static_cast<std::streamsize>(secret.size()));
  out.close();
  ::umask(old);
  if (!out) return Status(ErrorKind::kIo, "cannot write the hub secret in the state directory");
  return secret;
}

Status ensurePrivateDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status(ErrorKind::kIo, "cannot create the directory " + dir);
  ::chmod(dir.c_str(), 0700);
  return Status::ok();
}

std::string valueText(const Config& c, const ConfigKeySpec& k) {
  if (!c.has(k.key)) return "";
  switch (k.type) {
    case ConfigValueType::kString: return c.string(k.key);
    case ConfigValueType::kInteger: return std::to_string(c.integer(k.key));
    case ConfigValueType::kBoolean: return c.boolean(k.key) ? "true" : "false";
    case ConfigValueType::kStringArray: {
      std::string s;
      for (const auto& v : c.strings(k.key)) s += v + "\x1f";
      return s;
    }
  }
  return "";
}

json enrolmentJson(const Enrolment& e, const DeviceAliaser& aliaser) {
  json j;
  j["alias"] = aliaser.aliasFor(e.device).text();
  j["key"] = e.device.canonical();
  j["patient"] = e.patient;
  if (e.userSlot) j["user_slot"] = *e.userSlot;
  j["transport"] = e.transport == Transport::kMqtt ? "mqtt" : "ble";
  j["enrolled_at"] = formatUtc(e.enrolledAt);
  return j;
}

class Daemon {
 public:
  Daemon(const Config& config, std::string configPath, std::vector<ConfigKeySpec> keys)
      : config_(config), configPath_(std::move(configPath)), keys_(std::move(keys)) {}

  int run();

 private:
  Status setUp();
  Status seedEnrolments();
  Result<std::unique_ptr<fhir::AccessTokenProvider>> makeAuth();
  void deliveryWorker();
  void maintenance();
  void reload();
  std::string handleControl(const std::string& line, int passedFd = -1);
  Result<json> decommission(const json& args, int exportFd);
  json status();
  json healthSummary();
  std::string statusLine();

  Config config_;
  std::string configPath_;
  std::vector<ConfigKeySpec> keys_;
  SystemClock clock_;
  std::shared_ptr<IanaTimeZone> zone_;
  std::string stateDir_;
  std::unique_ptr<DeviceAliaser> aliaser_;
  std::unique_ptr<buffer::SqliteBuffer> store_;
  std::unique_ptr<fhir::CurlHttpTransport> transport_;
  std::unique_ptr<HeartbeatTransport> heartbeatTransport_;
  std::unique_ptr<fhir::AccessTokenProvider> auth_;
  std::unique_ptr<fhir::FhirUplink> uplink_;
  std::unique_ptr<engine::DeliveryLoop> delivery_;
  std::unique_ptr<StreamAggregator> aggregator_;
  std::unique_ptr<engine::IngestPipeline> ingest_;
  engine::WorkerHeartbeats heartbeats_;
  SdNotifier notifier_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<mqtt::MqttIntake> mqtt_;
  std::shared_ptr<bluez::BluezClient> bluez_;
  std::unique_ptr<ble::BleIntake> ble_;
  bluez::BluezRecoveryCounters bleRecoveriesSeen_;  // fed into the metrics up to here
  std::unique_ptr<ble::EnrolmentWindow> enrolment_;  // pairing window + the agent's policy
  metrics::GatewayMetrics metrics_{RPM_GATEWAY_VERSION};
  std::unique_ptr<metrics::MetricsServer> metricsServer_;
  std::unique_ptr<MeteredUplink> meteredUplink_;
  std::unique_ptr<MeteredSink> meteredSink_;
  std::unique_ptr<IntakeGate> intakeGate_;  // closed while decommissioning
  std::mutex deliveryRunMutex_;             // held around each delivery round; decommission pauses delivery with it
  const bool testFaults_ = [] {
    const char* v = std::getenv("RPM_GATEWAY_TEST_FAULTS");
    return v && std::string(v) == "1";
  }();

  std::mutex wakeMutex_;
  std::condition_variable wake_;
  bool wakeRequested_ = false;
  bool stopping_ = false;
  std::thread deliveryThread_;
  std::chrono::steady_clock::time_point startedAt_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point lastPrune_{};
  std::chrono::steady_clock::time_point lastStatus_{};
  std::chrono::steady_clock::time_point lastWatchdogCheck_ = std::chrono::steady_clock::now();
};

Result<std::unique_ptr<fhir::AccessTokenProvider>> Daemon::makeAuth() {
  const std::string& mode = config_.string("fhir.auth");
  if (mode == "none" || mode == "mtls") return fhir::makeNoAuthorization();
  if (mode == "bearer") {
    auto token = secrets::readSecret(config_.string("fhir.token_file"), "fhir-token");
    if (!token.isOk()) return token.status();
    return fhir::makeStaticBearer(*token);
  }
  auto key = secrets::readSecret(config_.string("fhir.private_key_file"), "fhir-client-key");
  if (!key.isOk()) return key.status();
  fhir::SmartOptions o;
  o.fhirBaseUrl = config_.string("fhir.base_url");
  o.tokenUrl = config_.string("fhir.token_url");
  o.clientId = config_.string("fhir.client_id");
  o.keyId = config_.string("fhir.key_id");
  o.privateKeyPem = *key;
  o.scopes = config_.string("fhir.scopes");
  return fhir::makeSmartBackendServices(o, *heartbeatTransport_, clock_);
}

Status Daemon::seedEnrolments() {
  for (const Config& d : config_.tables("devices")) {
    auto key = DeviceKey::parse(d.string("key"));
    if (!key) continue;  // validated by the config loader
    std::optional<std::uint8_t> slot;
    if (d.integer("user_slot") > 0) slot = static_cast<std::uint8_t>(d.integer("user_slot"));
    auto existing = store_->findEnrolment(*key, slot);
    if (existing.isOk() && existing->userSlot == slot) continue;  // the database wins over seeds
    Enrolment e;
    e.device = *key;
    e.userSlot = slot;
    e.patient = d.string("patient");
    e.transport = key->scheme() == DeviceKeyScheme::kMqttIdentity ? Transport::kMqtt : Transport::kBle;
    e.metadata = json{{"driver", d.string("driver")}}.dump();
    e.enrolledAt = clock_.now();
    Status s = store_->putEnrolment(e);
    if (!s.isOk()) return s;
    log::notice("daemon", "device enrolled from configuration", {{"device", aliaser_->aliasFor(*key)}});
  }
  return Status::ok();
}

Status Daemon::setUp() {
  log::Level level = log::Level::kInfo;
  log::parseLevel(config_.string("logging.level"), level);
  log::setLevel(level);
  auto zone = IanaTimeZone::load(config_.string("hub.timezone"));
  if (!zone.isOk()) return zone.status();
  zone_ = *zone;
  stateDir_ = config_.string("hub.state_directory");
  if (Status s = ensurePrivateDirectory(stateDir_); !s.isOk()) return s;
  auto secret = hubSecret(stateDir_);
  if (!secret.isOk()) return secret.status();
  aliaser_ = std::make_unique<DeviceAliaser>(*secret);

  buffer::BufferOptions b;
  b.path = config_.string("buffer.path").empty() ? stateDir_ + "/buffer.db" : config_.string("buffer.path");
  b.durability = config_.string("buffer.durability") == "process-crash" ? buffer::Durability::kProcessCrash
                                                                         : buffer::Durability::kPowerLoss;
  b.maxSizeBytes = static_cast<std::uint64_t>(config_.integer("buffer.max_size_mb")) * 1024 * 1024;
  b.deliveredRetention = std::chrono::hours(config_.integer("buffer.delivered_retention_hours"));
  b.tombstoneRetention = std::chrono::hours(24 * config_.integer("buffer.tombstone_days"));
  b.leaseDuration = std::chrono::seconds(config_.integer("buffer.lease_seconds"));
  auto opened = buffer::SqliteBuffer::open(b, clock_);
  if (!opened.isOk()) return opened.status();
  store_ = std::move(opened).value();
  if (store_->openReport().quarantined) {
    log::error("daemon", "the buffer database was corrupt: moved aside and salvaged",
               {{"salvaged", store_->openReport().salvaged}, {"lost", store_->openReport().unsalvageable}});
  }
  if (Status s = seedEnrolments(); !s.isOk()) return s;

  fhir::CurlTransportOptions t;
  t.connectTimeoutMs = config_.integer("fhir.connect_timeout_ms");
  t.requestTimeoutMs = config_.integer("fhir.request_timeout_ms");
  t.caFile = config_.string("fhir.ca_file");
  t.clientCertFile = config_.string("fhir.client_cert_file");
  t.clientKeyFile = config_.string("fhir.client_key_file");
  if (!t.clientKeyFile.empty()) {
    // libcurl reads the key itself; refuse one that others can read, as for every secret.
    auto key = secrets::readSecret(t.clientKeyFile, "fhir-client-tls-key");
    if (!key.isOk()) return key.status();
  }
  t.userAgent = std::string("rpm-gateway/") + RPM_GATEWAY_VERSION;
  transport_ = std::make_unique<fhir::CurlHttpTransport>(t);
  heartbeats_.add("delivery");
  heartbeatTransport_ = std::make_unique<HeartbeatTransport>(
      *transport_, heartbeats_, "delivery",
      std::chrono::milliseconds(config_.integer("fhir.connect_timeout_ms") + config_.integer("fhir.request_timeout_ms")));
  auto auth = makeAuth();
  if (!auth.isOk()) return auth.status();
  auth_ = std::move(auth).value();

  fhir::FhirUplinkOptions u;
  u.baseUrl = config_.string("fhir.base_url");
  u.mode = config_.string("fhir.delivery_mode") == "put" ? fhir::DeliveryMode::kPut : fhir::DeliveryMode::kConditionalCreate;
  u.gzipRequests = config_.boolean("fhir.gzip_requests");
  u.retryAfterCap = std::chrono::seconds(config_.integer("fhir.retry_after_cap_s"));
  u.hub = fhir::HubRecord{config_.string("hub.id"), config_.string("hub.bluetooth_address"), RPM_GATEWAY_VERSION};
  buffer::SqliteBuffer* store = store_.get();
  uplink_ = std::make_unique<fhir::FhirUplink>(
      u, *heartbeatTransport_, *auth_, *store_, *zone_, clock_,
      [store](const Reading& r) {
        // What the enrolment knows of the device (DIS values the BLE driver recorded, or template metadata).
        fhir::DeviceRecord d;
        d.key = r.device;
        d.kinds = {r.kind};
        auto e = store->findEnrolment(r.device, r.userSlot);
        json meta = e.isOk() ? json::parse(e->metadata, nullptr, false) : json();
        auto text = [&](const char* k) { return meta.is_object() && meta.contains(k) && meta[k].is_string() ? meta[k].get<std::string>() : std::string(); };
        d.source = r.device.scheme() == DeviceKeyScheme::kMqttIdentity ? fhir::DeviceInfoSource::kEnrolment
                                                                         : fhir::DeviceInfoSource::kBleDeviceInformation;
        d.manufacturer = text("manufacturer");
        d.modelNumber = text("model");
        d.serialNumber = text("serial");
        d.firmwareRevision = text("firmware");
        d.softwareRevision = text("software");
        d.hardwareRevision = text("hardware");
        d.systemIdHex = text("system_id");
        return d;
      },
      [store](const std::string& id) { return store->find(id); });

  engine::DeliveryLoopOptions dl;
  dl.batchSize = static_cast<std::size_t>(config_.integer("fhir.batch_size"));
  dl.backoffBase = std::chrono::milliseconds(config_.integer("fhir.backoff_base_ms"));
  dl.backoffCap = std::chrono::milliseconds(config_.integer("fhir.backoff_cap_ms"));
  meteredUplink_ = std::make_unique<MeteredUplink>(*uplink_, metrics_, clock_);
  delivery_ = std::make_unique<engine::DeliveryLoop>(*store_, *meteredUplink_, clock_, dl, engine::systemRandom());
  aggregator_ = std::make_unique<StreamAggregator>(clock_, std::chrono::seconds(config_.integer("aggregation.window_seconds")));
  ingest_ = std::make_unique<engine::IngestPipeline>(*store_, *aggregator_, clock_, [this] {
    std::lock_guard<std::mutex> lock(wakeMutex_);
    wakeRequested_ = true;
    wake_.notify_all();
  });
  intakeGate_ = std::make_unique<IntakeGate>(*ingest_);
  meteredSink_ = std::make_unique<MeteredSink>(*intakeGate_, metrics_);
  if (config_.boolean("metrics.enabled")) {
    auto server = metrics::MetricsServer::start(config_.string("metrics.listen_address"), config_.integer("metrics.port"),
                                                [this] { return metrics_.render(); });
    if (!server.isOk()) return server.status();
    metricsServer_ = std::move(server).value();
  }
  if (config_.boolean("ble.enabled")) {
    bluez::BluezClientOptions bo;
    bo.adapterName = config_.string("ble.adapter");
    bo.callTimeout = std::chrono::milliseconds(config_.integer("ble.call_timeout_ms"));
    bo.scanSilence = std::chrono::milliseconds(config_.integer("ble.scan_silence_ms"));
    auto client = bluez::BluezClient::connectSystemBus(bo, clock_);
    if (!client.isOk()) return client.status();
    bluez_ = *client;
    ble::BleIntakeOptions io;
    io.connectTimeout = std::chrono::milliseconds(config_.integer("ble.connect_timeout_ms"));
    io.revisitInterval = std::chrono::milliseconds(config_.integer("ble.revisit_interval_ms"));
    io.maxRetry = std::chrono::milliseconds(config_.integer("ble.retry_max_ms"));
    io.recordTimeout = std::chrono::milliseconds(config_.integer("ble.record_timeout_ms"));
    io.cuffQuietTimeout = std::chrono::milliseconds(config_.integer("ble.cuff_quiet_ms"));
    io.streamStallTimeout = std::chrono::milliseconds(config_.integer("ble.stream_stall_ms"));
    io.streamSessionMax = std::chrono::milliseconds(config_.integer("ble.stream_session_max_ms"));
    io.clockSkewThreshold = std::chrono::milliseconds(config_.integer("ble.clock_skew_threshold_ms"));
    auto intake = ble::BleIntake::create(io, *meteredSink_, *store_, *store_, clock_, bluez_->adapter(), *zone_, *aliaser_);
    if (!intake.isOk()) return intake.status();
    ble_ = std::move(intake).value();
    // Enrolled BLE devices arm the scan watchdog and powering on an unpowered adapter.
    bluez_->setDevicesExpected([store = store_.get()] {
      auto list = store->listEnrolments();
      return list.isOk() && std::any_of(list->begin(), list->end(),
                                        [](const Enrolment& e) { return e.transport == Transport::kBle; });
    });
    enrolment_ = std::make_unique<ble::EnrolmentWindow>(ble::EnrolmentOptions{}, *bluez_->adapter(),
                                                        *bluez_->bonding(), *store_, clock_, *aliaser_);
  }
  if (config_.boolean("mqtt.enabled")) {
    auto options = mqtt::intakeOptionsFromConfig(config_);
    if (!options.isOk()) return options.status();
    if (enrolment_) {
      // The hub's command topic opens a pairing window (docs/mqtt.md "Hub commands").
      options->onCommand = [this](const std::string& payload) {
        auto publish = [this](const std::string& line) {
          if (mqtt_) mqtt_->publishPairing(line);
        };
        Status s = openPairWindowFromMqtt(enrolment_.get(), payload, publish);
        if (!s.isOk()) {
          log::warning("mqtt", "pair command refused", {{"error", s.kind()}});
          publish(json{{"v", kControlProtocolVersion}, {"event", "refused"}, {"detail", s.message()}}.dump());
        }
      };
    }
    auto intake = mqtt::MqttIntake::create(*options, *meteredSink_, *store_, clock_, *zone_, *aliaser_);
    if (!intake.isOk()) return intake.status();
    mqtt_ = std::move(intake).value();
  }
  return Status::ok();
}

void Daemon::deliveryWorker() {
  // A server that answers but cannot take our delivery mode (PUT without
  // update-as-create, not R4) is a configuration error: do not deliver, check again later.
  for (;;) {
    Status probe = uplink_->probeServer();
    heartbeats_.beat("delivery");
    if (probe.isOk()) break;
    if (probe.kind() != ErrorKind::kConfigInvalid) {
      log::warning("delivery", "FHIR server check failed; delivery will retry", {{"error", probe}});
      break;
    }
    log::error("delivery", "FHIR server cannot take this configuration; delivery paused", {{"error", probe}});
    std::unique_lock<std::mutex> lock(wakeMutex_);
    auto until = std::chrono::steady_clock::now() + 5min;
    while (!stopping_ && std::chrono::steady_clock::now() < until) {
      wake_.wait_until(lock, std::min(until, std::chrono::steady_clock::now() + 1s));
      heartbeats_.beat("delivery");
    }
    if (stopping_) return;
  }
  const auto batchMaxWait = std::chrono::milliseconds(config_.integer("fhir.batch_max_wait_ms"));
  const auto batchSize = static_cast<std::uint64_t>(config_.integer("fhir.batch_size"));
  bool queueWasIdle = true;
  for (;;) {
    if (queueWasIdle && batchMaxWait.count() > 0) {
      // A burst is arriving on an idle queue: let it fill a batch, bounded.
      auto until = std::chrono::steady_clock::now() + batchMaxWait;
      while (std::chrono::steady_clock::now() < until) {
        auto c = store_->counters();
        if (!c.isOk() || c->backlog >= batchSize) break;
        std::unique_lock<std::mutex> lock(wakeMutex_);
        if (stopping_) break;
        wake_.wait_until(lock, until);
      }
    }
    heartbeats_.beat("delivery");
    std::unique_lock<std::mutex> round(deliveryRunMutex_);
    auto wait = delivery_->runOnce();
    round.unlock();
    heartbeats_.beat("delivery");
    queueWasIdle = wait != std::chrono::milliseconds(0);
    std::unique_lock<std::mutex> lock(wakeMutex_);
    // Wake early for new readings, unless the destination asked us to wait.
    bool backingOff = delivery_->health().consecutiveFailures > 0 || delivery_->health().halted;
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (!stopping_ && std::chrono::steady_clock::now() < deadline && !(wakeRequested_ && !backingOff)) {
      wake_.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() + 1s));
      heartbeats_.beat("delivery");  // idle and healthy
    }
    wakeRequested_ = false;
    if (stopping_) return;
  }
}

json Daemon::healthSummary() {
  json h{{"state", "online"}, {"version", RPM_GATEWAY_VERSION}};
  if (auto c = store_->counters(); c.isOk()) {
    h["backlog"] = c->backlog;
    h["held"] = c->held;
    h["dead_letters"] = c->deadLetters;
    h["oldest_undelivered_age_s"] = c->oldestUndeliveredAgeSeconds ? json(*c->oldestUndeliveredAgeSeconds) : json();
  }
  auto d = delivery_->health();
  h["delivery"] = d.halted ? "halted" : d.consecutiveFailures ? "retrying" : "ok";
  h["last_delivery"] = d.lastDeliveryAt ? json(formatUtc(*d.lastDeliveryAt)) : json();
  h["ble_adapter"] = !ble_ ? "disabled" : bluez_->health().adapter;
  if (bluez_) h["ble_recoveries"] = bluez_->health().counters.total();
  if (ble_) {
    auto b = ble_->counters();  // device procedures that ran to their end (a visit's readings are durable then)
    h["ble_sessions_completed"] = b.sessions - b.failedSessions;
  }
  return h;
}

std::string Daemon::statusLine() {
  auto c = store_->counters();
  auto h = delivery_->health();
  std::ostringstream s;
  if (c.isOk()) {
    s << "backlog " << c->backlog;
    if (c->oldestUndeliveredAgeSeconds) s << " (oldest " << *c->oldestUndeliveredAgeSeconds << " s)";
    s << ", held " << c->held << ", dead letters " << c->deadLetters;
  }
  s << "; delivery " << (h.halted ? "halted" : h.consecutiveFailures ? "retrying" : "ok");
  if (h.lastErrorKind != ErrorKind::kOk) s << " (last error " << errorKindName(h.lastErrorKind) << ")";
  return s.str();
}

json Daemon::status() {
  json j;
  j["version"] = RPM_GATEWAY_VERSION;
  j["health"] = healthSummary();
  j["uptime_s"] = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - startedAt_).count();
  auto c = store_->counters();
  if (c.isOk()) {
    j["buffer"] = {{"backlog", c->backlog}, {"leased", c->leased}, {"held", c->held}, {"dead_letters", c->deadLetters},
                   {"duplicates", c->duplicates}, {"refusals", c->refusals}, {"quarantines", c->quarantines},
                   {"disk_bytes", c->diskBytes}, {"cap_bytes", c->capBytes}};
    j["buffer"]["oldest_undelivered_age_s"] = c->oldestUndeliveredAgeSeconds ? json(*c->oldestUndeliveredAgeSeconds) : json();
  } else {
    j["buffer"] = {{"error", c.status().toString()}};
  }
  auto h = delivery_->health();
  j["delivery"] = {{"state", h.halted ? "halted" : h.consecutiveFailures ? "retrying" : "ok"},
                   {"delivered", h.delivered}, {"retried", h.retried}, {"rejected", h.rejected},
                   {"consecutive_failures", h.consecutiveFailures},
                   {"last_error_kind", std::string(errorKindName(h.lastErrorKind))},
                   {"last_delivery", h.lastDeliveryAt ? json(formatUtc(*h.lastDeliveryAt)) : json()}};
  auto i = ingest_->counters();
  j["ingest"] = {{"submitted", i.submitted}, {"stored", i.stored}, {"held", i.held}, {"duplicates", i.duplicates},
                 {"invalid", i.invalid}, {"stream_samples", i.streamSamples}, {"windows_stored", i.windowsStored},
                 {"refused", i.refused}};
  auto u = uplink_->counters();
  j["uplink"] = {{"requests", u.requests}, {"observations_created", u.observationsCreated},
                 {"observations_existing", u.observationsExisting}, {"searches", u.searches},
                 {"duplicates_at_server", u.duplicatesAtServer}, {"reauthentications", u.reauthentications}};
  if (mqtt_) {
    auto m = mqtt_->counters();
    j["mqtt"] = {{"connected", mqtt_->isConnected()}, {"messages", m.messages}, {"readings", m.readingsSubmitted},
                 {"acks", m.acksPublished}, {"rejected", m.rejectedTotal()}, {"submit_failures", m.submitFailures},
                 {"connects", m.connects}, {"connections_lost", m.connectionsLost}};
  }
  if (ble_) j["ble_streams"] = bleStreamStatusJson(ble_->streams(), clock_.now());
  json devices = json::array();
  if (auto list = store_->listEnrolments(); list.isOk()) {
    for (const auto& e : *list) {
      devices.push_back({{"alias", aliaser_->aliasFor(e.device).text()},
                         {"transport", e.transport == Transport::kMqtt ? "mqtt" : "ble"}});
    }
  }
  j["devices"] = devices;
  if (bluez_) j["ble"] = bleStatusJson(bluez_->health());
  j["control"] = {{"refused_connections", control_ ? control_->refusedConnections() : 0}};
  if (enrolment_) j["pairing"] = enrolmentStatusJson(enrolment_->status());
  return j;
}

Result<json> Daemon::decommission(const json& args, int exportFd) {
  // [[devices]] in the configuration file would enrol the previous patient's
  // devices again at the next start or reload: refuse until they are removed.
  auto onDisk = ConfigLoader(keys_).loadFile(configPath_);
  const Config* file = std::get_if<Config>(&onDisk);
  if (!file) return Status(ErrorKind::kConfigInvalid, "the configuration file " + configPath_ + " is invalid; fix it first");
  if (!file->tables("devices").empty()) {
    return Status(ErrorKind::kConflict,
                  std::to_string(file->tables("devices").size()) + " [[devices]] enrolments in " + configPath_ +
                      " would enrol the previous patient's devices again at the next start: remove them, then run "
                      "decommission again; nothing was changed");
  }
  if (args.value("export", false) && exportFd < 0) return Status(ErrorKind::kInvalidArgument, "the export file did not arrive with the request");
  DecommissionOptions o;
  o.confirmed = args.value("confirm", false);
  o.deliverTimeout = std::chrono::milliseconds(std::clamp<std::int64_t>(args.value("deliver_timeout_s", 60), 0, 3600) * 1000);
  o.exportFd = exportFd;
  o.discardUndelivered = args.value("discard_undelivered", false);
  o.hubId = file->string("hub.id");
  DecommissionHooks h;
  h.gate = intakeGate_.get();
  h.flushWindows = [this] { return ingest_->flushWindows(); };
  h.wakeDelivery = [this] {
    std::lock_guard<std::mutex> lock(wakeMutex_);
    wakeRequested_ = true;
    wake_.notify_all();
  };
  h.deliveryMutex = &deliveryRunMutex_;
  auto result = runDecommission(*store_, *store_, clock_, h, o);
  if (result.isOk()) (*result)["intake"] = "resumed";
  return result;
}

std::string Daemon::handleControl(const std::string& line, int passedFd) {
  json response{{"v", kControlProtocolVersion}};
  auto fail = [&](const std::string& what) {
    response["ok"] = false;
    response["error"] = what;
    return response.dump();
  };
  json req = json::parse(line, nullptr, false);
  if (req.is_discarded() || !req.is_object()) return fail("the request is not a JSON object");
  if (req.value("v", 0) != kControlProtocolVersion) return fail("unsupported protocol version");
  std::string cmd = req.value("cmd", "");
  json args = req.contains("args") && req["args"].is_object() ? req["args"] : json::object();
  // Only names the daemon knows reach the log: the request text is the caller's.
  static const char* const kKnown[] = {"status", "devices.list", "devices.enrol", "devices.unpair", "deadletter.list",
                                       "deadletter.requeue", "deadletter.purge", "reload", "test.hang-worker",
                                       "test.mqtt-commit-fault", "decommission"};
  bool known = std::find(std::begin(kKnown), std::end(kKnown), cmd) != std::end(kKnown);
  log::info("control", "command received", {log::Field::reviewed("cmd", known ? cmd : std::string("unknown"))});
  json result;
  if (cmd == "status") {
    result = status();
  } else if (cmd == "devices.list") {
    result = json::array();
    auto list = store_->listEnrolments();
    if (!list.isOk()) return fail(list.status().toString());
    for (const auto& e : *list) result.push_back(enrolmentJson(e, *aliaser_));
  } else if (cmd == "devices.enrol") {
    auto key = DeviceKey::parse(args.value("key", ""));
    if (!key) return fail("key must be bt:<address>, sysid:<16 hex digits> or mqtt:<identity>");
    std::string patient = args.value("patient", "");
    if (patient.rfind("Patient/", 0) != 0 || patient.size() <= 8) return fail("patient must be Patient/<id>");
    Enrolment e;
    e.device = *key;
    int slot = args.value("user_slot", 0);
    if (slot < 0 || slot > 255) return fail("user_slot must be 0..255");
    if (slot > 0) e.userSlot = static_cast<std::uint8_t>(slot);
    e.patient = patient;
    e.transport = key->scheme() == DeviceKeyScheme::kMqttIdentity ? Transport::kMqtt : Transport::kBle;
    e.metadata = args.contains("metadata") && args["metadata"].is_object() ? args["metadata"].dump() : "{}";
    e.enrolledAt = clock_.now();
    if (Status s = store_->putEnrolment(e); !s.isOk()) return fail(s.toString());
    log::notice("control", "device enrolled", {{"device", aliaser_->aliasFor(*key)}});
    result = enrolmentJson(e, *aliaser_);
    if (args.value("release_held", false)) {
      auto released = store_->releaseHeldReadings(e.device, e.userSlot);
      result["released_held"] = released.isOk() ? *released : 0;
    }
  } else if (cmd == "devices.unpair") {
    auto key = DeviceKey::parse(args.value("key", ""));
    if (!key) return fail("key must be bt:<address>, sysid:<16 hex digits> or mqtt:<identity>");
    int slot = args.value("user_slot", 0);
    std::optional<std::uint8_t> s;
    if (slot > 0) s = static_cast<std::uint8_t>(slot);
    if (Status st = store_->removeEnrolment(*key, s); !st.isOk()) return fail(st.toString());
    log::notice("control", "device unpaired", {{"device", aliaser_->aliasFor(*key)}});
    result = {{"removed", key->canonical()}};
  } else if (cmd == "deadletter.list") {
    auto list = store_->listDeadLetters(static_cast<std::size_t>(args.value("limit", 100)));
    if (!list.isOk()) return fail(list.status().toString());
    result = json::array();
    for (const auto& d : *list) {
      result.push_back({{"id", d.reading.id}, {"kind", std::string(readingKindName(d.reading.kind))},
                        {"device", aliaser_->aliasFor(d.reading.device).text()}, {"http_status", d.httpStatus},
                        {"reason", d.reason}, {"attempts", d.attempts}, {"rejected_at", formatUtc(d.rejectedAt)}});
    }
  } else if (cmd == "deadletter.requeue" || cmd == "deadletter.purge") {
    std::vector<std::string> ids;
    if (args.value("all", false)) {
      auto list = store_->listDeadLetters(1000000);
      if (!list.isOk()) return fail(list.status().toString());
      for (const auto& d : *list) ids.push_back(d.reading.id);
    } else if (args.contains("id") && args["id"].is_string()) {
      ids.push_back(args["id"].get<std::string>());
    } else {
      return fail("give an id or all");
    }
    std::size_t done = 0;
    for (const auto& id : ids) {
      Status s = cmd == "deadletter.requeue" ? store_->requeueDeadLetter(id) : store_->purgeDeadLetter(id);
      if (!s.isOk()) return fail(s.toString());
      ++done;
    }
    if (cmd == "deadletter.requeue") {
      std::lock_guard<std::mutex> lock(wakeMutex_);
      wakeRequested_ = true;
      wake_.notify_all();
    }
    result = {{cmd == "deadletter.requeue" ? "requeued" : "purged", done}};
  } else if (cmd == "test.hang-worker" && testFaults_) {
    // Test-only fault switch (RPM_GATEWAY_TEST_FAULTS=1): the worker's beats are ignored, as if it hung.
    heartbeats_.hangForTest(args.value("worker", "delivery"));
    result = {{"hung", args.value("worker", "delivery")}};
  } else if (cmd == "test.mqtt-commit-fault" && testFaults_ && mqtt_) {
    // Test-only fault switches (RPM_GATEWAY_TEST_FAULTS=1) on the nth MQTT message from now on: "kill" raises
    // SIGKILL in the Paho callback before the commit; "ack-without-commit" is a planted loss for the e2e oracle.
    std::uint64_t nth = args.value("nth", std::uint64_t{1});
    std::string fault = args.value("fault", "kill");
    if (fault == "kill") {
      mqtt_->killBeforeCommitForTest(nth);
    } else if (fault == "ack-without-commit") {
      mqtt_->ackWithoutCommitForTest(nth);
    } else {
      return fail("fault must be kill or ack-without-commit");
    }
    result = {{"armed", nth}, {"fault", fault}};
  } else if (cmd == "decommission") {
    auto r = decommission(args, passedFd);
    if (!r.isOk()) return fail(r.status().message());
    result = *r;
  } else if (cmd == "reload") {
    ::kill(::getpid(), SIGHUP);
    result = {{"reloading", true}};
  } else {
    return fail("unknown command '" + cmd.substr(0, 40) + "'");
  }
  response["ok"] = true;
  response["result"] = result;
  return response.dump();
}

void Daemon::reload() {
  notifier_.reloading();
  auto loaded = ConfigLoader(keys_).loadFile(configPath_);
  if (auto* problems = std::get_if<std::vector<ConfigProblem>>(&loaded)) {
    log::error("daemon", "reload refused: the configuration file is invalid; keeping the running one",
               {{"problems", problems->size()}});
    notifier_.ready();
    return;
  }
  const Config& next = std::get<Config>(loaded);
  // Keys applied without a restart; every other changed key is named.
  std::size_t changed = 0;
  for (const auto& k : keys_) {
    if (k.key.find("[]") != std::string::npos || valueText(config_, k) == valueText(next, k)) continue;
    ++changed;
    if (k.key == "logging.level") {
      log::Level level = log::Level::kInfo;
      log::parseLevel(next.string("logging.level"), level);
      log::setLevel(level);
      log::notice("daemon", "reloaded", {log::Field::reviewed("key", k.key)});
    } else {
      log::warning("daemon", "changed key needs a restart to take effect", {log::Field::reviewed("key", k.key)});
    }
  }
  log::notice("daemon", "configuration reloaded", {{"changed_keys", changed}});
  config_ = next;
  if (Status s = seedEnrolments(); !s.isOk()) log::error("daemon", "enrolment seeds not applied", {{"error", s}});
  notifier_.ready();
}

void Daemon::maintenance() {
  auto now = std::chrono::steady_clock::now();
  if (Status s = ingest_->storeClosedWindows(); !s.isOk()) {
    log::error("daemon", "storing aggregation windows failed", {{"error", s}});
  }
  if (now - lastPrune_ > 1h) {
    lastPrune_ = now;
    auto pruned = store_->prune();
    if (!pruned.isOk()) log::warning("daemon", "pruning failed", {{"error", pruned.status()}});
  }
  if (now - lastStatus_ > 10s) {
    lastStatus_ = now;
    notifier_.status(statusLine());
    if (mqtt_) mqtt_->publishHealth(healthSummary().dump());
    if (auto c = store_->counters(); c.isOk()) {
      auto h = delivery_->health();
      metrics::GatewayFigures f;
      f.backlog = c->backlog;
      f.leased = c->leased;
      f.held = c->held;
      f.deadLetters = c->deadLetters;
      if (c->oldestUndeliveredAgeSeconds) f.oldestUndeliveredAgeSeconds = static_cast<std::uint64_t>(*c->oldestUndeliveredAgeSeconds);
      f.bufferDiskBytes = c->diskBytes;
      f.bufferCapBytes = c->capBytes;
      f.deliveryHalted = h.halted;
      f.consecutiveDeliveryFailures = h.consecutiveFailures;
      metrics_.update(f);
    }
    if (bluez_) feedBleRecoveryMetrics(bluez_->health().counters, bleRecoveriesSeen_, metrics_);
  }
  if (auto interval = notifier_.watchdogInterval()) {
    if (now - lastWatchdogCheck_ >= *interval / 2) {
      lastWatchdogCheck_ = now;
      std::vector<std::string> silent;
      if (heartbeats_.allBeatSinceLastCheck(now, &silent)) {
        notifier_.watchdog();
      } else {
        log::error("daemon", "a worker made no progress; withholding the watchdog ping",
                   {{"silent_workers", silent.size()}});
      }
    }
  }
}

int Daemon::run() {
  // Signals are taken by the main thread with sigtimedwait; every thread
  // started below inherits the blocked mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  Status s = setUp();
  if (!s.isOk()) {
    log::error("daemon", "start-up failed", {{"error", s}});
    return s.kind() == ErrorKind::kConfigInvalid || s.kind() == ErrorKind::kForbidden ? 2 : 1;
  }
  std::string runtimeDir = config_.string("hub.runtime_directory");
  std::error_code ec;
  std::filesystem::create_directories(runtimeDir, ec);
  control_ = std::make_unique<ControlServer>(controlSocketPath(config_),
                                             [this](const std::string& l) { return handleControl(l); });
  control_->setRequestHandler([this](const ControlRequest& r) { return handleControl(r.line, r.passedFd); });
  ControlAccess access;
  if (!config_.string("control.admin_group").empty()) {
    auto gid = groupIdOf(config_.string("control.admin_group"));
    if (!gid.isOk()) {
      log::error("daemon", "control socket unavailable", {{"error", gid.status()}});
      return 2;
    }
    access.adminGroup = *gid;
  }
  // Test-only planted bug (RPM_GATEWAY_TEST_FAULTS=1): accept every peer.
  const char* skip = std::getenv("RPM_GATEWAY_TEST_SKIP_PEER_CHECK");
  access.skipPeerCheckForTest = testFaults_ && skip && std::string(skip) == "1";
  access.onRefused = [this] { metrics_.controlConnectionRefused(); };
  control_->setAccess(access);
  control_->setStreamHandler(isPairStreamRequest, [this](const std::string& l, ControlStream& stream) {
    return handlePairStream(enrolment_.get(), l, stream);
  });
  if (Status c = control_->start(); !c.isOk()) {
    log::error("daemon", "control socket unavailable", {{"error", c}});
    return 1;
  }
  deliveryThread_ = std::thread([this] { deliveryWorker(); });
  if (ble_) {
    if (Status b = ble_->start(); !b.isOk()) {
      log::error("daemon", "BLE intake did not start", {{"error", b}});
      return 1;
    }
    if (Status p = enrolment_->start(); !p.isOk()) {
      log::error("daemon", "BLE enrolment did not start", {{"error", p}});
      return 1;
    }
  }
  if (mqtt_) {
    if (Status m = mqtt_->start(); !m.isOk()) {
      log::error("daemon", "MQTT intake did not start", {{"error", m}});
      return 1;
    }
  }
  log::notice("daemon", "started", {{"enrolled_devices", store_->listEnrolments().isOk() ? store_->listEnrolments()->size() : 0}});
  notifier_.ready();
  notifier_.status(statusLine());

  for (;;) {
    timespec timeout{1, 0};
    int sig = sigtimedwait(&set, nullptr, &timeout);
    if (sig == SIGTERM || sig == SIGINT) break;
    if (sig == SIGHUP) reload();
    maintenance();
  }

  notifier_.stopping();
  log::notice("daemon", "stopping");
  control_->stop();
  // Intake stops first (the submit in flight finishes and is acknowledged), then partial windows are stored.
  if (mqtt_) mqtt_->stop();
  if (enrolment_) enrolment_->stop();
  if (ble_) ble_->stop();
  metricsServer_.reset();
  if (Status f = ingest_->flushWindows(); !f.isOk()) log::error("daemon", "partial windows not stored", {{"error", f}});
  {
    std::lock_guard<std::mutex> lock(wakeMutex_);
    stopping_ = true;
    wake_.notify_all();
  }
  deliveryThread_.join();
  log::notice("daemon", "stopped");
  return 0;
}

}  // namespace

std::string controlSocketPath(const Config& config) { return config.string("hub.runtime_directory") + "/control.sock"; }

int runDaemon(const Config& config, const std::string& configPath, const std::vector<ConfigKeySpec>& configKeys) {
  Daemon d(config, configPath, configKeys);
  return d.run();
}

}  // namespace rpm::daemon
