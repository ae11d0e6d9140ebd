// MqttIntake: readings from MQTT devices and bridges (docs/mqtt.md).
//
// The only module that includes Paho. One async client with a fixed client id
// and a persistent session subscribes at QoS 1 to
//   <prefix>/devices/+/readings/#
// A message's device identity is the topic segment after devices/ (the broker's
// per-device ACL makes it the authenticated identity); it must be enrolled.
// Messages are parsed (drivers/mqtt_formats), submitted to the ReadingSink,
// and only after submit() reports them durable is an application-level ack
// published on <prefix>/devices/<device>/acks. A failed submit publishes
// nothing: the device keeps the reading and resends it. Refused messages are
// reported on <prefix>/gateway/<hub>/rejected (reason and message id only).
// <prefix>/gateway/<hub>/status is retained "online", with last will "offline".
// With onCommand set it also subscribes to <prefix>/gateway/<hub>/commands
// (writable only by the gateway and the installer account in the broker ACL);
// pairing events go out on <prefix>/gateway/<hub>/pairing.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "drivers/mqtt_formats/MqttFormats.h"
#include "gateway/identity/Identifiers.h"
#include "gateway/model/Status.h"
#include "gateway/ports/Clock.h"
#include "gateway/ports/EnrolmentStore.h"
#include "gateway/ports/ReadingSink.h"
#include "gateway/ports/TimeZoneRules.h"

namespace rpm::mqtt {

struct MqttIntakeOptions {
  std::string serverUri = "tcp://127.0.0.1:1883";  // tcp:// or ssl://
  std::string clientId;                            // fixed: the broker keeps the session under it
  std::string hubId = "hub";                       // <prefix>/gateway/<hubId>/...
  std::string topicPrefix = "rpm";
  std::string username;
  std::string passwordFile;  // secret file (0600), read at start(); or $CREDENTIALS_DIRECTORY/mqtt-password
  std::string caFile;        // verify the broker (ssl://)
  std::string certFile;      // client certificate (ssl://, broker with require_certificate)
  std::string keyFile;
  std::chrono::seconds keepAlive{30};
  std::chrono::milliseconds connectTimeout{10000};
  std::chrono::milliseconds reconnectBase{500};  // full-jitter backoff between connect attempts
  std::chrono::milliseconds reconnectCap{30000};
  mqtt_formats::ParserOptions formats;            // payload limit and vendor templates
  // Hub commands (docs/mqtt.md "Hub commands"); called on Paho's thread with
  // the payload; must not block. Unset: the command topic is not subscribed.
  std::function<void(const std::string& payload)> onCommand;
};

struct MqttIntakeCounters {
  std::uint64_t messages = 0;          // messages received on the readings topics
  std::uint64_t readingsSubmitted = 0;  // readings the sink reported durable
  std::uint64_t acksPublished = 0;
  std::uint64_t submitFailures = 0;    // sink failed: nothing acknowledged, the device resends
  std::uint64_t refusedBySink = 0;     // kInvalid outcomes
  std::uint64_t ignoredWhileStopping = 0;
  std::uint64_t connects = 0;
  std::uint64_t connectionsLost = 0;
  std::uint64_t connectFailures = 0;
  std::array<std::uint64_t, mqtt_formats::kRejectReasonCount> rejected{};  // by RejectReason value
  // Window between Paho's PUBACK (sent before the callback) and our app-level
  // ack, measured from callback entry to the ack publish (monotonic clock).
  std::uint64_t ackWindowCount = 0;
  std::chrono::microseconds ackWindowTotal{0};
  std::chrono::microseconds ackWindowMax{0};

  std::uint64_t rejectedTotal() const;
};

class MqttIntake {
 public:
  // Builds the parser and the client; connects nothing yet. kConfigInvalid
  // for a bad URI, template or credential file.
  static Result<std::unique_ptr<MqttIntake>> create(MqttIntakeOptions options, ReadingSink& sink,
                                                    EnrolmentStore& enrolments, const Clock& clock,
                                                    const TimeZoneRules& zone, const DeviceAliaser& aliaser);
  ~MqttIntake();
  MqttIntake(const MqttIntake&) = delete;
  MqttIntake& operator=(const MqttIntake&) = delete;

  // Starts the connection thread; returns at once. The thread connects,
  // subscribes, and reconnects with jittered backoff until stop().
  Status start();
  // Stops taking messages, lets the message being handled finish its submit
  // (and ack), publishes "offline" and disconnects. Idempotent.
  void stop();

  // Publishes the hub's health summary (JSON without PHI: counts, states,
  // times) retained on <prefix>/gateway/<hub>/health. Does not wait for the
  // broker; kUnavailable when not connected.
  Status publishHealth(const std::string& json);
  // Publishes one pairing event (JSON, aliases only) on <prefix>/gateway/<hub>/pairing at QoS 1.
  Status publishPairing(const std::string& json);

  // True once connected and subscribed (readiness for the daemon and tests).
  bool waitUntilSubscribed(std::chrono::milliseconds timeout) const;
  bool isConnected() const;
  MqttIntakeCounters counters() const;

  // Test-only fault switches (the daemon arms them only under RPM_GATEWAY_TEST_FAULTS=1), for the end-to-end
  // reliability tests (tests/integration/daemon_e2e). Both act on the nth message with readings from now on:
  // killBeforeCommitForTest raises SIGKILL inside the Paho message callback, after Paho's PUBACK decision and
  // before the readings are committed, as a crash there would; ackWithoutCommitForTest is a planted bug that
  // acknowledges the message to its device and drops it (the tests' oracle must report the loss).
  void killBeforeCommitForTest(std::uint64_t nthMessage);
  void ackWithoutCommitForTest(std::uint64_t nthMessage);

  struct Impl;

 private:
  explicit MqttIntake(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Topic helpers (documented in docs/mqtt.md).
std::string readingsSubscription(const std::string& prefix);                  // <prefix>/devices/+/readings/#
std::string ackTopic(const std::string& prefix, const std::string& device);   // <prefix>/devices/<device>/acks
std::string statusTopic(const std::string& prefix, const std::string& hub);   // <prefix>/gateway/<hub>/status
std::string rejectedTopic(const std::string& prefix, const std::string& hub); // <prefix>/gateway/<hub>/rejected
std::string healthTopic(const std::string& prefix, const std::string& hub);   // <prefix>/gateway/<hub>/health
std::string commandTopic(const std::string& prefix, const std::string& hub);  // <prefix>/gateway/<hub>/commands
std::string pairingTopic(const std::string& prefix, const std::string& hub);  // <prefix>/gateway/<hub>/pairing

// Splits <prefix>/devices/<device>/readings/<form...>; false if it is not that shape.
bool splitReadingsTopic(const std::string& prefix, const std::string& topic, std::string& device, std::string& form);

}  // namespace rpm::mqtt
