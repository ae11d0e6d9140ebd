#include "gateway/metrics/MetricsRegistry.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace rpm::metrics {
namespace {

bool validMetricName(const std::string& n) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool validLabelName(const std::string& n) {
  if (n.empty() || n.rfind("__", 0) == 0) return false;  // "__" is reserved for Prometheus itself
  for (std::size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

const char* typeName(MetricType t) {
  switch (t) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string formatSampleValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return "0";  // also -0
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back as the same double
  return std::string(buf, r.ptr);
}

std::string escapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escapeHelp(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Gauge::add(double by) noexcept {
  double old = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(old, old + by, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> upperBounds)
    : bounds_(std::move(upperBounds)), buckets_(bounds_->size() + 1, 0) {}

void Histogram::observe(double v) {
  if (std::isnan(v)) return;
  // First bucket whose upper bound is >= v ("le" is inclusive).
  auto idx = static_cast<std::size_t>(std::lower_bound(bounds_->begin(), bounds_->end(), v) - bounds_->begin());
  std::lock_guard<std::mutex> lock(mutex_);
  ++buckets_[idx];
  sum_ += v;
  ++count_;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  std::lock_guard<std::mutex> lock(mutex_);
  s.cumulative.reserve(buckets_.size());
  std::uint64_t running = 0;
  for (auto b : buckets_) s.cumulative.push_back(running += b);
  s.sum = sum_;
  s.count = count_;
  return s;
}

void FamilyBase::renderHeader(std::string& out) const {
  out += "# HELP " + name_ + " " + escapeHelp(help_) + "\n";
  out += "# TYPE " + name_ + " " + typeName(type_) + "\n";
}

std::string FamilyBase::labelText(const std::vector<std::string>& values, const std::string* le) const {
  if (values.empty() && !le) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ",";
    out += labelNames_[i] + "=\"" + escapeLabelValue(values[i]) + "\"";
  }
  if (le) out += std::string(values.empty() ? "" : ",") + "le=\"" + *le + "\"";
  return out + "}";
}

template <class Metric>
Family<Metric>::Family(std::string name, std::string help, MetricType type, std::vector<std::string> labelNames,
                       std::shared_ptr<const std::vector<double>> bounds)
    : FamilyBase(std::move(name), std::move(help), type, std::move(labelNames)), bounds_(std::move(bounds)) {
  detached_ = make();
  if (labelNames_.empty()) children_.emplace(std::vector<std::string>{}, make());  // shown at 0 from the start
}

template <class Metric>
std::unique_ptr<Metric> Family<Metric>::make() const {
  if constexpr (std::is_same_v<Metric, Histogram>) {
    return std::make_unique<Histogram>(bounds_);
  } else {
    return std::make_unique<Metric>();
  }
}

template <class Metric>
Metric& Family<Metric>::with(const std::vector<std::string>& labelValues) {
  if (labelValues.size() != labelNames_.size()) {
    ++misuses_;
    return *detached_;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = children_[labelValues];
  if (!slot) slot = make();
  return *slot;  // stable: children are never removed
}

template <class Metric>
void Family<Metric>::render(std::string& out) const {
  renderHeader(out);
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [values, metric] : children_) {  // sorted by label values: stable output
    if constexpr (std::is_same_v<Metric, Counter>) {
      out += name_ + labelText(values) + " " + std::to_string(metric->value()) + "\n";
    } else if constexpr (std::is_same_v<Metric, Gauge>) {
      out += name_ + labelText(values) + " " + formatSampleValue(metric->value()) + "\n";
    } else {
      Histogram::Snapshot s = metric->snapshot();
      const auto& bounds = metric->upperBounds();
      for (std::size_t i = 0; i <= bounds.size(); ++i) {
        std::string le = i < bounds.size() ? formatSampleValue(bounds[i]) : "+Inf";
        out += name_ + "_bucket" + labelText(values, &le) + " " + std::to_string(s.cumulative[i]) + "\n";
      }
      out += name_ + "_sum" + labelText(values) + " " + formatSampleValue(s.sum) + "\n";
      out += name_ + "_count" + labelText(values) + " " + std::to_string(s.count) + "\n";
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Status Registry::checkNames(const std::string& name, const std::vector<std::string>& labelNames,
                            bool histogram) const {
  if (!validMetricName(name)) return Status(ErrorKind::kInvalidArgument, "invalid metric name '" + name + "'");
  for (std::size_t i = 0; i < labelNames.size(); ++i) {
    const auto& l = labelNames[i];
    if (!validLabelName(l)) return Status(ErrorKind::kInvalidArgument, "invalid label name '" + l + "' in " + name);
    if (histogram && l == "le") return Status(ErrorKind::kInvalidArgument, "a histogram may not use the label le");
    if (std::find(labelNames.begin(), labelNames.begin() + static_cast<std::ptrdiff_t>(i), l) !=
        labelNames.begin() + static_cast<std::ptrdiff_t>(i)) {
      return Status(ErrorKind::kInvalidArgument, "label name '" + l + "' repeated in " + name);
    }
  }
  // A histogram's samples use name_bucket, name_sum and name_count: none may collide with another family.
  auto clash = [&](const std::string& n) {
    for (const auto& f : families_) {
      if (f->name() == n) return true;
      if (f->type() == MetricType::kHistogram &&
          (n == f->name() + "_bucket" || n == f->name() + "_sum" || n == f->name() + "_count")) {
        return true;
      }
    }
    return false;
  };
  if (clash(name) || (histogram && (clash(name + "_bucket") || clash(name + "_sum") || clash(name + "_count")))) {
    return Status(ErrorKind::kInvalidArgument, "metric name '" + name + "' already registered");
  }
  return Status::ok();
}

Result<CounterFamily*> Registry::counter(const std::string& name, const std::string& help,
                                         std::vector<std::string> labelNames) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = checkNames(name, labelNames, false); !s.isOk()) return s;
  auto* f = new CounterFamily(name, help, MetricType::kCounter, std::move(labelNames));
  families_.emplace_back(f);
  return f;
}

Result<GaugeFamily*> Registry::gauge(const std::string& name, const std::string& help,
                                     std::vector<std::string> labelNames) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = checkNames(name, labelNames, false); !s.isOk()) return s;
  auto* f = new GaugeFamily(name, help, MetricType::kGauge, std::move(labelNames));
  families_.emplace_back(f);
  return f;
}

Result<HistogramFamily*> Registry::histogram(const std::string& name, const std::string& help,
                                             std::vector<std::string> labelNames, std::vector<double> upperBounds) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = checkNames(name, labelNames, true); !s.isOk()) return s;
  for (std::size_t i = 0; i < upperBounds.size(); ++i) {
    if (!std::isfinite(upperBounds[i]) || (i > 0 && !(upperBounds[i] > upperBounds[i - 1]))) {
      return Status(ErrorKind::kInvalidArgument,
                    "histogram " + name + ": bucket bounds must be finite and strictly increasing");
    }
  }
  auto bounds = std::make_shared<const std::vector<double>>(std::move(upperBounds));
  auto* f = new HistogramFamily(name, help, MetricType::kHistogram, std::move(labelNames), std::move(bounds));
  families_.emplace_back(f);
  return f;
}

std::string Registry::render() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& f : families_) f->render(out);
  return out;
}

}  // namespace rpm::metrics
