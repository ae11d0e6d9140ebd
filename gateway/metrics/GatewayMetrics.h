// GatewayMetrics: the gateway's metric families and the calls the daemon
// makes to fill them. Every label value comes from a closed set (reading
// kind names, transports, error kind names, the enums below), so no PHI,
// device identity or free text can reach a scrape.
//
// Wiring in the daemon (one GatewayMetrics for the process, thread-safe):
//   metrics::GatewayMetrics metrics_{RPM_GATEWAY_VERSION};
//   if (config_.boolean("metrics.enabled"))
//     server = metrics::MetricsServer::start(config_.string("metrics.listen_address"),
//                                            config_.integer("metrics.port"), [&] { return metrics_.render(); });
//   ingest:    metrics_.readingReceived(kind, transport) / metrics_.readingRejected(transport, status.kind())
//   delivery:  metrics_.deliveryOutcome(kind, outcome) per reading per attempt, and for confirmed ones
//              metrics_.readingDelivered(kind, transport, now - reading.receivedAt)
//   BLE:       metrics_.bleRecovery(action)
//   each maintenance tick: metrics_.update(figures from SqliteBuffer::counters() and DeliveryLoop::health())
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "gateway/metrics/MetricsRegistry.h"
#include "gateway/model/Reading.h"
#include "gateway/model/Status.h"
#include "gateway/ports/Driver.h"

namespace rpm::metrics {

// What became of one reading in one delivery attempt.
enum class DeliveryOutcome : std::uint8_t {
  kCreated,         // the server stored it (201)
  kAlreadyPresent,  // the server had it already (conditional create matched, 200)
  kRetry,           // transient failure (5xx, 429, timeout, TLS, connection): it will be sent again
  kDeadLettered,    // permanent rejection (400, 410, 422, ...): moved to the dead-letter table
};

// A recovery step the BLE driver took after a failure.
enum class BleRecovery : std::uint8_t {
  kReconnect,         // connection to a device re-established
  kResubscribe,       // notifications/indications re-enabled after a drop
  kAdapterReset,      // the adapter was powered off and on
  kBluetoothdReturn,  // bluetoothd left the bus and came back
};

std::string_view deliveryOutcomeName(DeliveryOutcome o);
std::string_view bleRecoveryName(BleRecovery r);
std::string_view transportName(Transport t);

// Point-in-time figures the daemon reads from the buffer and the delivery
// loop (SqliteBuffer::counters(), DeliveryLoop::health()) and hands over
// with update(); they become gauges.
struct GatewayFigures {
  std::uint64_t backlog = 0;      // undelivered readings, leased ones included
  std::uint64_t leased = 0;       // handed to the uplink, not yet acknowledged
  std::uint64_t held = 0;         // waiting for a patient binding
  std::uint64_t deadLetters = 0;  // permanently rejected, kept for the operator
  std::optional<std::uint64_t> oldestUndeliveredAgeSeconds;  // nullopt: backlog empty
  std::uint64_t bufferDiskBytes = 0;  // database + WAL on disk
  std::uint64_t bufferCapBytes = 0;   // buffer.max_size_mb in bytes
  bool deliveryHalted = false;        // uplink stopped for an operator (403, 404, ...)
  std::uint64_t consecutiveDeliveryFailures = 0;
};

class GatewayMetrics {
 public:
  // version: the gateway's version, shown in rpm_gateway_build_info.
  explicit GatewayMetrics(const std::string& version);

  // A reading accepted into the pipeline from a driver (before the buffer).
  void readingReceived(ReadingKind kind, Transport transport);

  // A control-socket connection refused by the peer-credential check.
  void controlConnectionRefused();
  // A reading the FHIR server confirmed (created or already present).
  // latency = delivery time - Reading::receivedAt; negative values (a wall
  // clock stepped back) are counted as 0.
  void readingDelivered(ReadingKind kind, Transport transport, std::chrono::microseconds latency);
  // The result of one delivery attempt for one reading.
  void deliveryOutcome(ReadingKind kind, DeliveryOutcome outcome);
  // A reading or payload refused before it was stored; reason is the
  // Status kind the refusal carried (malformed-payload, not-bound, storage-full, ...).
  void readingRejected(Transport transport, ErrorKind reason);
  void bleRecovery(BleRecovery what);
  // Replaces the gauges with current figures; call it periodically (the
  // daemon's maintenance tick) or before a scrape.
  void update(const GatewayFigures& figures);

  // Text exposition format 0.0.4 of every family.
  std::string render() const { return registry_.render(); }
  const Registry& registry() const { return registry_; }

  // Upper bounds of the delivery latency buckets, seconds.
  static const std::vector<double>& latencyBucketsSeconds();

 private:
  Registry registry_;
  CounterFamily* received_;
  CounterFamily* controlRefused_;
  CounterFamily* delivered_;
  HistogramFamily* latency_;
  CounterFamily* outcomes_;
  CounterFamily* rejected_;
  CounterFamily* bleRecoveries_;
  GaugeFamily* backlog_;
  GaugeFamily* leased_;
  GaugeFamily* held_;
  GaugeFamily* deadLetters_;
  GaugeFamily* oldestAge_;
  GaugeFamily* diskBytes_;
  GaugeFamily* capBytes_;
  GaugeFamily* halted_;
  GaugeFamily* failures_;
};

}  // namespace rpm::metrics
