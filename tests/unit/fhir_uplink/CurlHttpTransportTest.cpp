// CurlHttpTransport against a real HTTP server on loopback (cpp-httplib).
#include <catch2/catch.hpp>

#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <thread>

#include "fhir/uplink/CurlHttpTransport.h"

using namespace rpm;
using namespace rpm::fhir;

namespace {

class LoopbackServer {
 public:
  httplib::Server server;
  int port = 0;
  std::thread thread;

  void start() {
    port = server.bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    thread = std::thread([this] { server.listen_after_bind(); });
    // Readiness: bounded wait until the listener runs.
    for (int i = 0; i < 5000 && !server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE(server.is_running());
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port) + path; }
  ~LoopbackServer() {
    server.stop();
    if (thread.joinable()) thread.join();
  }
};

// A latch the handler waits on, released by the test (bounded), instead of a fixed sleep.
struct Gate {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  void wait() {
    std::unique_lock<std::mutex> lock(m);
    cv.wait_for(lock, std::chrono::seconds(30), [this] { return open; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(m);
    open = true;
    cv.notify_all();
  }
};

}  // namespace

TEST_CASE("Requests reuse one kept-alive connection", "[unit][curl]") {
  LoopbackServer s;
  s.server.Get("/metadata", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"resourceType":"CapabilityStatement"})", "application/fhir+json");
  });
  s.start();
  CurlHttpTransport t({});
  for (int i = 0; i < 3; ++i) {
    auto out = t.send(HttpRequest{"GET", s.url("/metadata"), {}, "", false});
    REQUIRE(std::holds_alternative<HttpResponse>(out));
    CHECK(std::get<HttpResponse>(out).status == 200);
    CHECK(std::get<HttpResponse>(out).body == R"({"resourceType":"CapabilityStatement"})");
  }
  CHECK(t.connectionsOpenedForTest() == 1);
}

TEST_CASE("Bodies can be sent gzip-compressed and arrive intact", "[unit][curl]") {
  LoopbackServer s;
  std::string received, encoding;
  s.server.Post("/Bundle", [&](const httplib::Request& req, httplib::Response& res) {
    received = req.body;  // cpp-httplib decompresses Content-Encoding: gzip
    encoding = req.get_header_value("Content-Encoding");
    res.status = 200;
    res.set_content("{}", "application/fhir+json");
  });
  s.start();
  CurlHttpTransport t({});
  std::string body = R"({"resourceType":"Bundle","type":"batch","value":2.00})";
  auto out = t.send(HttpRequest{"POST", s.url("/Bundle"), {{"Content-Type", "application/fhir+json"}}, body, true});
  REQUIRE(std::holds_alternative<HttpResponse>(out));
  CHECK(encoding == "gzip");
  CHECK(received == body);
}

TEST_CASE("Retry-After is read from 503 and 429 responses", "[unit][curl]") {
  LoopbackServer s;
  s.server.Post("/Bundle", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_header("Retry-After", "7");
  });
  s.start();
  CurlHttpTransport t({});
  auto out = t.send(HttpRequest{"POST", s.url("/Bundle"), {}, "{}", false});
  REQUIRE(std::holds_alternative<HttpResponse>(out));
  CHECK(std::get<HttpResponse>(out).status == 503);
  CHECK(std::get<HttpResponse>(out).retryAfter == std::chrono::seconds(7));
}

TEST_CASE("A response slower than the timeout is an uncertain timeout", "[unit][curl]") {
  LoopbackServer s;
  Gate gate;
  s.server.Post("/Bundle", [&](const httplib::Request&, httplib::Response& res) {
    gate.wait();
    res.set_content("{}", "application/fhir+json");
  });
  s.start();
  CurlTransportOptions o;
  o.requestTimeoutMs = 300;
  CurlHttpTransport t(o);
  auto out = t.send(HttpRequest{"POST", s.url("/Bundle"), {}, "{}", false});
  gate.release();
  REQUIRE(std::holds_alternative<TransportError>(out));
  CHECK(std::get<TransportError>(out).kind == ErrorKind::kTimeout);
  // The request reached the server, which may have committed it.
  CHECK(std::get<TransportError>(out).certainty == DeliveryCertainty::kUncertain);
}

TEST_CASE("A refused connection is a certain failure: nothing was sent", "[unit][curl]") {
  // A port that was free a moment ago: bind, read it, close.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  CurlHttpTransport t({});
  auto out = t.send(HttpRequest{"POST", "http://127.0.0.1:" + std::to_string(port) + "/Bundle", {}, "{}", false});
  REQUIRE(std::holds_alternative<TransportError>(out));
  CHECK(std::get<TransportError>(out).kind == ErrorKind::kUnavailable);
  CHECK(std::get<TransportError>(out).certainty == DeliveryCertainty::kNotSent);
}

TEST_CASE("TLS to a server that does not speak it fails the handshake with nothing sent", "[unit][curl]") {
  LoopbackServer s;
  s.server.Get("/metadata", [](const httplib::Request&, httplib::Response& res) { res.set_content("{}", "text/plain"); });
  s.start();
  CurlHttpTransport t({});
  auto out = t.send(HttpRequest{"GET", "https://127.0.0.1:" + std::to_string(s.port) + "/metadata", {}, "", false});
  REQUIRE(std::holds_alternative<TransportError>(out));
  CHECK(std::get<TransportError>(out).certainty == DeliveryCertainty::kNotSent);
}
