// MetricsRegistry: a small thread-safe set of metric families (counters,
// gauges, histograms with fixed buckets) rendered in the Prometheus text
// exposition format 0.0.4. Label values must never carry PHI: callers pass
// names from closed sets (reading kinds, transports, error kinds).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/model/Status.h"

namespace rpm::metrics {

// A monotonically increasing count (integer, exact).
class Counter {
 public:
  void increment(std::uint64_t by = 1) noexcept { value_.fetch_add(by, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double by) noexcept;
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted into fixed buckets (upper bounds, strictly increasing,
// finite; +Inf is implicit). NaN observations are ignored: they would poison
// the sum for ever.
class Histogram {
 public:
  explicit Histogram(std::shared_ptr<const std::vector<double>> upperBounds);
  void observe(double v);

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& upperBounds() const { return *bounds_; }

 private:
  std::shared_ptr<const std::vector<double>> bounds_;
  mutable std::mutex mutex_;
  std::vector<std::uint64_t> buckets_;  // non-cumulative, bounds + 1 (+Inf)
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

enum class MetricType : std::uint8_t { kCounter, kGauge, kHistogram };

// One named family: a metric per distinct tuple of label values.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  MetricType type() const { return type_; }
  // Appends this family's HELP, TYPE and sample lines.
  virtual void render(std::string& out) const = 0;
  // Calls with the wrong number of label values (a programming error): they
  // are served a detached metric that is never rendered, and counted here.
  std::uint64_t labelMisuses() const { return misuses_.load(); }

 protected:
  FamilyBase(std::string name, std::string help, MetricType type, std::vector<std::string> labelNames)
      : name_(std::move(name)), help_(std::move(help)), type_(type), labelNames_(std::move(labelNames)) {}
  void renderHeader(std::string& out) const;
  std::string labelText(const std::vector<std::string>& values, const std::string* le = nullptr) const;

  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> labelNames_;
  mutable std::atomic<std::uint64_t> misuses_{0};
};

template <class Metric>
class Family : public FamilyBase {
 public:
  // The metric for these label values (in the order of the label names),
  // created at zero on first use.
  Metric& with(const std::vector<std::string>& labelValues);
  // The metric of a family without labels.
  Metric& get() { return with({}); }
  void render(std::string& out) const override;

 private:
  friend class Registry;
  Family(std::string name, std::string help, MetricType type, std::vector<std::string> labelNames,
         std::shared_ptr<const std::vector<double>> bounds = nullptr);
  std::unique_ptr<Metric> make() const;

  std::shared_ptr<const std::vector<double>> bounds_;  // histograms only
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
  std::unique_ptr<Metric> detached_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Families in registration order; render() writes them all.
class Registry {
 public:
  // Errors (kInvalidArgument): a name or label name that the exposition
  // format does not allow, a name used twice, bad histogram bounds.
  Result<CounterFamily*> counter(const std::string& name, const std::string& help,
                                 std::vector<std::string> labelNames = {});
  Result<GaugeFamily*> gauge(const std::string& name, const std::string& help,
                             std::vector<std::string> labelNames = {});
  Result<HistogramFamily*> histogram(const std::string& name, const std::string& help,
                                     std::vector<std::string> labelNames, std::vector<double> upperBounds);

  // The whole registry in text exposition format 0.0.4.
  std::string render() const;

 private:
  Status checkNames(const std::string& name, const std::vector<std::string>& labelNames, bool histogram) const;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
};

// The content type of render()'s text.
inline constexpr const char* kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

// Exposition-format pieces, public for tests.
std::string formatSampleValue(double v);     // shortest round-trip; NaN, +Inf, -Inf
std::string escapeLabelValue(const std::string& v);  // \\ \" \n
std::string escapeHelp(const std::string& v);        // \\ \n

}  // namespace rpm::metrics
