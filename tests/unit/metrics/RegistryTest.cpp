// The exposition text, byte for byte (Prometheus text format 0.0.4).
#include <catch2/catch.hpp>

#include <thread>

#include "gateway/metrics/MetricsRegistry.h"

using namespace rpm;
using namespace rpm::metrics;

TEST_CASE("A counter family renders HELP, TYPE and one sample per label set, sorted by label values") {
  Registry r;
  auto f = r.counter("rpm_things_total", "Things seen.", {"kind", "transport"});
  REQUIRE(f.isOk());
  (*f)->with({"weight", "mqtt"}).increment(2);
  (*f)->with({"blood-pressure", "ble"}).increment();
  CHECK(r.render() ==
        "# HELP rpm_things_total Things seen.\n"
        "# TYPE rpm_things_total counter\n"
        "rpm_things_total{kind=\"blood-pressure\",transport=\"ble\"} 1\n"
        "rpm_things_total{kind=\"weight\",transport=\"mqtt\"} 2\n");
}

TEST_CASE("A family without labels shows its zero before anything is counted") {
  Registry r;
  REQUIRE(r.gauge("rpm_backlog", "Backlog.").isOk());
  CHECK(r.render() == "# HELP rpm_backlog Backlog.\n# TYPE rpm_backlog gauge\nrpm_backlog 0\n");
}

TEST_CASE("A labelled family with no samples yet still declares itself") {
  Registry r;
  REQUIRE(r.counter("rpm_x_total", "X.", {"a"}).isOk());
  CHECK(r.render() == "# HELP rpm_x_total X.\n# TYPE rpm_x_total counter\n");
}

