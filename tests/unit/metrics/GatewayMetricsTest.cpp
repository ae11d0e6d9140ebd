// The gateway's families: names, labels from closed sets, and the figures
// the daemon hands over.
#include <catch2/catch.hpp>

#include "gateway/metrics/GatewayMetrics.h"

using namespace rpm;
using namespace rpm::metrics;
using namespace std::chrono_literals;

namespace {

// The sample lines of one family (no comments).
std::string samplesOf(const std::string& text, const std::string& family) {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind(family, 0) == 0 && (line[family.size()] == '{' || line[family.size()] == ' ' ||
                                       line[family.size()] == '_')) {
      out += line + "\n";
    }
  }
  return out;
}

}  // namespace

TEST_CASE("Readings in and out are counted per reading kind and transport") {
  GatewayMetrics m("1.2.3");
  m.readingReceived(ReadingKind::kBloodPressure, Transport::kBle);
  m.readingReceived(ReadingKind::kBloodPressure, Transport::kBle);
  m.readingReceived(ReadingKind::kBodyWeight, Transport::kMqtt);
  m.readingDelivered(ReadingKind::kBodyWeight, Transport::kMqtt, 1500ms);
  std::string text = m.render();
  CHECK(samplesOf(text, "rpm_gateway_readings_received_total") ==
        "rpm_gateway_readings_received_total{kind=\"blood-pressure\",transport=\"ble\"} 2\n"
        "rpm_gateway_readings_received_total{kind=\"body-weight\",transport=\"mqtt\"} 1\n");
  CHECK(samplesOf(text, "rpm_gateway_readings_delivered_total") ==
        "rpm_gateway_readings_delivered_total{kind=\"body-weight\",transport=\"mqtt\"} 1\n");
  CHECK(text.find("rpm_gateway_build_info{version=\"1.2.3\"} 1\n") != std::string::npos);
}

