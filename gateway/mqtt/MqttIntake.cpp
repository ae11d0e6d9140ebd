#include "gateway/mqtt/MqttIntake.h"


#include <csignal>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include <mqtt/async_client.h>
#include <nlohmann/json.hpp>

#include "gateway/engine/Backoff.h"
#include "gateway/log/Log.h"
#include "gateway/secrets/SecretFile.h"

namespace rpm::mqtt {

using json = nlohmann::json;
namespace mf = rpm::mqtt_formats;

std::uint64_t MqttIntakeCounters::rejectedTotal() const {
  std::uint64_t n = 0;
  for (auto v : rejected) n += v;
  return n;
}

std::string readingsSubscription(const std::string& prefix) { return prefix + "/devices/+/readings/#"; }
std::string ackTopic(const std::string& prefix, const std::string& device) {
  return prefix + "/devices/" + device + "/acks";
}
std::string statusTopic(const std::string& prefix, const std::string& hub) { return prefix + "/gateway/" + hub + "/status"; }
std::string rejectedTopic(const std::string& prefix, const std::string& hub) {
  return prefix + "/gateway/" + hub + "/rejected";
}

std::string healthTopic(const std::string& prefix, const std::string& hub) { return prefix + "/gateway/" + hub + "/health"; }
std::string commandTopic(const std::string& prefix, const std::string& hub) { return prefix + "/gateway/" + hub + "/commands"; }
std::string pairingTopic(const std::string& prefix, const std::string& hub) { return prefix + "/gateway/" + hub + "/pairing"; }

bool splitReadingsTopic(const std::string& prefix, const std::string& topic, std::string& device, std::string& form) {
  const std::string head = prefix + "/devices/";
  if (topic.compare(0, head.size(), head) != 0) return false;
  auto slash = topic.find('/', head.size());
  if (slash == std::string::npos || slash == head.size()) return false;
  const std::string marker = "/readings/";
  if (topic.compare(slash, marker.size(), marker) != 0) return false;
  device = topic.substr(head.size(), slash - head.size());
  form = topic.substr(slash + marker.size());
  return !form.empty();
}

struct MqttIntake::Impl {
  MqttIntakeOptions options;
  ReadingSink& sink;
  EnrolmentStore& enrolments;
  const Clock& clock;
  const TimeZoneRules& zone;
  const DeviceAliaser& aliaser;
  std::unique_ptr<mf::PayloadParser> parser;
  std::unique_ptr<::mqtt::async_client> client;
  ::mqtt::connect_options connectOptions;

  mutable std::mutex stateMutex;
  mutable std::condition_variable stateChanged;
  bool stopping = false;
  bool started = false;
  bool stopped = false;
  bool subscribed = false;
  bool connectionLost = false;
  std::thread worker;

  // Held while a message is handled, so stop() waits for the submit in flight.
  std::mutex handling;
  std::atomic<bool> refuseNewMessages{false};
  // killBeforeCommitForTest() / ackWithoutCommitForTest(): messages with readings until the fault (0: disarmed).
  std::atomic<std::uint64_t> faultCountdownForTest{0};
  std::atomic<bool> faultAcksWithoutCommitForTest{false};

  mutable std::mutex countersMutex;
  MqttIntakeCounters counters;

  Impl(MqttIntakeOptions o, ReadingSink& s, EnrolmentStore& e, const Clock& c, const TimeZoneRules& z,
       const DeviceAliaser& a)
      : options(std::move(o)), sink(s), enrolments(e), clock(c), zone(z), aliaser(a) {}

  template <typename F>
  void count(F f) {
    std::lock_guard<std::mutex> lock(countersMutex);
    f(counters);
  }

