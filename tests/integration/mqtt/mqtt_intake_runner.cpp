// A gateway process reduced to MQTT intake + buffer, for the kill-inside-the-
// PUBACK-window test: mqtt_intake_runner <buffer.db> <ready-file>.
// With RPM_TEST_HANG_IN_SUBMIT=<file>, the first submit writes <file> and hangs
// before committing: the moment Paho has PUBACKed and nothing is durable.
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "buffer/SqliteBuffer.h"
#include "gateway/identity/Identifiers.h"
#include "gateway/mqtt/MqttIntake.h"
#include "gateway/time/IanaTimeZone.h"
#include "gateway/time/SystemClock.h"

using namespace rpm;

namespace {
volatile std::sig_atomic_t gStop = 0;

class HangingSink final : public ReadingSink {
 public:
  explicit HangingSink(buffer::SqliteBuffer& b) : buffer_(b) {}
  Result<AppendReport> submit(std::vector<Reading> readings) override {
    if (const char* hang = std::getenv("RPM_TEST_HANG_IN_SUBMIT")) {
      std::ofstream(hang) << "in submit\n";
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));  // killed here
    }
    for (auto& r : readings) {
      r.id = computeReadingId(r);
      auto e = buffer_.findEnrolment(r.device, r.userSlot);
      if (e) r.subject = e->patient;
    }
    return buffer_.append(readings);
  }

 private:
  buffer::SqliteBuffer& buffer_;
};
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  std::signal(SIGTERM, [](int) { gStop = 1; });
  SystemClock clock;
  buffer::BufferOptions bo;
  bo.path = argv[1];
  auto buffer = buffer::SqliteBuffer::open(bo, clock);
  if (!buffer) return 3;
  Enrolment e;
  e.device = *DeviceKey::mqtt("device1");
  e.patient = "Patient/runner";
  e.transport = Transport::kMqtt;
  e.enrolledAt = clock.now();
  if (!(*buffer)->putEnrolment(e).isOk()) return 3;
  HangingSink sink(**buffer);
  auto zone = IanaTimeZone::load("UTC");
  if (!zone) return 3;
  DeviceAliaser aliaser({9, 9, 9});
  mqtt::MqttIntakeOptions o;
  o.serverUri = std::getenv("RPM_TEST_MQTT_URI");
  o.clientId = "rpm-gateway-runner";
  o.hubId = "hub-runner";
  o.reconnectBase = std::chrono::milliseconds(50);
  const std::string mode = std::getenv("RPM_TEST_MQTT_MODE") ? std::getenv("RPM_TEST_MQTT_MODE") : "";
  if (mode == "password") {
    o.username = "gateway";
    o.passwordFile = std::string(argv[1]) + ".pw";
    std::ofstream(o.passwordFile) << std::getenv("RPM_TEST_MQTT_PASSWORD_GATEWAY");
    ::chmod(o.passwordFile.c_str(), 0600);
  }
  if (mode == "tls") {
    o.caFile = std::getenv("RPM_TEST_MQTT_CA_FILE");
    o.certFile = std::getenv("RPM_TEST_MQTT_CERT_GATEWAY");
    o.keyFile = std::getenv("RPM_TEST_MQTT_KEY_GATEWAY");
  }
  auto intake = mqtt::MqttIntake::create(o, sink, **buffer, clock, **zone, aliaser);
  if (!intake || !(*intake)->start().isOk() || !(*intake)->waitUntilSubscribed(std::chrono::seconds(20))) return 4;
  std::ofstream(argv[2]) << "subscribed\n";
  while (gStop == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  (*intake)->stop();
  return 0;
}
