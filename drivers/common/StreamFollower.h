// StreamFollower: the loop shared by the continuous profiles (heart-rate
// monitors, PLX continuous): decode every notification of the stream
// characteristics and hand it to the sink (IngestPipeline routes stream
// samples to the StreamAggregator: decision 0023), and notice when the stream
// stops. "Stopped" is measured on the injected Clock's monotonic time, so a
// test moves it with a FakeClock and the daemon with the real one.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <set>

#include "drivers/common/BleProcedureIo.h"
#include "gateway/model/DeviceKey.h"
#include "gateway/ports/Clock.h"
#include "gateway/ports/Driver.h"
#include "gateway/ports/ReadingSink.h"

namespace rpm::drivers {

enum class StreamEnd : std::uint8_t {
  kLinkDropped,   // the device went away (or the session's link broke)
  kStalled,       // linked, but no sample for stallTimeout: the stream stopped
  kSessionLimit,  // followed for maxFollow: the session yields to other devices
  kStopRequested,
};

const char* streamEndName(StreamEnd end);

struct StreamFollowOptions {
  std::set<std::uint16_t> characteristics;  // 16-bit SIG uuids of the stream
  DecodeFunction decode = nullptr;
  std::chrono::milliseconds stallTimeout{15000};  // ble.stream_stall_ms
  std::chrono::milliseconds maxFollow{600000};    // ble.stream_session_max_ms
  // How long one wait for a value lasts before the clocks are looked at again.
  std::chrono::milliseconds slice{100};
  // Told the clock's UTC time of every decoded sample (status: last sample).
  std::function<void(UtcInstant)> onSample;
};

struct StreamFollowReport {
  std::uint32_t notifications = 0;  // values of the stream characteristics
  std::uint32_t samples = 0;        // readings decoded from them
  std::uint32_t malformed = 0;
  std::uint32_t stored = 0, held = 0, duplicates = 0, invalid = 0;
  StreamEnd end = StreamEnd::kLinkDropped;
};

// Ok when the stream ended for any of the StreamEnd reasons; a sink failure as is.
Result<StreamFollowReport> followStream(const DeviceKey& device, BleProcedureIo& io, ReadingSink& sink,
                                        const Clock& clock, const StreamFollowOptions& options);

}  // namespace rpm::drivers