  void publishRejection(const std::string& device, const mf::Rejection& rejection) {
    count([&](MqttIntakeCounters& c) { ++c.rejected[static_cast<std::size_t>(rejection.reason)]; });
    json body = {{"format", "rpm-rejected/1"},
                 {"reason", std::string(mf::rejectReasonName(rejection.reason))},
                 {"detail", rejection.detail}};
    if (!device.empty()) body["device"] = device;
    if (!rejection.messageId.empty()) body["messageId"] = rejection.messageId;
    try {
      // The device learns of a permanent refusal on its own ack topic so it can
      // drop the message; not-enrolled is not permanent (the device keeps it
      // until an operator enrols it).
      if (!device.empty() && !rejection.messageId.empty() && rejection.reason != mf::RejectReason::kNotEnrolled) {
        json notice = {{"format", "rpm-ack/1"},
                       {"messageId", rejection.messageId},
                       {"ids", json::array()},
                       {"rejected", std::string(mf::rejectReasonName(rejection.reason))}};
        client->publish(ackTopic(options.topicPrefix, device), notice.dump(), 1, false);
      }
      client->publish(rejectedTopic(options.topicPrefix, options.hubId), body.dump(), 1, false);
    } catch (const std::exception&) {
      log::warning("mqtt", "rejection not published", {{"reason", "client-not-connected"}});
    }
  }

  void handle(const ::mqtt::const_message_ptr& message) {
    std::lock_guard<std::mutex> busy(handling);
    if (refuseNewMessages.load()) {
      // Paho has already sent PUBACK; no app-level ack goes out, so the
      // device keeps the reading and resends it to the next gateway run.
      count([](MqttIntakeCounters& c) { ++c.ignoredWhileStopping; });
      return;
    }
    if (options.onCommand && message->get_topic() == commandTopic(options.topicPrefix, options.hubId)) {
      // A hub command (the broker ACL lets only the gateway and installer accounts write it).
      options.onCommand(message->get_payload_str());
      return;
    }
    const auto entered = clock.monotonicNow();
    count([](MqttIntakeCounters& c) { ++c.messages; });
    std::string deviceId, form;
    std::optional<DeviceKey> key;
    if (splitReadingsTopic(options.topicPrefix, message->get_topic(), deviceId, form)) key = DeviceKey::mqtt(deviceId);
    if (!key) {
      log::warning("mqtt", "message rejected", {{"reason", "bad-topic"}});
      publishRejection({}, mf::Rejection{mf::RejectReason::kBadTopic, "topic outside <prefix>/devices/<id>/readings/<form>", {}});
      return;
    }
    const DeviceAlias alias = aliaser.aliasFor(*key);
    mf::MessageContext context;
    context.formTopic = form;
    context.device = *key;
    context.receivedAt = clock.now();
    context.utcOffsetMinutes = zone.offsetMinutesAt(context.receivedAt);
    context.zone = &zone;
    const std::string& payload = message->get_payload_str();
    auto parsed = parser->parse(context, payload);
    if (auto* rejection = std::get_if<mf::Rejection>(&parsed)) {
      log::warning("mqtt", "message rejected",
                   {{"device", alias}, log::Field::reviewed("reason", std::string(mf::rejectReasonName(rejection->reason)))});
      publishRejection(deviceId, *rejection);
      return;
    }
    mf::ParsedMessage& readings = std::get<mf::ParsedMessage>(parsed);
    std::optional<std::uint8_t> slot;
    if (!readings.readings.empty()) slot = readings.readings.front().userSlot;
    Result<Enrolment> enrolment = enrolments.findEnrolment(*key, slot);
    if (!enrolment) {
      if (enrolment.status().kind() == ErrorKind::kNotFound) {
        log::warning("mqtt", "message rejected", {{"device", alias}, {"reason", "not-enrolled"}});
        publishRejection(deviceId, mf::Rejection{mf::RejectReason::kNotEnrolled, "device is not enrolled", readings.messageId});
      } else {
        log::error("mqtt", "enrolment lookup failed", {{"device", alias}, {"error", enrolment.status().kind()}});
        count([](MqttIntakeCounters& c) { ++c.submitFailures; });
      }
      return;
    }
    std::vector<std::string> ids;
    std::vector<std::uint32_t> sequences;
    std::vector<std::string> refused;
    const std::size_t n = readings.readings.size();
    std::vector<std::string> producerIds(n);
    std::vector<std::optional<std::uint32_t>> producerSequences(n);
    for (std::size_t i = 0; i < n; ++i) {
      producerIds[i] = readings.readings[i].producerReadingId;
      producerSequences[i] = readings.readings[i].sequence;
    }
    if (n > 0 && faultCountdownForTest.load() > 0 && --faultCountdownForTest == 0) {
      if (!faultAcksWithoutCommitForTest.load()) std::raise(SIGKILL);
      json planted = {{"format", "rpm-ack/1"}, {"ids", producerIds}};
      if (!readings.messageId.empty()) planted["messageId"] = readings.messageId;
      client->publish(ackTopic(options.topicPrefix, deviceId), planted.dump(), 1, false);
      return;
    }
    if (n > 0) {
      Result<AppendReport> report = sink.submit(std::move(readings.readings));
      if (!report) {
        // Nothing durable: no ack, the device keeps the readings and resends.
        log::warning("mqtt", "submit failed; not acknowledged", {{"device", alias}, {"error", report.status().kind()}});
        count([](MqttIntakeCounters& c) { ++c.submitFailures; });
        return;
      }
      std::uint64_t durable = 0;
      std::uint64_t invalid = 0;
      for (std::size_t i = 0; i < n && i < report->outcomes.size(); ++i) {
        const bool isRefused = report->outcomes[i] == AppendOutcome::kInvalid;
        if (isRefused) {
          ++invalid;
          if (!producerIds[i].empty()) refused.push_back(producerIds[i]);
          continue;
        }
        ++durable;
        if (!producerIds[i].empty()) {
          ids.push_back(producerIds[i]);
        } else if (producerSequences[i]) {
          sequences.push_back(*producerSequences[i]);
        }
      }
      count([&](MqttIntakeCounters& c) {
        c.readingsSubmitted += durable;
        c.refusedBySink += invalid;
      });
    }
    json ack = {{"format", "rpm-ack/1"}, {"ids", ids}};
    if (!readings.messageId.empty()) ack["messageId"] = readings.messageId;
    if (!sequences.empty()) ack["sequences"] = sequences;
    if (!refused.empty()) ack["refused"] = refused;
    try {
      client->publish(ackTopic(options.topicPrefix, deviceId), ack.dump(), 1, false);
    } catch (const std::exception&) {
      // The device resends; the duplicate is acknowledged then.
      log::warning("mqtt", "ack not published", {{"device", alias}});
      return;
    }
    const auto window = std::chrono::duration_cast<std::chrono::microseconds>(clock.monotonicNow() - entered);
    count([&](MqttIntakeCounters& c) {
      ++c.acksPublished;
      ++c.ackWindowCount;
      c.ackWindowTotal += window;
      c.ackWindowMax = std::max(c.ackWindowMax, window);
    });
  }

