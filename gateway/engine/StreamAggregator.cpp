#include "gateway/engine/StreamAggregator.h"

#include <algorithm>

namespace rpm {
namespace {

std::optional<std::int64_t> scaledMantissa(const Decimal& d, std::int32_t exponent) {
  std::int64_t m = d.mantissa();
  for (std::int32_t e = d.exponent(); e > exponent; --e) {
    if (__builtin_mul_overflow(m, std::int64_t{10}, &m)) return std::nullopt;
  }
  return m;
}

const Component* find(const Reading& r, Measure m) {
  for (const auto& c : r.components()) {
    if (c.measure == m) return &c;
  }
  return nullptr;
}

std::uint32_t statusOf(const Reading& r, std::string_view name) {
  for (const auto& s : r.status) {
    if (s.name == name) return s.bits;
  }
  return 0;
}

bool isPlxContinuous(const Reading& r) {
  const Component* spo2 = find(r, Measure::kSpo2);
  if (spo2 && (spo2->code == "spot" || spo2->code == "fast" || spo2->code == "slow")) return false;
  if (r.raw.format == "gatt:2A5F") return true;
  return spo2 && spo2->code == "continuous";
}

void mergeStatus(std::vector<StatusWord>& into, const StatusWord& s) {
  for (auto& w : into) {
    if (w.name == s.name) {
      w.bits |= s.bits;
      return;
    }
  }
  into.push_back(s);
}

}  // namespace

std::optional<Decimal> decimalMean(const std::vector<Decimal>& values) {
  if (values.empty()) return std::nullopt;
  std::int32_t finest = values.front().exponent();
  for (const auto& v : values) finest = std::min(finest, v.exponent());
  std::int64_t sum = 0;
  for (const auto& v : values) {
    auto m = scaledMantissa(v, finest);
    if (!m || __builtin_add_overflow(sum, *m, &sum)) return std::nullopt;
  }
  return Decimal(sum, finest).convert(1, static_cast<std::int64_t>(values.size()), finest - 1);
}

std::optional<Decimal> decimalMedian(std::vector<Decimal> values) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end(), [](const Decimal& a, const Decimal& b) { return a.compareValue(b) < 0; });
  size_t n = values.size();
  if (n % 2 == 1) return values[n / 2];
  return decimalMean({values[n / 2 - 1], values[n / 2]});
}

StreamAggregator::StreamAggregator(const Clock& clock, std::chrono::seconds window)
    : clock_(clock), window_(std::chrono::duration_cast<std::chrono::microseconds>(window)) {
  if (window_.count() <= 0) window_ = std::chrono::seconds(60);
}

bool StreamAggregator::isStreamSample(const Reading& r) {
  if (r.effectiveEnd) return false;
  switch (r.kind) {
    case ReadingKind::kHeartRate: {
      const Component* hr = find(r, Measure::kHeartRate);
      return !(hr && hr->code == "spot");
    }
    case ReadingKind::kRrIntervals: return true;
    case ReadingKind::kPulseOximetry: return isPlxContinuous(r);
    default: return false;
  }
}

UtcInstant StreamAggregator::windowStart(UtcInstant t) const {
  auto us = t.time_since_epoch().count();
  auto w = window_.count();
  auto start = us >= 0 ? us - us % w : us - ((us % w) + w) % w;
  return UtcInstant(std::chrono::microseconds(start));
}