TEST_CASE("Delivery latency is observed in seconds; a negative latency from a stepped clock counts as zero") {
  GatewayMetrics m("0");
  m.readingDelivered(ReadingKind::kGlucose, Transport::kBle, 250ms);
  m.readingDelivered(ReadingKind::kGlucose, Transport::kBle, std::chrono::hours(2));
  m.readingDelivered(ReadingKind::kGlucose, Transport::kBle, -5s);
  std::string s = samplesOf(m.render(), "rpm_gateway_delivery_latency_seconds");
  CHECK(s.find("rpm_gateway_delivery_latency_seconds_bucket{le=\"0.1\"} 1\n") != std::string::npos);
  CHECK(s.find("rpm_gateway_delivery_latency_seconds_bucket{le=\"0.25\"} 2\n") != std::string::npos);
  CHECK(s.find("rpm_gateway_delivery_latency_seconds_bucket{le=\"3600\"} 2\n") != std::string::npos);
  CHECK(s.find("rpm_gateway_delivery_latency_seconds_bucket{le=\"14400\"} 3\n") != std::string::npos);
  CHECK(s.find("rpm_gateway_delivery_latency_seconds_bucket{le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(s.find("rpm_gateway_delivery_latency_seconds_sum 7200.25\n") != std::string::npos);
  CHECK(s.find("rpm_gateway_delivery_latency_seconds_count 3\n") != std::string::npos);
}

TEST_CASE("Outcomes, rejections and BLE recoveries use the closed names of their enums") {
  GatewayMetrics m("0");
  m.deliveryOutcome(ReadingKind::kPulseOximetry, DeliveryOutcome::kRetry);
  m.deliveryOutcome(ReadingKind::kPulseOximetry, DeliveryOutcome::kRetry);
  m.deliveryOutcome(ReadingKind::kPulseOximetry, DeliveryOutcome::kCreated);
  m.deliveryOutcome(ReadingKind::kEcg, DeliveryOutcome::kDeadLettered);
  m.deliveryOutcome(ReadingKind::kEcg, DeliveryOutcome::kAlreadyPresent);
  m.readingRejected(Transport::kMqtt, ErrorKind::kMalformedPayload);
  m.readingRejected(Transport::kBle, ErrorKind::kStorageFull);
  m.bleRecovery(BleRecovery::kReconnect);
  m.bleRecovery(BleRecovery::kAdapterReset);
  m.bleRecovery(BleRecovery::kResubscribe);
  m.bleRecovery(BleRecovery::kBluetoothdReturn);
  std::string text = m.render();
  CHECK(samplesOf(text, "rpm_gateway_delivery_outcomes_total") ==
        "rpm_gateway_delivery_outcomes_total{kind=\"ecg\",outcome=\"already_present\"} 1\n"
        "rpm_gateway_delivery_outcomes_total{kind=\"ecg\",outcome=\"dead_lettered\"} 1\n"
        "rpm_gateway_delivery_outcomes_total{kind=\"pulse-oximetry\",outcome=\"created\"} 1\n"
        "rpm_gateway_delivery_outcomes_total{kind=\"pulse-oximetry\",outcome=\"retry\"} 2\n");
  CHECK(samplesOf(text, "rpm_gateway_readings_rejected_total") ==
        "rpm_gateway_readings_rejected_total{transport=\"ble\",reason=\"" + std::string(errorKindName(ErrorKind::kStorageFull)) + "\"} 1\n"
        "rpm_gateway_readings_rejected_total{transport=\"mqtt\",reason=\"" + std::string(errorKindName(ErrorKind::kMalformedPayload)) + "\"} 1\n");
  CHECK(samplesOf(text, "rpm_gateway_ble_recoveries_total") ==
        "rpm_gateway_ble_recoveries_total{action=\"adapter_reset\"} 1\n"
        "rpm_gateway_ble_recoveries_total{action=\"bluetoothd_return\"} 1\n"
        "rpm_gateway_ble_recoveries_total{action=\"reconnect\"} 1\n"
        "rpm_gateway_ble_recoveries_total{action=\"resubscribe\"} 1\n");
}

TEST_CASE("The figures the daemon hands over become gauges; an empty backlog has age 0") {
  GatewayMetrics m("0");
  GatewayFigures f;
  f.backlog = 123;
  f.leased = 50;
  f.held = 2;
  f.deadLetters = 1;
  f.oldestUndeliveredAgeSeconds = 3600;
  f.bufferDiskBytes = 4194304;
  f.bufferCapBytes = 268435456;
  f.deliveryHalted = true;
  f.consecutiveDeliveryFailures = 7;
  m.update(f);
  std::string text = m.render();
  CHECK(samplesOf(text, "rpm_gateway_buffer") ==
        "rpm_gateway_buffer_backlog_readings 123\n"
        "rpm_gateway_buffer_leased_readings 50\n"
        "rpm_gateway_buffer_held_readings 2\n"
        "rpm_gateway_buffer_dead_letter_readings 1\n"
        "rpm_gateway_buffer_oldest_undelivered_age_seconds 3600\n"
        "rpm_gateway_buffer_disk_bytes 4194304\n"
        "rpm_gateway_buffer_cap_bytes 268435456\n");
  CHECK(samplesOf(text, "rpm_gateway_delivery_halted") == "rpm_gateway_delivery_halted 1\n");
  CHECK(samplesOf(text, "rpm_gateway_delivery_consecutive_failures") ==
        "rpm_gateway_delivery_consecutive_failures 7\n");
  m.update(GatewayFigures{});
  CHECK(samplesOf(m.render(), "rpm_gateway_buffer_oldest_undelivered_age_seconds") ==
        "rpm_gateway_buffer_oldest_undelivered_age_seconds 0\n");
}

TEST_CASE("Refused control-socket connections are counted") {
  GatewayMetrics m("1.2.3");
  CHECK(samplesOf(m.render(), "rpm_gateway_control_connections_refused_total") ==
        "rpm_gateway_control_connections_refused_total 0\n");
  m.controlConnectionRefused();
  m.controlConnectionRefused();
  CHECK(samplesOf(m.render(), "rpm_gateway_control_connections_refused_total") ==
        "rpm_gateway_control_connections_refused_total 2\n");
}

TEST_CASE("Every reading kind's name is a valid label value that needs no escaping") {
  GatewayMetrics m("0");
  for (int k = 1; k <= 11; ++k) {
    m.readingReceived(static_cast<ReadingKind>(k), Transport::kBle);
  }
  std::string s = samplesOf(m.render(), "rpm_gateway_readings_received_total");
  CHECK(std::count(s.begin(), s.end(), '\n') == 11);
  CHECK(s.find('\\') == std::string::npos);
}