  void run() {
    engine::Backoff backoff(options.reconnectBase, options.reconnectCap, engine::systemRandom());
    std::unique_lock<std::mutex> lock(stateMutex);
    while (!stopping) {
      bool up = false;
      // A loss reported while connecting below stays set, so the wait after a
      // successful connect returns at once and we reconnect.
      connectionLost = false;
      lock.unlock();
      try {
        auto token = client->connect(connectOptions);
        if (!token->wait_for(options.connectTimeout)) throw std::runtime_error("connect timed out");
        auto sub = client->subscribe(readingsSubscription(options.topicPrefix), 1);
        if (!sub->wait_for(options.connectTimeout)) throw std::runtime_error("subscribe timed out");
        const ::mqtt::subscribe_response response = sub->get_subscribe_response();
        const std::vector<::mqtt::ReasonCode> codes = response.get_reason_codes();
        for (auto code : codes) {
          if (code >= 0x80) throw std::runtime_error("subscription refused");
        }
        if (options.onCommand) {
          auto cmd = client->subscribe(commandTopic(options.topicPrefix, options.hubId), 1);
          if (!cmd->wait_for(options.connectTimeout)) throw std::runtime_error("subscribe timed out");
        }
        client->publish(statusTopic(options.topicPrefix, options.hubId), std::string("online"), 1, true)
            ->wait_for(options.connectTimeout);
        up = true;
      } catch (const std::exception&) {
        count([](MqttIntakeCounters& c) { ++c.connectFailures; });
        log::warning("mqtt", "connect failed", {{"error", ErrorKind::kUnavailable}});
        try {
          if (client->is_connected()) client->disconnect()->wait_for(options.connectTimeout);
        } catch (const std::exception&) {
        }
      }
      lock.lock();
      if (up) {
        backoff.reset();
        subscribed = true;
        count([](MqttIntakeCounters& c) { ++c.connects; });
        log::info("mqtt", "connected and subscribed");
        stateChanged.notify_all();
        stateChanged.wait(lock, [&] { return stopping || connectionLost; });
        subscribed = false;
        if (stopping) break;
        count([](MqttIntakeCounters& c) { ++c.connectionsLost; });
        log::warning("mqtt", "connection lost; reconnecting");
      }
      auto delay = std::max(backoff.nextDelay(), std::chrono::milliseconds(20));
      stateChanged.wait_for(lock, delay, [&] { return stopping; });
    }
  }
};

MqttIntake::MqttIntake(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MqttIntake::~MqttIntake() { stop(); }

Result<std::unique_ptr<MqttIntake>> MqttIntake::create(MqttIntakeOptions options, ReadingSink& sink,
                                                       EnrolmentStore& enrolments, const Clock& clock,
                                                       const TimeZoneRules& zone, const DeviceAliaser& aliaser) {
  if (options.clientId.empty()) return Status(ErrorKind::kConfigInvalid, "mqtt.client_id: empty");
  if (options.topicPrefix.empty() || options.topicPrefix.find_first_of("+#") != std::string::npos) {
    return Status(ErrorKind::kConfigInvalid, "mqtt.topic_prefix: empty or has a wildcard");
  }
  std::string uri = options.serverUri;
  if (uri.rfind("mqtts://", 0) == 0) uri = "ssl://" + uri.substr(8);
  if (uri.rfind("mqtt://", 0) == 0) uri = "tcp://" + uri.substr(7);
  const bool tls = uri.rfind("ssl://", 0) == 0;
  if (!tls && uri.rfind("tcp://", 0) != 0) return Status(ErrorKind::kConfigInvalid, "mqtt.uri: not tcp:// or ssl://");
  auto parser = mf::PayloadParser::create(options.formats);
  if (!parser) return parser.status();
  auto impl = std::make_unique<Impl>(std::move(options), sink, enrolments, clock, zone, aliaser);
  impl->parser = std::move(parser).value();
  const MqttIntakeOptions& o = impl->options;
  ::mqtt::connect_options& c = impl->connectOptions;
  c.set_clean_session(false);
  c.set_keep_alive_interval(static_cast<int>(o.keepAlive.count()));
  c.set_connect_timeout(static_cast<int>(std::max<std::int64_t>(1, o.connectTimeout.count() / 1000)));
  c.set_automatic_reconnect(false);  // our loop reconnects with full jitter (Paho's doubles without jitter)
  c.set_will(::mqtt::will_options(statusTopic(o.topicPrefix, o.hubId), std::string("offline"), 1, true));
  if (!o.username.empty()) {
    c.set_user_name(o.username);
    if (!o.passwordFile.empty()) {
      auto password = secrets::readSecret(o.passwordFile, "mqtt-password");
      if (!password) return password.status();
      c.set_password(*password);
    }
  }
  if (tls) {
    ::mqtt::ssl_options ssl;
    if (!o.caFile.empty()) ssl.set_trust_store(o.caFile);
    if (!o.certFile.empty()) ssl.set_key_store(o.certFile);
    if (!o.keyFile.empty()) ssl.set_private_key(o.keyFile);
    ssl.set_enable_server_cert_auth(true);
    ssl.set_verify(true);
    ssl.set_ssl_version(MQTT_SSL_VERSION_TLS_1_2);
    c.set_ssl(ssl);
  }
  try {
    // No Paho persistence: its file store does not fsync and is group-readable;
    // the app-level ack makes the device the keeper of unacknowledged readings.
    impl->client = std::make_unique<::mqtt::async_client>(uri, o.clientId, nullptr);
  } catch (const std::exception&) {
    return Status(ErrorKind::kConfigInvalid, "mqtt.uri: Paho refused the server URI or client id");
  }
  Impl* raw = impl.get();
  impl->client->set_message_callback([raw](::mqtt::const_message_ptr m) {
    try {
      raw->handle(m);
    } catch (const std::exception&) {
      log::error("mqtt", "message handling failed", {{"error", ErrorKind::kInternal}});
    }
  });
  impl->client->set_connection_lost_handler([raw](const std::string&) {
    std::lock_guard<std::mutex> lock(raw->stateMutex);
    raw->connectionLost = true;
    raw->stateChanged.notify_all();
  });
  return std::unique_ptr<MqttIntake>(new MqttIntake(std::move(impl)));
}

Status MqttIntake::start() {
  std::lock_guard<std::mutex> lock(impl_->stateMutex);
  if (impl_->started) return Status(ErrorKind::kInvalidArgument, "mqtt intake already started");
  impl_->started = true;
  Impl* raw = impl_.get();
  impl_->worker = std::thread([raw] { raw->run(); });
  return Status::ok();
}

void MqttIntake::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->stateMutex);
    if (!impl_->started || impl_->stopped) return;
    impl_->stopped = true;
    impl_->stopping = true;
    impl_->stateChanged.notify_all();
  }
  impl_->refuseNewMessages.store(true);
  if (impl_->worker.joinable()) impl_->worker.join();
  { std::lock_guard<std::mutex> busy(impl_->handling); }  // the submit in flight has finished
  try {
    if (impl_->client->is_connected()) {
      impl_->client
          ->publish(statusTopic(impl_->options.topicPrefix, impl_->options.hubId), std::string("offline"), 1, true)
          ->wait_for(impl_->options.connectTimeout);
      impl_->client->disconnect()->wait_for(impl_->options.connectTimeout);
    }
  } catch (const std::exception&) {
    log::warning("mqtt", "disconnect not clean", {{"error", ErrorKind::kUnavailable}});
  }
  log::info("mqtt", "stopped");
}

