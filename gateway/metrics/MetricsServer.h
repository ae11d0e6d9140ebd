// MetricsServer: the opt-in scrape endpoint (GET /metrics) over HTTP on a
// loopback address only. A hub in a patient's home must not expose even
// operational figures to its LAN; a local agent (node exporter textfile,
// Prometheus agent, an SSH tunnel) does the forwarding.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "gateway/model/Status.h"

namespace rpm::metrics {

struct ListenAddress {
  std::string host;        // numeric loopback address: 127.0.0.0/8 or ::1
  std::uint16_t port = 0;  // 0: any free port (tests)
};

// Validates a listen address: host must be a numeric IPv4 loopback address
// (127.0.0.0/8) or ::1; names ("localhost"), wildcard and LAN addresses are
// refused with kConfigInvalid. port must be 0..65535.
Result<ListenAddress> loopbackListenAddress(const std::string& host, std::int64_t port);

class MetricsServer {
 public:
  using Render = std::function<std::string()>;

  // Binds, starts one serving thread and returns once it accepts
  // connections. Refuses a non-loopback address (kConfigInvalid); a bind
  // failure (port in use) is kUnavailable.
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& host, std::int64_t port, Render render);

  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The bound port (the chosen one when started with port 0).
  std::uint16_t port() const;
  // Stops serving and joins the thread; idempotent.
  void stop();

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rpm::metrics
