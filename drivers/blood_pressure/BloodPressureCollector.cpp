#include "drivers/blood_pressure/BloodPressureCollector.h"

#include <utility>
#include <vector>

#include "drivers/blood_pressure/BloodPressureParser.h"

namespace rpm::drivers::blood_pressure {

Result<CuffCollectReport> collectCuffMeasurements(const DeviceKey& device, BleProcedureIo& io, ReadingSink& sink,
                                                  const CuffCollectOptions& options) {
  CuffCollectReport report;
  for (;;) {
    if (io.stopRequested && io.stopRequested()) return report;
    auto value = io.nextValue(options.quietTimeout);
    if (!value) {
      // The cuff disconnects after its last indication, or just goes quiet.
      if (value.status().kind() == ErrorKind::kUnavailable || value.status().kind() == ErrorKind::kTimeout) {
        return report;
      }
      return value.status();
    }
    if (value->characteristicUuid == ble::sigUuid(kIntermediateCuffPressure)) {
      ++report.intermediateIgnored;
      continue;
    }
    if (value->characteristicUuid != ble::sigUuid(kBloodPressureMeasurement)) continue;
    DecodeContext context;
    context.device = device;
    context.receivedAt = value->receivedAt;
    context.utcOffsetMinutes = io.utcOffsetAt ? io.utcOffsetAt(value->receivedAt) : 0;
    auto decoded = decode(kBloodPressureMeasurement, value->bytes, context);
    if (!decoded || decoded->readings.empty()) {
      ++report.malformed;
      continue;
    }
    report.measurements += static_cast<std::uint32_t>(decoded->readings.size());
    auto out = sink.submit(std::move(decoded->readings));
    if (!out) return out.status();
    for (auto o : out->outcomes) {
      switch (o) {
        case AppendOutcome::kStored: ++report.stored; break;
        case AppendOutcome::kHeld: ++report.held; break;
        case AppendOutcome::kDuplicate: ++report.duplicates; break;
        case AppendOutcome::kInvalid: ++report.invalid; break;
      }
    }
  }
}

}  // namespace rpm::drivers::blood_pressure
