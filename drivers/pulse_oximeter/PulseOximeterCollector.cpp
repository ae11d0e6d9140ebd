#include "drivers/pulse_oximeter/PulseOximeterCollector.h"

#include <deque>
#include <utility>

#include "drivers/pulse_oximeter/PulseOximeterParser.h"

namespace rpm::drivers::pulse_oximeter {
namespace {

constexpr std::uint16_t kPulseOximeterService = 0x1822;
constexpr std::uint8_t kReportStoredRecords = 0x01;
constexpr std::uint8_t kOperatorAllRecords = 0x01;
constexpr std::uint8_t kResponseCode = 0x06;

}  // namespace

PulseOximeterCollector::PulseOximeterCollector(PlxCapabilities capabilities, PulseOximeterOptions options)
    : capabilities_(capabilities), options_(std::move(options)) {
  options_.stream.characteristics = {kContinuousMeasurement};
  options_.stream.decode = &decode;
}

Result<PulseOximeterReport> PulseOximeterCollector::run(const DeviceKey& device, BleProcedureIo& io,
                                                        ReadingSink& sink, const Clock& clock) const {
  PulseOximeterReport report;
  std::deque<ble::CharacteristicValue> early;  // stream samples that came during the spot-checks
  if (capabilities_.spotCheck) {
    MeasurementCollectSpec spec;
    spec.accepted = {kSpotCheckMeasurement};
    spec.decode = &decode;
    spec.quietTimeout = options_.quietTimeout;
    spec.other = [&early](const ble::CharacteristicValue& v) {
      if (v.characteristicUuid == ble::sigUuid(kContinuousMeasurement)) early.push_back(v);
    };
    if (capabilities_.racp) {
      // The records follow the request; the RACP response ends them (§3.1.4 rules, PLXS uses the same RACP).
      spec.quietTimeout = options_.recordTimeout;
      spec.endsCollection = [&report](const ble::CharacteristicValue& v) {
        if (v.characteristicUuid != ble::sigUuid(kRecordAccessControlPoint)) return false;
        if (v.bytes.size() >= 4 && v.bytes[0] == kResponseCode && v.bytes[2] == kReportStoredRecords) {
          report.racpCompleted = true;
          report.racpResponse = v.bytes[3];
          return true;
        }
        return false;
      };
      Status s = io.write(kPulseOximeterService, kRecordAccessControlPoint,
                          {kReportStoredRecords, kOperatorAllRecords});
      if (!s.isOk()) return s;
    }
    auto spot = collectMeasurements(device, io, sink, spec);
    if (!spot) return spot.status();
    report.spotChecks = *spot;
  }
  if (capabilities_.continuous && !(io.stopRequested && io.stopRequested())) {
    if (options_.startContinuous) {
      Status s = options_.startContinuous();
      if (!s.isOk()) return s;
    }
    BleProcedureIo streamIo = io;
    streamIo.nextValue = [&early, &io](std::chrono::milliseconds timeout) -> Result<ble::CharacteristicValue> {
      if (!early.empty()) {
        auto v = early.front();
        early.pop_front();
        return v;
      }
      return io.nextValue(timeout);
    };
    auto stream = followStream(device, streamIo, sink, clock, options_.stream);
    if (!stream) return stream.status();
    report.followedStream = true;
    report.continuous = *stream;
  }
  return report;
}

}  // namespace rpm::drivers::pulse_oximeter