TEST_CASE("Label values escape backslash, double quote and newline; HELP escapes backslash and newline") {
  Registry r;
  auto f = r.gauge("rpm_g", "Line one\nback\\slash \"quoted\"", {"v"});
  REQUIRE(f.isOk());
  (*f)->with({"a\\b\"c\nd"}).set(1);
  CHECK(r.render() ==
        "# HELP rpm_g Line one\\nback\\\\slash \"quoted\"\n"
        "# TYPE rpm_g gauge\n"
        "rpm_g{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST_CASE("A histogram renders cumulative buckets, +Inf equal to the count, then sum and count") {
  Registry r;
  auto f = r.histogram("rpm_latency_seconds", "Latency.", {"transport"}, {0.5, 1, 2.5});
  REQUIRE(f.isOk());
  auto& h = (*f)->with({"ble"});
  h.observe(0.25);
  h.observe(0.5);  // le is inclusive: lands in 0.5
  h.observe(2);
  h.observe(100);
  CHECK(r.render() ==
        "# HELP rpm_latency_seconds Latency.\n"
        "# TYPE rpm_latency_seconds histogram\n"
        "rpm_latency_seconds_bucket{transport=\"ble\",le=\"0.5\"} 2\n"
        "rpm_latency_seconds_bucket{transport=\"ble\",le=\"1\"} 2\n"
        "rpm_latency_seconds_bucket{transport=\"ble\",le=\"2.5\"} 3\n"
        "rpm_latency_seconds_bucket{transport=\"ble\",le=\"+Inf\"} 4\n"
        "rpm_latency_seconds_sum{transport=\"ble\"} 102.75\n"
        "rpm_latency_seconds_count{transport=\"ble\"} 4\n");
}

TEST_CASE("A histogram without labels puts le alone in the braces; NaN observations are ignored") {
  Registry r;
  auto f = r.histogram("rpm_h", "H.", {}, {1});
  REQUIRE(f.isOk());
  (*f)->get().observe(std::nan(""));
  (*f)->get().observe(3);
  CHECK(r.render() ==
        "# HELP rpm_h H.\n# TYPE rpm_h histogram\n"
        "rpm_h_bucket{le=\"1\"} 0\nrpm_h_bucket{le=\"+Inf\"} 1\nrpm_h_sum 3\nrpm_h_count 1\n");
}

TEST_CASE("Sample values use the shortest text that reads back exactly, and the format's special values") {
  CHECK(formatSampleValue(0) == "0");
  CHECK(formatSampleValue(-0.0) == "0");
  CHECK(formatSampleValue(0.1) == "0.1");
  CHECK(formatSampleValue(1073741824) == "1073741824");
  CHECK(formatSampleValue(-2.5) == "-2.5");
  CHECK(formatSampleValue(1e300) == "1e+300");
  CHECK(formatSampleValue(std::nan("")) == "NaN");
  CHECK(formatSampleValue(HUGE_VAL) == "+Inf");
  CHECK(formatSampleValue(-HUGE_VAL) == "-Inf");
}

TEST_CASE("Families render in registration order, and gauges go up and down") {
  Registry r;
  auto b = r.gauge("rpm_b", "B.");
  auto a = r.counter("rpm_a_total", "A.");
  REQUIRE(b.isOk());
  REQUIRE(a.isOk());
  (*b)->get().set(10);
  (*b)->get().add(-2.5);
  (*a)->get().increment(7);
  CHECK(r.render() ==
        "# HELP rpm_b B.\n# TYPE rpm_b gauge\nrpm_b 7.5\n"
        "# HELP rpm_a_total A.\n# TYPE rpm_a_total counter\nrpm_a_total 7\n");
}

TEST_CASE("Names the exposition format does not allow are refused at registration") {
  Registry r;
  CHECK(r.counter("", "x").status().kind() == ErrorKind::kInvalidArgument);
  CHECK(r.counter("9lives", "x").status().kind() == ErrorKind::kInvalidArgument);
  CHECK(r.counter("has-dash", "x").status().kind() == ErrorKind::kInvalidArgument);
  CHECK(r.counter("ok_total", "x", {"__reserved"}).status().kind() == ErrorKind::kInvalidArgument);
  CHECK(r.counter("ok_total", "x", {"bad:label"}).status().kind() == ErrorKind::kInvalidArgument);
  CHECK(r.counter("ok_total", "x", {"a", "a"}).status().kind() == ErrorKind::kInvalidArgument);
  CHECK(r.histogram("h", "x", {"le"}, {1}).status().kind() == ErrorKind::kInvalidArgument);
  CHECK(r.histogram("h", "x", {}, {1, 1}).status().kind() == ErrorKind::kInvalidArgument);
  CHECK(r.histogram("h", "x", {}, {1, HUGE_VAL}).status().kind() == ErrorKind::kInvalidArgument);
  CHECK(r.render().empty());
}

TEST_CASE("A name already used, also by a histogram's own sample names, is refused") {
  Registry r;
  REQUIRE(r.histogram("rpm_lat", "x", {}, {1}).isOk());
  CHECK(!r.counter("rpm_lat", "x").isOk());
  CHECK(!r.gauge("rpm_lat_count", "x").isOk());
  REQUIRE(r.gauge("rpm_other_sum", "x").isOk());
  CHECK(!r.histogram("rpm_other", "x", {}, {1}).isOk());
}

TEST_CASE("A call with the wrong number of label values is counted and never rendered") {
  Registry r;
  auto f = r.counter("rpm_c_total", "C.", {"kind"});
  REQUIRE(f.isOk());
  (*f)->with({"a", "b"}).increment();
  (*f)->with({}).increment();
  CHECK((*f)->labelMisuses() == 2);
  CHECK(r.render() == "# HELP rpm_c_total C.\n# TYPE rpm_c_total counter\n");
}

TEST_CASE("Counters and histograms lose no increments when many threads count while another renders") {
  Registry r;
  auto c = r.counter("rpm_n_total", "N.", {"t"});
  auto h = r.histogram("rpm_d", "D.", {}, {1});
  REQUIRE(c.isOk());
  REQUIRE(h.isOk());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        (*c)->with({t % 2 ? "odd" : "even"}).increment();
        (*h)->get().observe(0.5);
      }
    });
  }
  std::thread renderer([&] {
    for (int i = 0; i < 50; ++i) (void)r.render();
  });
  for (auto& t : threads) t.join();
  renderer.join();
  CHECK((*c)->with({"even"}).value() == 20000);
  CHECK((*c)->with({"odd"}).value() == 20000);
  auto s = (*h)->get().snapshot();
  CHECK(s.count == 40000);
  CHECK(s.cumulative.front() == 40000);
  CHECK(s.sum == 20000);
}
