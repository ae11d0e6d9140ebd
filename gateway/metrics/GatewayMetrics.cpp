#include "gateway/metrics/GatewayMetrics.h"

#include <cstdlib>

namespace rpm::metrics {
namespace {

// Registration of fixed, tested names cannot fail; if it ever did, a
// metrics-less gateway is worse than a loud stop at start-up.
template <class T>
T must(Result<T> r) {
  if (!r.isOk()) std::abort();
  return *r;
}

std::string name(std::string_view v) { return std::string(v); }

}  // namespace

std::string_view deliveryOutcomeName(DeliveryOutcome o) {
  switch (o) {
    case DeliveryOutcome::kCreated: return "created";
    case DeliveryOutcome::kAlreadyPresent: return "already_present";
    case DeliveryOutcome::kRetry: return "retry";
    case DeliveryOutcome::kDeadLettered: return "dead_lettered";
  }
  return "unknown";
}

std::string_view bleRecoveryName(BleRecovery r) {
  switch (r) {
    case BleRecovery::kReconnect: return "reconnect";
    case BleRecovery::kResubscribe: return "resubscribe";
    case BleRecovery::kAdapterReset: return "adapter_reset";
    case BleRecovery::kBluetoothdReturn: return "bluetoothd_return";
  }
  return "unknown";
}

std::string_view transportName(Transport t) {
  switch (t) {
    case Transport::kBle: return "ble";
    case Transport::kMqtt: return "mqtt";
  }
  return "unknown";
}

const std::vector<double>& GatewayMetrics::latencyBucketsSeconds() {
  // From a live link (sub-second) to a hub offline for days: store-and-forward latency spans six decades.
  static const std::vector<double> kBuckets{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400, 604800};
  return kBuckets;
}

GatewayMetrics::GatewayMetrics(const std::string& version) {
  auto* build = must(registry_.gauge("rpm_gateway_build_info", "Version of the running gateway (value is always 1).",
                                     {"version"}));
  build->with({version}).set(1);
  controlRefused_ = must(registry_.counter("rpm_gateway_control_connections_refused_total",
                                           "Control-socket connections refused: not root, the gateway's user or "
                                           "in control.admin_group."));
  received_ = must(registry_.counter("rpm_gateway_readings_received_total",
                                     "Readings accepted from drivers, by reading kind and transport.",
                                     {"kind", "transport"}));
  delivered_ = must(registry_.counter("rpm_gateway_readings_delivered_total",
                                      "Readings the FHIR server confirmed, by reading kind and transport.",
                                      {"kind", "transport"}));
  latency_ = must(registry_.histogram("rpm_gateway_delivery_latency_seconds",
                                      "Time from a reading's receipt by the gateway to its confirmed delivery.", {},
                                      latencyBucketsSeconds()));
  outcomes_ = must(registry_.counter("rpm_gateway_delivery_outcomes_total",
                                     "Per-reading results of delivery attempts (retry: will be sent again).",
                                     {"kind", "outcome"}));
  rejected_ = must(registry_.counter("rpm_gateway_readings_rejected_total",
                                     "Readings or payloads refused before storage, by transport and error kind.",
                                     {"transport", "reason"}));
  bleRecoveries_ = must(registry_.counter("rpm_gateway_ble_recoveries_total",
                                          "Recovery steps the BLE driver took after failures.", {"action"}));
  backlog_ = must(registry_.gauge("rpm_gateway_buffer_backlog_readings", "Undelivered readings in the buffer."));
  leased_ = must(registry_.gauge("rpm_gateway_buffer_leased_readings",
                                 "Readings handed to the uplink and not yet acknowledged."));
  held_ = must(registry_.gauge("rpm_gateway_buffer_held_readings", "Readings waiting for a patient binding."));
  deadLetters_ = must(registry_.gauge("rpm_gateway_buffer_dead_letter_readings",
                                      "Readings the server rejected for good, kept for the operator."));
  oldestAge_ = must(registry_.gauge("rpm_gateway_buffer_oldest_undelivered_age_seconds",
                                    "Age of the oldest undelivered reading (0 when the backlog is empty)."));
  diskBytes_ = must(registry_.gauge("rpm_gateway_buffer_disk_bytes", "Disk space used by the buffer database."));
  capBytes_ = must(registry_.gauge("rpm_gateway_buffer_cap_bytes", "Size cap of the buffer database."));
  halted_ = must(registry_.gauge("rpm_gateway_delivery_halted",
                                 "1 while delivery is halted until an operator acts (403, 404, ...), else 0."));
  failures_ = must(registry_.gauge("rpm_gateway_delivery_consecutive_failures",
                                   "Delivery attempts that failed in a row (0 after a success)."));
}

void GatewayMetrics::controlConnectionRefused() { controlRefused_->get().increment(); }

void GatewayMetrics::readingReceived(ReadingKind kind, Transport transport) {
  received_->with({name(readingKindName(kind)), name(transportName(transport))}).increment();
}

void GatewayMetrics::readingDelivered(ReadingKind kind, Transport transport, std::chrono::microseconds latency) {
  delivered_->with({name(readingKindName(kind)), name(transportName(transport))}).increment();
  auto us = latency.count() < 0 ? 0 : latency.count();
  latency_->get().observe(static_cast<double>(us) / 1e6);
}

void GatewayMetrics::deliveryOutcome(ReadingKind kind, DeliveryOutcome outcome) {
  outcomes_->with({name(readingKindName(kind)), name(deliveryOutcomeName(outcome))}).increment();
}

void GatewayMetrics::readingRejected(Transport transport, ErrorKind reason) {
  rejected_->with({name(transportName(transport)), name(errorKindName(reason))}).increment();
}

void GatewayMetrics::bleRecovery(BleRecovery what) { bleRecoveries_->with({name(bleRecoveryName(what))}).increment(); }

void GatewayMetrics::update(const GatewayFigures& f) {
  backlog_->get().set(static_cast<double>(f.backlog));
  leased_->get().set(static_cast<double>(f.leased));
  held_->get().set(static_cast<double>(f.held));
  deadLetters_->get().set(static_cast<double>(f.deadLetters));
  oldestAge_->get().set(static_cast<double>(f.oldestUndeliveredAgeSeconds.value_or(0)));
  diskBytes_->get().set(static_cast<double>(f.bufferDiskBytes));
  capBytes_->get().set(static_cast<double>(f.bufferCapBytes));
  halted_->get().set(f.deliveryHalted ? 1 : 0);
  failures_->get().set(static_cast<double>(f.consecutiveDeliveryFailures));
}

}  // namespace rpm::metrics
