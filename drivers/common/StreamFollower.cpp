#include "drivers/common/StreamFollower.h"

#include <utility>

#include "drivers/common/MeasurementCollector.h"

namespace rpm::drivers {

const char* streamEndName(StreamEnd end) {
  switch (end) {
    case StreamEnd::kLinkDropped: return "link-dropped";
    case StreamEnd::kStalled: return "stalled";
    case StreamEnd::kSessionLimit: return "session-limit";
    case StreamEnd::kStopRequested: return "stop-requested";
  }
  return "unknown";
}

Result<StreamFollowReport> followStream(const DeviceKey& device, BleProcedureIo& io, ReadingSink& sink,
                                        const Clock& clock, const StreamFollowOptions& options) {
  StreamFollowReport report;
  if (options.decode == nullptr) return Status(ErrorKind::kInvalidArgument, "stream follower: no decoder");
  const auto started = clock.monotonicNow();
  auto lastSample = started;  // a stream that never starts stalls too
  for (;;) {
    if (io.stopRequested && io.stopRequested()) {
      report.end = StreamEnd::kStopRequested;
      return report;
    }
    auto now = clock.monotonicNow();
    if (now - lastSample >= options.stallTimeout) {
      report.end = StreamEnd::kStalled;
      return report;
    }
    if (now - started >= options.maxFollow) {
      report.end = StreamEnd::kSessionLimit;
      return report;
    }
    auto value = io.nextValue(options.slice);
    if (!value) {
      if (value.status().kind() == ErrorKind::kTimeout) continue;
      if (value.status().kind() == ErrorKind::kUnavailable) {
        report.end = (io.stopRequested && io.stopRequested()) ? StreamEnd::kStopRequested : StreamEnd::kLinkDropped;
        return report;
      }
      return value.status();
    }
    std::uint16_t uuid = 0;
    for (auto u : options.characteristics) {
      if (value->characteristicUuid == ble::sigUuid(u)) uuid = u;
    }
    if (uuid == 0) continue;  // another characteristic (battery, a spot-check handled elsewhere)
    ++report.notifications;
    lastSample = clock.monotonicNow();
    DecodeContext context;
    context.device = device;
    context.receivedAt = value->receivedAt;
    context.utcOffsetMinutes = io.utcOffsetAt ? io.utcOffsetAt(value->receivedAt) : 0;
    auto decoded = options.decode(uuid, value->bytes, context);
    if (!decoded) {
      ++report.malformed;
      continue;
    }
    if (options.onSample) options.onSample(clock.now());
    if (decoded->readings.empty()) continue;  // no skin contact: fields only
    report.samples += static_cast<std::uint32_t>(decoded->readings.size());
    auto out = sink.submit(std::move(decoded->readings));
    if (!out) return out.status();
    countOutcomes(*out, report.stored, report.held, report.duplicates, report.invalid);
  }
}

}  // namespace rpm::drivers
