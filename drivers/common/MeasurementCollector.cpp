#include "drivers/common/MeasurementCollector.h"

#include <utility>

namespace rpm::drivers {

void countOutcomes(const AppendReport& report, std::uint32_t& stored, std::uint32_t& held, std::uint32_t& duplicates,
                   std::uint32_t& invalid) {
  for (auto o : report.outcomes) {
    switch (o) {
      case AppendOutcome::kStored: ++stored; break;
      case AppendOutcome::kHeld: ++held; break;
      case AppendOutcome::kDuplicate: ++duplicates; break;
      case AppendOutcome::kInvalid: ++invalid; break;
    }
  }
}

Result<MeasurementCollectReport> collectMeasurements(const DeviceKey& device, BleProcedureIo& io, ReadingSink& sink,
                                                     const MeasurementCollectSpec& spec) {
  MeasurementCollectReport report;
  if (spec.decode == nullptr) return Status(ErrorKind::kInvalidArgument, "measurement collector: no decoder");
  for (;;) {
    if (io.stopRequested && io.stopRequested()) return report;
    auto value = io.nextValue(spec.quietTimeout);
    if (!value) {
      // The device disconnects after its last indication, or just goes quiet.
      if (value.status().kind() == ErrorKind::kUnavailable || value.status().kind() == ErrorKind::kTimeout) {
        return report;
      }
      return value.status();
    }
    bool last = spec.endsCollection && spec.endsCollection(*value);
    std::uint16_t uuid = 0;
    bool known = false;
    for (auto u : spec.accepted) {
      if (value->characteristicUuid == ble::sigUuid(u)) uuid = u, known = true;
    }
    bool ignored = false;
    for (auto u : spec.ignored) {
      if (value->characteristicUuid == ble::sigUuid(u)) ignored = true;
    }
    if (!known && !ignored && spec.other) spec.other(*value);
    if (ignored) {
      ++report.ignored;
    } else if (known) {
      DecodeContext context;
      context.device = device;
      context.receivedAt = value->receivedAt;
      context.utcOffsetMinutes = io.utcOffsetAt ? io.utcOffsetAt(value->receivedAt) : 0;
      auto decoded = spec.decode(uuid, value->bytes, context);
      if (!decoded) {
        ++report.malformed;
      } else if (!decoded->readings.empty()) {
        report.measurements += static_cast<std::uint32_t>(decoded->readings.size());
        auto out = sink.submit(std::move(decoded->readings));
        if (!out) return out.status();
        countOutcomes(*out, report.stored, report.held, report.duplicates, report.invalid);
      }
    }
    if (last) return report;
  }
}

}  // namespace rpm::drivers
