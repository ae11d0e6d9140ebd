// MeasurementCollector: the loop every "send what you have, then go quiet"
// profile procedure shares (thermometer, weight scale, PLX spot-check): take
// values until the device drops the link or stays quiet, decode the
// characteristics the procedure accepts, hand each decoded measurement to the
// sink as it arrives (so what the device sent is durable before it is
// forgotten), count the ones it ignores and the malformed ones.
//
// The profile folders wrap it in a procedure named for what it collects
// (ThermometerCollector, WeightScaleCollector); the loop lives here once so a
// fix to its stop and quiet rules reaches every profile.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "drivers/common/BleProcedureIo.h"
#include "gateway/model/DeviceKey.h"
#include "gateway/ports/Driver.h"
#include "gateway/ports/ReadingSink.h"

namespace rpm::drivers {

struct MeasurementCollectSpec {
  // Characteristics (16-bit SIG) whose values are decoded and submitted.
  std::set<std::uint16_t> accepted;
  // Characteristics whose values are counted and dropped (intermediate values).
  std::set<std::uint16_t> ignored;
  DecodeFunction decode = nullptr;
  // The device has sent everything once it is silent this long (or drops the link).
  std::chrono::milliseconds quietTimeout{3000};
  // Optional: told about every value first; returning true ends the
  // collection after that value (an RACP "procedure complete" response).
  std::function<bool(const ble::CharacteristicValue&)> endsCollection;
  // Optional: given every value of a characteristic neither accepted nor
  // ignored (a stream that is already running), instead of dropping it.
  std::function<void(const ble::CharacteristicValue&)> other;
};

struct MeasurementCollectReport {
  std::uint32_t measurements = 0;  // readings decoded from accepted values
  std::uint32_t ignored = 0;       // values of ignored characteristics
  std::uint32_t malformed = 0;
  std::uint32_t stored = 0, held = 0, duplicates = 0, invalid = 0;
};

// Ok once the device dropped the link, went quiet, or endsCollection said so;
// a sink failure as is (nothing after it is acknowledged).
Result<MeasurementCollectReport> collectMeasurements(const DeviceKey& device, BleProcedureIo& io, ReadingSink& sink,
                                                     const MeasurementCollectSpec& spec);

// Adds one sink result to a report's outcome counts.
void countOutcomes(const AppendReport& report, std::uint32_t& stored, std::uint32_t& held, std::uint32_t& duplicates,
                   std::uint32_t& invalid);

}  // namespace rpm::drivers