std::vector<Reading> StreamAggregator::add(const Reading& r) {
  std::vector<Reading> out;
  if (!isStreamSample(r)) {
    out.push_back(r);
    return out;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  closeExpired(clock_.now(), out);
  auto keyFor = [&](Stream s) { return Key{r.device.canonical(), r.subject, r.userSlot ? *r.userSlot : -1, s}; };
  std::vector<Sample> hr, rr, plx;
  for (const auto& c : r.components()) {
    if (c.quantity.special != SpecialValue::kNone) continue;  // no number to aggregate
    switch (c.measure) {
      case Measure::kHeartRate: if (r.kind == ReadingKind::kHeartRate) hr.push_back({c.measure, c.quantity}); break;
      case Measure::kRrInterval: rr.push_back({c.measure, c.quantity}); break;
      case Measure::kSpo2:
      case Measure::kPulseRate: if (r.kind == ReadingKind::kPulseOximetry) plx.push_back({c.measure, c.quantity}); break;
      default: break;
    }
  }
  if (r.kind == ReadingKind::kPulseOximetry) {
    // Invalid, unavailable, demonstration and test samples never enter a median.
    std::uint32_t ms = statusOf(r, "plx-measurement-status");
    if (ms & ((1u << 15) | (1u << 13) | (1u << 10) | (1u << 11))) plx.clear();
  }
  if (!hr.empty()) addSample(keyFor(Stream::kHeartRate), r, std::move(hr), {}, out);
  if (!rr.empty()) addSample(keyFor(Stream::kRr), r, std::move(rr), {}, out);
  if (!plx.empty()) addSample(keyFor(Stream::kPlx), r, std::move(plx), r.status, out);
  return out;
}

void StreamAggregator::addSample(const Key& key, const Reading& r, std::vector<Sample> samples,
                                 std::vector<StatusWord> status, std::vector<Reading>& out) {
  UtcInstant t = r.effectiveStart;
  UtcInstant start = windowStart(t);
  auto closed = closedUntil_.find(key);
  if (closed != closedUntil_.end() && t < closed->second) {
    ++late_;
    return;
  }
  auto it = open_.find(key);
  if (it != open_.end() && start != it->second.start) {
    if (start < it->second.start) {
      ++late_;
      return;
    }
    summarize(std::get<3>(key), it->second, it->second.start + window_, false, out);
    closedUntil_[key] = it->second.start + window_;
    open_.erase(it);
    it = open_.end();
  }
  if (it == open_.end()) {
    Window w;
    w.start = start;
    w.firstSample = t;
    w.lastSample = t;
    it = open_.emplace(key, std::move(w)).first;
  }
  Window& w = it->second;
  w.firstSample = std::min(w.firstSample, t);
  w.lastSample = std::max(w.lastSample, t);
  for (auto& s : samples) w.samples.push_back(std::move(s));
  for (const auto& s : status) mergeStatus(w.status, s);
  w.templ.device = r.device;
  w.templ.subject = r.subject;
  w.templ.userSlot = r.userSlot;
  w.templ.utcOffsetMinutes = r.utcOffsetMinutes;
}

void StreamAggregator::closeExpired(UtcInstant now, std::vector<Reading>& out) {
  for (auto it = open_.begin(); it != open_.end();) {
    UtcInstant end = it->second.start + window_;
    if (now >= end + kGrace) {
      summarize(std::get<3>(it->first), it->second, end, false, out);
      closedUntil_[it->first] = end;
      it = open_.erase(it);
    } else {
      ++it;
    }
  }
}

std::vector<Reading> StreamAggregator::poll() {
  std::vector<Reading> out;
  std::lock_guard<std::mutex> lock(mutex_);
  closeExpired(clock_.now(), out);
  return out;
}

std::vector<Reading> StreamAggregator::flush() {
  std::vector<Reading> out;
  std::lock_guard<std::mutex> lock(mutex_);
  UtcInstant now = clock_.now();
  for (auto& [key, w] : open_) {
    UtcInstant fullEnd = w.start + window_;
    bool partial = now < fullEnd;
    // A partial window covers what was observed: up to now (or the last sample).
    UtcInstant end = partial ? std::max(now, w.lastSample) : fullEnd;
    if (end > fullEnd) end = fullEnd;
    summarize(std::get<3>(key), w, end, partial, out);
    closedUntil_[key] = fullEnd;
  }
  open_.clear();
  return out;
}

std::uint64_t StreamAggregator::lateSamples() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return late_;
}

bool StreamAggregator::summarize(Stream stream, const Window& w, UtcInstant end, bool partial,
                                 std::vector<Reading>& out) const {
  Reading r;
  r.device = w.templ.device;
  r.subject = w.templ.subject;
  r.userSlot = w.templ.userSlot;
  r.utcOffsetMinutes = w.templ.utcOffsetMinutes;
  r.effectiveStart = w.start;
  r.effectiveEnd = end;
  r.receivedAt = clock_.now();
  r.priority = Priority::kLive;
  auto collect = [&](Measure m, std::string& unit) {
    std::vector<Decimal> values;
    for (const auto& s : w.samples) {
      if (s.measure == m) {
        values.push_back(s.quantity.value);
        unit = s.quantity.unit;
      }
    }
    return values;
  };
  std::vector<Component> components;
  auto push = [&](Measure m, const std::optional<Decimal>& v, const std::string& unit, std::string code = {}) {
    if (!v) return;
    Component c;
    c.measure = m;
    c.quantity = Quantity{*v, SpecialValue::kNone, unit};
    c.code = std::move(code);
    components.push_back(std::move(c));
  };
  std::string name;
  switch (stream) {
    case Stream::kHeartRate: {
      name = "heart-rate";
      r.kind = ReadingKind::kHeartRate;
      std::string unit;
      auto values = collect(Measure::kHeartRate, unit);
      if (values.empty()) return false;
      auto byValue = [](const Decimal& a, const Decimal& b) { return a.compareValue(b) < 0; };
      push(Measure::kHeartRate, decimalMean(values), unit);
      push(Measure::kHeartRateMin, *std::min_element(values.begin(), values.end(), byValue), unit);
      push(Measure::kHeartRateMax, *std::max_element(values.begin(), values.end(), byValue), unit);
      break;
    }
    case Stream::kRr: {
      name = "rr-intervals";
      r.kind = ReadingKind::kRrIntervals;
      for (const auto& s : w.samples) push(s.measure, s.quantity.value, s.quantity.unit);
      break;
    }
    case Stream::kPlx: {
      name = "plx-continuous";
      r.kind = ReadingKind::kPulseOximetry;
      std::string spo2Unit, prUnit;
      push(Measure::kSpo2, decimalMedian(collect(Measure::kSpo2, spo2Unit)), spo2Unit, "continuous");
      push(Measure::kPulseRate, decimalMedian(collect(Measure::kPulseRate, prUnit)), prUnit);
      r.status = w.status;
      break;
    }
  }
  if (components.empty()) return false;
  r.value = std::move(components);
  // Stable producer id: the same samples give the same reading id after a
  // restart; a window resumed after a restart starts from another sample.
  r.producerReadingId = name + ":" + std::to_string(w.start.time_since_epoch().count()) + ":" +
                        std::to_string(w.firstSample.time_since_epoch().count());
  r.raw.format = "aggregate:" + name + (partial ? ":partial" : "");
  out.push_back(std::move(r));
  return true;
}

}  // namespace rpm
