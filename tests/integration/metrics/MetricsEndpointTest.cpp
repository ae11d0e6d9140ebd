// The metrics endpoint for real: a server on a loopback port the kernel
// picks, scraped over TCP with libcurl; the scraped text is checked by an
// independent reader of the exposition format. Non-loopback addresses are
// refused by the config table and by the server itself.
#include <catch2/catch.hpp>
#include <curl/curl.h>

#include <thread>

#include "gateway/config/Config.h"
#include "gateway/metrics/GatewayMetrics.h"
#include "gateway/metrics/MetricsServer.h"
#include "tests/integration/metrics/ExpositionCheck.h"

using namespace rpm;
using namespace rpm::metrics;
using namespace std::chrono_literals;

namespace {

struct Scrape {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string contentType;
  std::string body;
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

Scrape scrape(const std::string& url, bool post = false) {
  Scrape r;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  if (post) curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
  r.code = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  char* ct = nullptr;
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
  if (ct) r.contentType = ct;
  curl_easy_cleanup(c);
  return r;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

void fill(GatewayMetrics& m) {
  m.readingReceived(ReadingKind::kBloodPressure, Transport::kBle);
  m.readingReceived(ReadingKind::kBodyWeight, Transport::kMqtt);
  m.readingDelivered(ReadingKind::kBloodPressure, Transport::kBle, 800ms);
  m.readingDelivered(ReadingKind::kBodyWeight, Transport::kMqtt, 90min);
  m.deliveryOutcome(ReadingKind::kBloodPressure, DeliveryOutcome::kRetry);
  m.deliveryOutcome(ReadingKind::kBloodPressure, DeliveryOutcome::kCreated);
  m.readingRejected(Transport::kMqtt, ErrorKind::kMalformedPayload);
  m.bleRecovery(BleRecovery::kReconnect);
  GatewayFigures f;
  f.backlog = 5;
  f.oldestUndeliveredAgeSeconds = 42;
  f.bufferDiskBytes = 65536;
  f.bufferCapBytes = 1048576;
  m.update(f);
}

}  // namespace

TEST_CASE("The endpoint on 127.0.0.1 serves well-formed exposition text with the 0.0.4 content type") {
  GatewayMetrics m("9.9.9");
  fill(m);
  auto server = MetricsServer::start("127.0.0.1", 0, [&m] { return m.render(); });
  REQUIRE(server.isOk());
  REQUIRE((*server)->port() != 0);
  Scrape r = scrape("http://127.0.0.1:" + std::to_string((*server)->port()) + "/metrics");
  REQUIRE(r.code == CURLE_OK);
  CHECK(r.status == 200);
  CHECK(r.contentType == "text/plain; version=0.0.4; charset=utf-8");
  test::Exposition ex;
  INFO(r.body);
  CHECK(joined(test::checkExposition(r.body, &ex)).empty());
  CHECK(r.body == m.render());
  // Every family the gateway declares is there, with its type.
  CHECK(ex.types["rpm_gateway_readings_received_total"] == "counter");
  CHECK(ex.types["rpm_gateway_readings_delivered_total"] == "counter");
  CHECK(ex.types["rpm_gateway_delivery_latency_seconds"] == "histogram");
  CHECK(ex.types["rpm_gateway_delivery_outcomes_total"] == "counter");
  CHECK(ex.types["rpm_gateway_readings_rejected_total"] == "counter");
  CHECK(ex.types["rpm_gateway_ble_recoveries_total"] == "counter");
  CHECK(ex.types["rpm_gateway_buffer_backlog_readings"] == "gauge");
  CHECK(ex.types["rpm_gateway_buffer_disk_bytes"] == "gauge");
  bool sawBacklog = false;
  for (const auto& s : ex.samples) {
    if (s.name == "rpm_gateway_buffer_backlog_readings") sawBacklog = s.value == 5;
  }
  CHECK(sawBacklog);
}

TEST_CASE("A second scrape sees what was counted in between") {
  GatewayMetrics m("0");
  auto server = MetricsServer::start("127.0.0.1", 0, [&m] { return m.render(); });
  REQUIRE(server.isOk());
  std::string url = "http://127.0.0.1:" + std::to_string((*server)->port()) + "/metrics";
  Scrape first = scrape(url);
  REQUIRE(first.code == CURLE_OK);
  CHECK(first.body.find("rpm_gateway_readings_received_total{") == std::string::npos);
  m.readingReceived(ReadingKind::kGlucose, Transport::kBle);
  Scrape second = scrape(url);
  CHECK(second.body.find("rpm_gateway_readings_received_total{kind=\"glucose\",transport=\"ble\"} 1\n") !=
        std::string::npos);
  CHECK(test::checkExposition(second.body).empty());
}

TEST_CASE("The endpoint serves ::1 too") {
  GatewayMetrics m("0");
  auto server = MetricsServer::start("::1", 0, [&m] { return m.render(); });
  REQUIRE(server.isOk());
  Scrape r = scrape("http://[::1]:" + std::to_string((*server)->port()) + "/metrics");
  REQUIRE(r.code == CURLE_OK);
  CHECK(r.status == 200);
  CHECK(test::checkExposition(r.body).empty());
}

TEST_CASE("Only GET /metrics is served; other paths and methods get no metrics") {
  GatewayMetrics m("0");
  auto server = MetricsServer::start("127.0.0.1", 0, [&m] { return m.render(); });
  REQUIRE(server.isOk());
  std::string base = "http://127.0.0.1:" + std::to_string((*server)->port());
  Scrape other = scrape(base + "/");
  CHECK(other.status == 404);
  CHECK(other.body.find("rpm_gateway") == std::string::npos);
  Scrape post = scrape(base + "/metrics", true);
  CHECK(post.status >= 400);
  CHECK(post.body.find("rpm_gateway") == std::string::npos);
}

TEST_CASE("After stop() the port accepts no connections") {
  GatewayMetrics m("0");
  auto server = MetricsServer::start("127.0.0.1", 0, [&m] { return m.render(); });
  REQUIRE(server.isOk());
  std::string url = "http://127.0.0.1:" + std::to_string((*server)->port()) + "/metrics";
  REQUIRE(scrape(url).code == CURLE_OK);
  (*server)->stop();
  (*server)->stop();  // idempotent
  CHECK(scrape(url).code == CURLE_COULDNT_CONNECT);
}

TEST_CASE("A port already in use is reported as unavailable, not as success") {
  GatewayMetrics m("0");
  auto first = MetricsServer::start("127.0.0.1", 0, [&m] { return m.render(); });
  REQUIRE(first.isOk());
  auto second = MetricsServer::start("127.0.0.1", (*first)->port(), [&m] { return m.render(); });
  REQUIRE(!second.isOk());
  CHECK(second.status().kind() == ErrorKind::kUnavailable);
}

TEST_CASE("The server refuses every address that is not a numeric loopback address") {
  for (const char* host : {"0.0.0.0", "::", "192.0.2.10", "10.0.0.1", "::ffff:127.0.0.1", "localhost", "", "fe80::1"}) {
    INFO(host);
    auto s = MetricsServer::start(host, 0, [] { return std::string(); });
    REQUIRE(!s.isOk());
    CHECK(s.status().kind() == ErrorKind::kConfigInvalid);
  }
  CHECK(loopbackListenAddress("127.0.0.1", 9464).isOk());
  CHECK(loopbackListenAddress("127.1.2.3", 9464).isOk());
  CHECK(loopbackListenAddress("::1", 9464).isOk());
  CHECK(!loopbackListenAddress("127.0.0.1", 65536).isOk());
  CHECK(!loopbackListenAddress("127.0.0.1", -1).isOk());
}

TEST_CASE("check-config refuses a non-loopback metrics address and accepts the defaults") {
  const std::string base =
      "[hub]\nid = \"hub-1\"\ntimezone = \"Europe/Berlin\"\n[fhir]\nbase_url = \"https://fhir.example.test/r4\"\n";
  ConfigLoader loader(gatewayConfigKeys());
  for (const char* address : {"0.0.0.0", "::", "192.168.1.20", "localhost"}) {
    INFO(address);
    auto loaded = loader.loadString(base + "[metrics]\nenabled = true\nlisten_address = \"" + address + "\"\n", "t.toml");
    auto* problems = std::get_if<std::vector<ConfigProblem>>(&loaded);
    REQUIRE(problems);
    REQUIRE(problems->size() == 1);
    CHECK(problems->front().key == "metrics.listen_address");
  }
  auto ok = loader.loadString(base, "t.toml");
  REQUIRE(std::holds_alternative<Config>(ok));
  const Config& c = std::get<Config>(ok);
  CHECK_FALSE(c.boolean("metrics.enabled"));
  CHECK(c.string("metrics.listen_address") == "127.0.0.1");
  CHECK(c.integer("metrics.port") == 9464);
  auto v6 = loader.loadString(base + "[metrics]\nenabled = true\nlisten_address = \"::1\"\nport = 9100\n", "t.toml");
  CHECK(std::holds_alternative<Config>(v6));
}

// The reader must be able to fail: each planted text breaks one rule.
TEST_CASE("The exposition reader rejects text that breaks the format") {
  const std::string okHist =
      "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n";
  REQUIRE(test::checkExposition(okHist).empty());
  struct Case {
    const char* what;
    std::string text;
  };
  for (const Case& c : {
           Case{"sample without a declared family", "x 1\n"},
           Case{"non-cumulative buckets",
                "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"2\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_count 3\n"},
           Case{"missing +Inf", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n"},
           Case{"+Inf differs from count", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n"},
           Case{"bad escape", "# TYPE g gauge\ng{a=\"x\\q\"} 1\n"},
           Case{"unescaped quote", "# TYPE g gauge\ng{a=\"x\"y\"} 1\n"},
           Case{"bad value", "# TYPE g gauge\ng 1,5\n"},
           Case{"TYPE after samples", "# TYPE g gauge\ng 1\n# TYPE g gauge\n"},
           Case{"non-contiguous family", "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"1\"} 2\n"},
           Case{"no final newline", "# TYPE g gauge\ng 1"},
           Case{"histogram samples named as the family", "# TYPE h histogram\nh 1\n"},
       }) {
    INFO(c.what);
    CHECK_FALSE(test::checkExposition(c.text).empty());
  }
}
