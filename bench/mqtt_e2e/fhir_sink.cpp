// A fast FHIR sink for the MQTT end-to-end benchmark (GNU libmicrohttpd, epoll,
// two event threads). It answers what the gateway's uplink
// (fhir/uplink/FhirUplink.cpp) needs, without validating or storing resources,
// so the sender is what is measured:
//   GET  /metadata              a minimal R4 CapabilityStatement
//   POST /Device                201 with a Device id (conditional create)
//   POST /                      batch or transaction Bundle: a batch-response or
//                               transaction-response with one "201 Created" per entry
//   POST /Observation           201 with an Observation id (the baselines' plain create)
//   GET  /Observation?...       an empty searchset (the uplink's identifier search)
//   GET  /_stats                {"accepted": N}: Observations accepted since the last reset
//   GET  /_times                one line per accepted Observation: "<effectiveDateTime> <accept time, us since epoch>"
//   POST /_reset                forget counts and times
// Every accepted Observation is counted and time-stamped when its response is
// built, so a reading's latency is measured up to server acceptance.
//
// Event-driven on purpose: Node-RED opens one connection per concurrent request
// (thousands under a burst); a thread-per-connection server (cpp-httplib) ran
// out of select() descriptors and hung up on it, so the sink, not the sender,
// set the pace.
//
//   fhir_sink   (prints "sink http://127.0.0.1:PORT" when listening; stop with SIGTERM)
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

namespace {

const char* const kFhirJson = "application/fhir+json";

std::mutex timesMutex;
std::string times;  // "<effective> <us>\n" lines
std::atomic<long long> accepted{0};
std::atomic<long long> nextId{1};

long long nowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Records every effectiveDateTime (or effectivePeriod start) in `body` with the
// acceptance time, and counts `entries` accepted Observations. Whitespace
// around the colon is allowed (Python's json.dumps writes '": "').
void recordObservations(const std::string& body, long long entries) {
  long long at = nowMicros();
  std::string lines;
  for (const char* key : {"\"effectiveDateTime\"", "\"start\""}) {
    const std::string k = key;
    for (size_t i = body.find(k); i != std::string::npos; i = body.find(k, i + 1)) {
      size_t start = body.find_first_not_of(" \t\r\n:", i + k.size());
      if (start == std::string::npos || body[start] != '"') continue;
      size_t end = body.find('"', start + 1);
      if (end == std::string::npos) break;
      lines.append(body, start + 1, end - start - 1).append(" ").append(std::to_string(at)).append("\n");
    }
  }
  accepted += entries;
  std::lock_guard<std::mutex> lock(timesMutex);
  times += lines;
}

long long countOf(const std::string& body, const std::string& needle) {
  long long n = 0;
  for (size_t i = body.find(needle); i != std::string::npos; i = body.find(needle, i + needle.size())) ++n;
  return n;
}

struct Reply {
  unsigned status = 200;
  std::string body;
  const char* type = kFhirJson;
  std::string location;
};

Reply route(const std::string& method, const std::string& url, const std::string& body) {
  Reply r;
  if (method == "GET" && url == "/metadata") {
    r.body = R"({"resourceType":"CapabilityStatement","status":"active","kind":"instance","fhirVersion":"4.0.1","format":["json"]})";
  } else if (method == "POST" && url == "/Device") {
    r.status = 201;
    r.body = "{\"resourceType\":\"Device\",\"id\":\"d" + std::to_string(nextId++) + "\"}";
  } else if (method == "POST" && url == "/Observation") {
    std::string id = "o" + std::to_string(nextId++);
    recordObservations(body, 1);
    r.status = 201;
    r.location = "Observation/" + id + "/_history/1";
    r.body = "{\"resourceType\":\"Observation\",\"id\":\"" + id + "\"}";
  } else if (method == "GET" && url == "/Observation") {
    r.body = R"({"resourceType":"Bundle","type":"searchset","total":0,"entry":[]})";
  } else if (method == "POST" && url == "/") {
    long long entries = countOf(body, "\"request\":");
    bool transaction = body.find("\"type\":\"transaction\"") != std::string::npos;
    r.body = std::string("{\"resourceType\":\"Bundle\",\"type\":\"") +
             (transaction ? "transaction-response" : "batch-response") + "\",\"entry\":[";
    for (long long k = 0; k < entries; ++k) {
      if (k) r.body += ',';
      r.body += "{\"response\":{\"status\":\"201 Created\",\"location\":\"Observation/o" + std::to_string(nextId++) +
                "/_history/1\"}}";
    }
    r.body += "]}";
    recordObservations(body, entries);
  } else if (url == "/_stats") {
    r.type = "application/json";
    r.body = "{\"accepted\":" + std::to_string(accepted.load()) + "}";
  } else if (url == "/_times") {
    r.type = "text/plain";
    std::lock_guard<std::mutex> lock(timesMutex);
    r.body = times;
  } else if (method == "POST" && url == "/_reset") {
    accepted = 0;
    std::lock_guard<std::mutex> lock(timesMutex);
    times.clear();
    r.type = "application/json";
    r.body = "{}";
  } else {
    r.status = 404;
    r.body = R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]})";
  }
  return r;
}

MHD_Result onRequest(void*, MHD_Connection* connection, const char* url, const char* method, const char*,
                     const char* uploadData, size_t* uploadSize, void** state) {
  if (*state == nullptr) {  // headers only: allocate the body buffer
    *state = new std::string;
    return MHD_YES;
  }
  auto* body = static_cast<std::string*>(*state);
  if (*uploadSize != 0) {
    body->append(uploadData, *uploadSize);
    *uploadSize = 0;
    return MHD_YES;
  }
  Reply r = route(method, url, *body);
  MHD_Response* response = MHD_create_response_from_buffer(r.body.size(), r.body.data(), MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(response, "Content-Type", r.type);
  if (!r.location.empty()) MHD_add_response_header(response, "Location", r.location.c_str());
  MHD_Result ok = MHD_queue_response(connection, r.status, response);
  MHD_destroy_response(response);
  return ok;
}

void onCompleted(void*, MHD_Connection*, void** state, MHD_RequestTerminationCode) {
  delete static_cast<std::string*>(*state);
  *state = nullptr;
}

}  // namespace

int main() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before MHD starts its threads: they inherit it; main sigwaits
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  MHD_Daemon* daemon = MHD_start_daemon(
      MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, nullptr, nullptr, &onRequest, nullptr,
      MHD_OPTION_SOCK_ADDR, &address, MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_LIMIT, 16000u,
      MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u, MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_NOTIFY_COMPLETED,
      &onCompleted, nullptr, MHD_OPTION_END);
  if (daemon == nullptr) {
    std::fprintf(stderr, "fhir_sink: cannot start the HTTP daemon\n");
    return 1;
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
  std::printf("sink http://127.0.0.1:%u\n", static_cast<unsigned>(info->port));
  std::fflush(stdout);
  int signal = 0;
  sigwait(&signals, &signal);
  MHD_stop_daemon(daemon);
  return 0;
}
