// MQTT load tool for the end-to-end benchmark (Paho MQTT C++).
//
//   mqtt_load pub URI TOPIC COUNT RATE RUN_ID BASE_EPOCH TIMES_FILE
//     Publishes COUNT messages at QoS 1, each one rpm-reading/1 body-temperature
//     reading with the unique id r-RUN_ID-i and the unique time BASE_EPOCH+i s
//     (so the sink can tell readings apart by effectiveDateTime). RATE readings/s,
//     0 = as fast as the broker acknowledges (at most 64 in flight). Writes
//     "<time> <publish time, us since epoch>" per reading to TIMES_FILE and prints
//     "published N in S s".
//   mqtt_load sub URI TOPIC COUNT TIMEOUT_S
//     A do-nothing QoS 1 subscriber: prints "ready" once subscribed, then
//     "received N last_us=<us since epoch>" after COUNT messages (or the timeout).
#include <mqtt/async_client.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <string>
#include <thread>
#include <vector>

namespace {

long long nowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string isoUtc(long long epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int publish(const std::string& uri, const std::string& topic, long count, double rate, const std::string& run,
            long long base, const std::string& timesFile) {
  mqtt::async_client client(uri, "bench-pub-" + run, mqtt::create_options(MQTTVERSION_3_1_1));
  auto opts = mqtt::connect_options_builder().clean_session(true).max_inflight(64).finalize();
  client.connect(opts)->wait();
  std::vector<std::pair<std::string, long long>> times;
  times.reserve(static_cast<size_t>(count));
  std::deque<mqtt::delivery_token_ptr> inflight;
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < count; ++i) {
    if (rate > 0) {
      auto due = start + std::chrono::microseconds(static_cast<long long>(i * 1e6 / rate));
      std::this_thread::sleep_until(due);
    }
    std::string when = isoUtc(base + i);
    std::string id = run + "-" + std::to_string(i);
    std::string payload = "{\"format\":\"rpm-reading/1\",\"messageId\":\"m-" + id + "\",\"readings\":[{\"id\":\"r-" +
                          id + "\",\"kind\":\"body-temperature\",\"time\":\"" + when +
                          "\",\"components\":[{\"measure\":\"body-temperature\",\"value\":36.6,\"unit\":\"Cel\"}]}]}";
    while (inflight.size() >= 64) {
      inflight.front()->wait();
      inflight.pop_front();
    }
    times.emplace_back(when, nowMicros());
    inflight.push_back(client.publish(topic, payload, 1, false));
  }
  for (auto& t : inflight) t->wait();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  client.disconnect()->wait();
  FILE* f = std::fopen(timesFile.c_str(), "w");
  if (!f) return 1;
  for (auto& [when, us] : times) std::fprintf(f, "%s %lld\n", when.c_str(), us);
  std::fclose(f);
  std::printf("published %ld in %.3f s\n", count, seconds);
  return 0;
}

int subscribe(const std::string& uri, const std::string& topic, long count, int timeoutSeconds) {
  mqtt::async_client client(uri, "bench-sub-" + std::to_string(nowMicros()), mqtt::create_options(MQTTVERSION_3_1_1));
  client.start_consuming();
  client.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
  client.subscribe(topic, 1)->wait();
  std::printf("ready\n");
  std::fflush(stdout);
  long received = 0;
  long long last = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSeconds);
  while (received < count && std::chrono::steady_clock::now() < deadline) {
    mqtt::const_message_ptr msg;
    if (client.try_consume_message_for(&msg, std::chrono::milliseconds(200)) && msg) {
      ++received;
      last = nowMicros();
    }
  }
  std::printf("received %ld last_us=%lld\n", received, last);
  std::fflush(stdout);
  client.disconnect()->wait();
  return received == count ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "pub" && argc == 9) {
      return publish(argv[2], argv[3], std::atol(argv[4]), std::atof(argv[5]), argv[6], std::atoll(argv[7]), argv[8]);
    }
    if (mode == "sub" && argc == 6) return subscribe(argv[2], argv[3], std::atol(argv[4]), std::atoi(argv[5]));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqtt_load: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr,
               "usage: mqtt_load pub URI TOPIC COUNT RATE RUN_ID BASE_EPOCH TIMES_FILE\n"
               "       mqtt_load sub URI TOPIC COUNT TIMEOUT_S\n");
  return 2;
}
