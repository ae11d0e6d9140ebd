// StreamAggregator: turns continuous streams (heart rate with RR intervals,
// PLX continuous) into one summary reading per stream and window, shared by
// the BLE and MQTT intake. Spot measurements pass through untouched.
// Rules (windows, rounding, what counts as a stream): docs/decisions/0023-stream-aggregation.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "gateway/model/Reading.h"
#include "gateway/ports/Clock.h"

namespace rpm {

class StreamAggregator {
 public:
  // window: aggregation.window_seconds (default 60). Windows are aligned to
  // multiples of the window on the UTC timeline.
  StreamAggregator(const Clock& clock, std::chrono::seconds window);

  // True for a reading that belongs to a stream: heart rate or RR samples,
  // PLX continuous samples; never an aggregate (effectiveEnd set) and never
  // a spot measurement (component code "spot", PLX spot-check).
  static bool isStreamSample(const Reading& reading);

  // Takes one reading. Returns what is ready to store: a non-stream reading
  // itself, plus the summaries of windows that this sample or the clock closed.
  std::vector<Reading> add(const Reading& reading);

  // Summaries of windows that ended (plus a short grace for late samples) by now.
  std::vector<Reading> poll();

  // Summaries of every open window, partial ones included (shutdown).
  std::vector<Reading> flush();

  // Samples that arrived for a window already summarised (dropped, counted).
  std::uint64_t lateSamples() const;

  // Grace after a window's end before poll() closes it.
  static constexpr std::chrono::seconds kGrace{2};

 private:
  enum class Stream : std::uint8_t { kHeartRate = 1, kRr = 2, kPlx = 3 };
  struct Sample {
    Measure measure;
    Quantity quantity;
  };
  struct Window {
    UtcInstant start;
    UtcInstant firstSample;
    UtcInstant lastSample;
    std::vector<Sample> samples;
    std::vector<StatusWord> status;  // union of the samples' flag words
    Reading templ;                   // device, subject, slot, offset of the stream
  };
  using Key = std::tuple<std::string, std::string, int, Stream>;  // device, subject, slot, stream

  void addSample(const Key& key, const Reading& r, std::vector<Sample> samples, std::vector<StatusWord> status,
                 std::vector<Reading>& out);
  void closeExpired(UtcInstant now, std::vector<Reading>& out);
  bool summarize(Stream stream, const Window& w, UtcInstant end, bool partial, std::vector<Reading>& out) const;
  UtcInstant windowStart(UtcInstant t) const;

  const Clock& clock_;
  std::chrono::microseconds window_;
  mutable std::mutex mutex_;
  std::map<Key, Window> open_;
  std::map<Key, UtcInstant> closedUntil_;  // end of the last summarised window per stream
  std::uint64_t late_ = 0;
};

// Exact Decimal statistics used by the aggregator (rounding rule in the
// decision record): the mean carries one decimal more than the finest input,
// rounded half away from zero; the median of an even count is the mean of
// the two middle values. nullopt for no values or overflow.
std::optional<Decimal> decimalMean(const std::vector<Decimal>& values);
std::optional<Decimal> decimalMedian(std::vector<Decimal> values);

}  // namespace rpm
