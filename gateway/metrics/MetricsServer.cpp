#include "gateway/metrics/MetricsServer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <httplib.h>

#include <chrono>
#include <thread>

#include "gateway/log/Log.h"
#include "gateway/metrics/MetricsRegistry.h"

namespace rpm::metrics {

Result<ListenAddress> loopbackListenAddress(const std::string& host, std::int64_t port) {
  if (port < 0 || port > 65535) return Status(ErrorKind::kConfigInvalid, "metrics port must be 0..65535");
  in_addr v4{};
  in6_addr v6{};
  bool loopback = false;
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    loopback = (ntohl(v4.s_addr) >> 24) == 127;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    loopback = IN6_IS_ADDR_LOOPBACK(&v6);
  }
  if (!loopback) {
    return Status(ErrorKind::kConfigInvalid,
                  "the metrics endpoint listens on a numeric loopback address only (127.0.0.1 or ::1)");
  }
  return ListenAddress{host, static_cast<std::uint16_t>(port)};
}

struct MetricsServer::Impl {
  httplib::Server server;
  std::thread thread;
  std::uint16_t port = 0;
  Render render;
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() { stop(); }

std::uint16_t MetricsServer::port() const { return impl_->port; }

void MetricsServer::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& host, std::int64_t port,
                                                            Render render) {
  auto address = loopbackListenAddress(host, port);
  if (!address.isOk()) return address.status();
  auto impl = std::make_unique<Impl>();
  impl->render = std::move(render);
  httplib::Server& s = impl->server;
  // One worker: scrapes are rare and small; a hub has no cores to spare.
  s.new_task_queue = [] { return new httplib::ThreadPool(1); };
  s.set_keep_alive_max_count(10);
  s.set_read_timeout(5, 0);
  s.set_write_timeout(5, 0);
  s.set_payload_max_length(1024);  // a scrape has no body
  // httplib's default also sets SO_REUSEPORT, which lets a second process of
  // the same user bind the same port and take half of the scrapes; a port in
  // use must be an error instead. SO_REUSEADDR only allows a quick restart.
  s.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  Impl* raw = impl.get();
  s.Get("/metrics", [raw](const httplib::Request&, httplib::Response& res) {
    // No exception may leave the handler (std::bad_alloc while rendering).
    try {
      res.set_content(raw->render(), kExpositionContentType);
    } catch (...) {
      res.status = 500;
      res.set_content("metrics unavailable\n", "text/plain; charset=utf-8");
    }
  });
  try {
    if (address->port == 0) {
      int bound = s.bind_to_any_port(address->host);
      if (bound <= 0) return Status(ErrorKind::kUnavailable, "cannot bind the metrics endpoint");
      impl->port = static_cast<std::uint16_t>(bound);
    } else {
      if (!s.bind_to_port(address->host, address->port)) {
        return Status(ErrorKind::kUnavailable, "cannot bind the metrics endpoint (port in use?)");
      }
      impl->port = address->port;
    }
  } catch (...) {
    return Status(ErrorKind::kUnavailable, "cannot bind the metrics endpoint");
  }
  // The socket is bound and listening (bind_to_port listens): connections
  // queue from here on. The thread accepts them; wait until it runs so that
  // stop() cannot race the start of the accept loop.
  impl->thread = std::thread([raw] {
    try {
      raw->server.listen_after_bind();
    } catch (...) {
      log::error("metrics", "the metrics endpoint stopped after an internal error");
    }
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!s.is_running() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  if (!s.is_running()) {
    auto server = std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
    server->stop();
    return Status(ErrorKind::kUnavailable, "the metrics endpoint did not start");
  }
  log::notice("metrics", "metrics endpoint listening on loopback", {{"port", static_cast<int>(raw->port)}});
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

}  // namespace rpm::metrics
