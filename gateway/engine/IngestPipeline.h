// IngestPipeline: the ReadingSink every driver hands its readings to.
//
// It gives each reading its frozen id, drops a device clock skew measured
// while the hub clock was not synchronized (a skew is only as good as the
// hub's clock: decision 0004), routes continuous-stream samples to the
// aggregator, and appends everything else (and closed windows) to the buffer
// in one durable commit before it returns.
#pragma once

#include <atomic>
#include <functional>

#include "gateway/engine/StreamAggregator.h"
#include "gateway/ports/Clock.h"
#include "gateway/ports/ReadingSink.h"
#include "gateway/ports/ReadingStore.h"

namespace rpm::engine {

struct IngestCounters {
  std::uint64_t submitted = 0;
  std::uint64_t stored = 0;
  std::uint64_t held = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t invalid = 0;
  std::uint64_t streamSamples = 0;
  std::uint64_t windowsStored = 0;
  std::uint64_t refused = 0;  // submits that failed as a whole (buffer full, I/O)
};

class IngestPipeline final : public ReadingSink {
 public:
  // onStored runs after every successful append (wakes the delivery loop).
  IngestPipeline(ReadingStore& store, StreamAggregator& aggregator, const Clock& clock,
                 std::function<void()> onStored);

  Result<AppendReport> submit(std::vector<Reading> readings) override;

  // Stores the summaries of windows that closed by now (call about once a second).
  Status storeClosedWindows();
  // Stores every open window, partial ones included (shutdown).
  Status flushWindows();

  IngestCounters counters() const;

 private:
  Result<AppendReport> append(std::vector<Reading> readings);

  ReadingStore& store_;
  StreamAggregator& aggregator_;
  const Clock& clock_;
  std::function<void()> onStored_;
  struct AtomicCounters {
    std::atomic<std::uint64_t> submitted{0}, stored{0}, held{0}, duplicates{0}, invalid{0}, streamSamples{0},
        windowsStored{0}, refused{0};
  } counters_;
};

}  // namespace rpm::engine
