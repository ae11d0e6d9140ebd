#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gateway/config/Config.h"
#include "gateway/mqtt/MqttIntake.h"
#include "gateway/mqtt/MqttTemplatesConfig.h"
#include "gateway/time/IanaTimeZone.h"
#include "tests/support/FakeClock.h"

using namespace rpm;

namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const char* kBase = R"(
[hub]
id = "hub-7"
timezone = "Europe/Berlin"
[fhir]
base_url = "http://127.0.0.1:8080/fhir"
[mqtt]
enabled = true
)";

class NullSink final : public ReadingSink {
 public:
  Result<AppendReport> submit(std::vector<Reading>) override { return AppendReport{}; }
};

class NoEnrolments final : public EnrolmentStore {
 public:
  Status putEnrolment(const Enrolment&) override { return Status::ok(); }
  Status removeEnrolment(const DeviceKey&, std::optional<std::uint8_t>) override { return Status::ok(); }
  Result<Enrolment> findEnrolment(const DeviceKey&, std::optional<std::uint8_t>) override {
    return Status(ErrorKind::kNotFound, "none");
  }
  Result<std::vector<Enrolment>> listEnrolments() override { return std::vector<Enrolment>{}; }
  Result<std::uint64_t> releaseHeldReadings(const DeviceKey&, std::optional<std::uint8_t>) override {
    return std::uint64_t{0};
  }
};

}  // namespace

TEST_CASE("readings topics split into device and form, other topics do not", "[mqtt]") {
  std::string device, form;
  CHECK(mqtt::splitReadingsTopic("rpm", "rpm/devices/cuff-1/readings/native", device, form));
  CHECK(device == "cuff-1");
  CHECK(form == "native");
  CHECK(mqtt::splitReadingsTopic("rpm", "rpm/devices/s/readings/acme/scale", device, form));
  CHECK(form == "acme/scale");
  CHECK_FALSE(mqtt::splitReadingsTopic("rpm", "rpm/devices/s/readings/", device, form));
  CHECK_FALSE(mqtt::splitReadingsTopic("rpm", "rpm/devices//readings/native", device, form));
  CHECK_FALSE(mqtt::splitReadingsTopic("rpm", "rpm/devices/s/acks", device, form));
  CHECK_FALSE(mqtt::splitReadingsTopic("rpm", "other/devices/s/readings/native", device, form));
  CHECK(mqtt::readingsSubscription("rpm") == "rpm/devices/+/readings/#");
  CHECK(mqtt::ackTopic("rpm", "cuff-1") == "rpm/devices/cuff-1/acks");
  CHECK(mqtt::statusTopic("rpm", "hub-7") == "rpm/gateway/hub-7/status");
  CHECK(mqtt::rejectedTopic("rpm", "hub-7") == "rpm/gateway/hub-7/rejected");
}

TEST_CASE("the shipped example templates load from a config file into intake options", "[mqtt]") {
  std::string text = std::string(kBase) + readFile(std::string(RPM_SOURCE_DIR) + "/docs/examples/mqtt-templates.toml");
  auto loaded = ConfigLoader(gatewayConfigKeys()).loadString(text, "example.toml");
  if (auto* problems = std::get_if<std::vector<ConfigProblem>>(&loaded)) {
    for (const auto& p : *problems) UNSCOPED_INFO(p.toString());
    FAIL("config refused");
  }
  auto options = mqtt::intakeOptionsFromConfig(std::get<Config>(loaded));
  REQUIRE(options.isOk());
  CHECK(options->clientId == "rpm-gateway-hub-7");
  CHECK(options->hubId == "hub-7");
  REQUIRE(options->formats.templates.size() == 2);
  CHECK(options->formats.templates[0].name == "acme-scale");
  CHECK(options->formats.templates[0].components[0].conversion.has_value());
  CHECK(options->formats.templates[1].components.size() == 3);
}

TEST_CASE("a template row with a mistake is refused naming the template", "[mqtt]") {
  std::string text = std::string(kBase) + R"(
[[mqtt_templates]]
name = "broken"
kind = "body-weight"
values = ["body-weight=/w"]
units = ["body-weight=kg"]
convert = ["body-weight=[degF]->Cel"]
)";
  auto loaded = ConfigLoader(gatewayConfigKeys()).loadString(text, "broken.toml");
  REQUIRE(std::holds_alternative<Config>(loaded));
  auto options = mqtt::intakeOptionsFromConfig(std::get<Config>(loaded));
  CHECK(options.status().kind() == ErrorKind::kConfigInvalid);
  CHECK(options.status().message().find("'broken'") != std::string::npos);
}

TEST_CASE("an intake is not created from a bad URI, prefix or client id", "[mqtt]") {
  NullSink sink;
  NoEnrolments enrolments;
  test::FakeClock clock;
  auto zone = IanaTimeZone::load("Europe/Berlin");
  REQUIRE(zone.isOk());
  DeviceAliaser aliaser({1, 2, 3});
  mqtt::MqttIntakeOptions o;
  o.clientId = "gw";
  o.serverUri = "http://127.0.0.1:1883";
  CHECK(mqtt::MqttIntake::create(o, sink, enrolments, clock, **zone, aliaser).status().kind() == ErrorKind::kConfigInvalid);
  o.serverUri = "tcp://127.0.0.1:1883";
  o.topicPrefix = "rpm/#";
  CHECK(mqtt::MqttIntake::create(o, sink, enrolments, clock, **zone, aliaser).status().kind() == ErrorKind::kConfigInvalid);
  o.topicPrefix = "rpm";
  o.clientId = "";
  CHECK(mqtt::MqttIntake::create(o, sink, enrolments, clock, **zone, aliaser).status().kind() == ErrorKind::kConfigInvalid);
  o.clientId = "gw";
  auto ok = mqtt::MqttIntake::create(o, sink, enrolments, clock, **zone, aliaser);
  CHECK(ok.isOk());
}