Status MqttIntake::publishHealth(const std::string& json) {
  try {
    if (!impl_->client->is_connected()) return Status(ErrorKind::kUnavailable, "MQTT broker not connected");
    impl_->client->publish(healthTopic(impl_->options.topicPrefix, impl_->options.hubId), json, 1, true);
    return Status::ok();
  } catch (const std::exception&) {
    return Status(ErrorKind::kUnavailable, "MQTT health publish failed");
  }
}

Status MqttIntake::publishPairing(const std::string& json) {
  try {
    if (!impl_->client->is_connected()) return Status(ErrorKind::kUnavailable, "MQTT broker not connected");
    impl_->client->publish(pairingTopic(impl_->options.topicPrefix, impl_->options.hubId), json, 1, false);
    return Status::ok();
  } catch (const std::exception&) {
    return Status(ErrorKind::kUnavailable, "MQTT pairing publish failed");
  }
}

bool MqttIntake::waitUntilSubscribed(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->stateMutex);
  return impl_->stateChanged.wait_for(lock, timeout, [&] { return impl_->subscribed; });
}

bool MqttIntake::isConnected() const { return impl_->client->is_connected(); }

MqttIntakeCounters MqttIntake::counters() const {
  std::lock_guard<std::mutex> lock(impl_->countersMutex);
  return impl_->counters;
}

void MqttIntake::killBeforeCommitForTest(std::uint64_t nthMessage) {
  impl_->faultAcksWithoutCommitForTest.store(false);
  impl_->faultCountdownForTest.store(nthMessage);
}

void MqttIntake::ackWithoutCommitForTest(std::uint64_t nthMessage) {
  impl_->faultAcksWithoutCommitForTest.store(true);
  impl_->faultCountdownForTest.store(nthMessage);
}

}  // namespace rpm::mqtt
