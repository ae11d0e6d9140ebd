#include "gateway/engine/IngestPipeline.h"

#include "gateway/identity/Identifiers.h"
#include "gateway/log/Log.h"

namespace rpm::engine {

IngestPipeline::IngestPipeline(ReadingStore& store, StreamAggregator& aggregator, const Clock& clock,
                               std::function<void()> onStored)
    : store_(store), aggregator_(aggregator), clock_(clock), onStored_(std::move(onStored)) {}

IngestCounters IngestPipeline::counters() const {
  IngestCounters c;
  c.submitted = counters_.submitted;
  c.stored = counters_.stored;
  c.held = counters_.held;
  c.duplicates = counters_.duplicates;
  c.invalid = counters_.invalid;
  c.streamSamples = counters_.streamSamples;
  c.windowsStored = counters_.windowsStored;
  c.refused = counters_.refused;
  return c;
}

Result<AppendReport> IngestPipeline::append(std::vector<Reading> readings) {
  for (auto& r : readings) {
    if (r.id.empty()) r.id = computeReadingId(r);
  }
  // A glucose context belongs to the glucose record with its sequence number
  // (GLS: the context follows its measurement; MQTT: they share "sequence").
  // Prefer the record in the same submit; else the id that record gets under
  // reading-id rule 1 (sequence + base time + reset epoch).
  for (auto& r : readings) {
    if (r.kind != ReadingKind::kGlucoseContext || !r.relatedReadingId.empty() || !r.sequence) continue;
    for (const auto& g : readings) {
      if (g.kind == ReadingKind::kGlucose && g.device == r.device && g.sequence == r.sequence &&
          g.resetEpoch == r.resetEpoch) {
        r.relatedReadingId = g.id;
      }
    }
    if (r.relatedReadingId.empty()) {
      Reading twin;
      twin.device = r.device;
      twin.kind = ReadingKind::kGlucose;
      twin.sequence = r.sequence;
      twin.deviceTime = r.deviceTime;
      twin.resetEpoch = r.resetEpoch;
      r.relatedReadingId = computeReadingId(twin);
    }
  }
  if (readings.empty()) return AppendReport{};
  auto report = store_.append(readings);
  if (!report.isOk()) {
    ++counters_.refused;
    log::error("ingest", "append refused", {{"count", readings.size()}, {"error", report.status().kind()}});
    return report;
  }
  for (auto o : report->outcomes) {
    switch (o) {
      case AppendOutcome::kStored: ++counters_.stored; break;
      case AppendOutcome::kHeld: ++counters_.held; break;
      case AppendOutcome::kDuplicate: ++counters_.duplicates; break;
      case AppendOutcome::kInvalid: ++counters_.invalid; break;
    }
  }
  if (onStored_) onStored_();
  return report;
}

Result<AppendReport> IngestPipeline::submit(std::vector<Reading> readings) {
  counters_.submitted += readings.size();
  bool synchronized = clock_.isSynchronized();
  std::vector<Reading> toStore;
  std::vector<std::size_t> storedIndex(readings.size(), SIZE_MAX);
  std::size_t windows = 0;
  for (std::size_t i = 0; i < readings.size(); ++i) {
    Reading& r = readings[i];
    if (!synchronized) r.clockSkewMs.reset();
    if (StreamAggregator::isStreamSample(r)) {
      ++counters_.streamSamples;
      for (auto& summary : aggregator_.add(r)) {
        toStore.push_back(std::move(summary));
        ++windows;
      }
      continue;
    }
    storedIndex[i] = toStore.size();
    toStore.push_back(std::move(r));
  }
  auto report = append(std::move(toStore));
  if (!report.isOk()) return report;
  counters_.windowsStored += windows;
  // Outcomes in input order; a stream sample counts as stored once the
  // aggregator holds it (documented in docs/buffer.md: its window is stored
  // when it closes, and partial windows on shutdown).
  AppendReport out;
  for (std::size_t i = 0; i < readings.size(); ++i) {
    out.outcomes.push_back(storedIndex[i] == SIZE_MAX ? AppendOutcome::kStored : report->outcomes[storedIndex[i]]);
  }
  return out;
}

Status IngestPipeline::storeClosedWindows() {
  auto summaries = aggregator_.poll();
  std::size_t n = summaries.size();
  auto r = append(std::move(summaries));
  if (r.isOk()) counters_.windowsStored += n;
  return r.status();
}

Status IngestPipeline::flushWindows() {
  auto summaries = aggregator_.flush();
  std::size_t n = summaries.size();
  auto r = append(std::move(summaries));
  if (r.isOk()) counters_.windowsStored += n;
  return r.status();
}

}  // namespace rpm::engine
