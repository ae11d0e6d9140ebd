#include <catch2/catch.hpp>

#include "gateway/config/Config.h"

using namespace rpm;

namespace {

const char* kMinimal = R"(
[hub]
id = "hub-0001"
timezone = "Europe/Berlin"

[fhir]
base_url = "http://127.0.0.1:8080/fhir"
)";

std::vector<ConfigProblem> problemsOf(const std::string& text) {
  auto r = ConfigLoader(gatewayConfigKeys()).loadString(text, "gateway.toml");
  auto* p = std::get_if<std::vector<ConfigProblem>>(&r);
  return p ? *p : std::vector<ConfigProblem>{};
}

Config load(const std::string& text) {
  auto r = ConfigLoader(gatewayConfigKeys()).loadString(text, "gateway.toml");
  if (auto* p = std::get_if<std::vector<ConfigProblem>>(&r)) {
    for (auto& x : *p) FAIL(x.toString());
  }
  return std::get<Config>(r);
}

}  // namespace

TEST_CASE("A minimal file is valid and every other key takes its default", "[unit][config]") {
  Config c = load(kMinimal);
  CHECK(c.string("hub.timezone") == "Europe/Berlin");
  CHECK(c.integer("fhir.batch_size") == 50);
  CHECK(c.string("buffer.durability") == "power-loss");
  CHECK(c.boolean("mqtt.enabled") == false);
  CHECK(c.tables("devices").empty());
}

TEST_CASE("Device enrolment seeds are read as an array of tables", "[unit][config]") {
  Config c = load(std::string(kMinimal) + R"(
[[devices]]
key = "bt:B0:49:5F:00:10:71"
patient = "Patient/123"
user_slot = 1

[[devices]]
key = "mqtt:scale-01"
patient = "Patient/456"
)");
  REQUIRE(c.tables("devices").size() == 2);
  CHECK(c.tables("devices")[0].string("key") == "bt:B0:49:5F:00:10:71");
  CHECK(c.tables("devices")[0].integer("user_slot") == 1);
  CHECK(c.tables("devices")[1].integer("user_slot") == 0);
  CHECK(c.tables("devices")[1].string("driver") == "");
}

TEST_CASE("Each problem names the line, the key and what is wrong", "[unit][config]") {
  auto problems = problemsOf(R"(
[hub]
id = "hub-0001"
timezone = "Mars/Olympus_Mons"
colour = "blue"

[fhir]
base_url = "ftp://example.org"
batch_size = 9000
gzip_requests = "yes"

[[devices]]
key = "bt:not-an-address"
)");
  std::vector<std::string> lines;
  for (auto& p : problems) lines.push_back(p.toString());
  CHECK(lines == std::vector<std::string>{
                     "gateway.toml:4: hub.timezone: not a time zone known to the system tz database (IANA name expected)",
                     "gateway.toml:5: hub.colour: unknown key",
                     "gateway.toml:8: fhir.base_url: must be an http:// or https:// URL",
                     "gateway.toml:9: fhir.batch_size: out of range: must be between 1 and 500",
                     "gateway.toml:10: fhir.gzip_requests: wrong type: expected boolean",
                     "gateway.toml:12: devices[0].patient: required key is missing",
                     "gateway.toml:13: devices[0].key: must be bt:<address>, sysid:<16 hex digits> or mqtt:<identity>",
                 });
}

TEST_CASE("Missing required keys and unknown tables are reported", "[unit][config]") {
  auto problems = problemsOf("[hub]\nid = \"x\"\n[telemetry]\nurl = \"x\"\n");
  std::vector<std::string> lines;
  for (auto& p : problems) lines.push_back(p.toString());
  CHECK(lines == std::vector<std::string>{"gateway.toml:3: telemetry: unknown table",
                                          "gateway.toml: hub.timezone: required key is missing",
                                          "gateway.toml: fhir.base_url: required key is missing"});
}

TEST_CASE("Syntax errors and unreadable files are reported, never thrown", "[unit][config]") {
  auto problems = problemsOf("[hub\nid = 1\n");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].line == 1);
  CHECK(problems[0].what.rfind("TOML syntax error", 0) == 0);
  auto r = ConfigLoader(gatewayConfigKeys()).loadFile("/nonexistent/gateway.toml");
  auto* p = std::get_if<std::vector<ConfigProblem>>(&r);
  REQUIRE(p);
  CHECK((*p)[0].toString() == "/nonexistent/gateway.toml: cannot read the file (missing or not readable)");
}

TEST_CASE("Problem messages never echo the offending value", "[unit][config]") {
  auto problems = problemsOf(std::string(kMinimal) + "[[devices]]\nkey = \"bt:SECRET-VALUE\"\npatient = \"Patient/has space\"\n");
  REQUIRE(problems.size() == 2);
  for (auto& p : problems) CHECK(p.toString().find("SECRET") == std::string::npos);
  for (auto& p : problems) CHECK(p.toString().find("has space") == std::string::npos);
}

TEST_CASE("The help text lists every key with type and default", "[unit][config]") {
  std::string help = formatConfigHelp(gatewayConfigKeys());
  CHECK(help.find("fhir.batch_size (integer, default 50, 1..500)") != std::string::npos);
  CHECK(help.find("hub.timezone (string, required)") != std::string::npos);
  CHECK(help.find("one of: power-loss process-crash") != std::string::npos);
}
