// BloodPressureCollector: the Blood Pressure Service profile procedure
// (health-devices-to-fhir.md §3.2). A cuff indicates its stored measurements
// (0x2A35) as soon as the gateway subscribes, then goes quiet or drops the
// link. Each measurement is handed to the sink as it arrives with the cuff's
// User ID as Reading.userSlot: the buffer binds the slot's enrolled patient
// at append and holds a reading of an unbound slot (never guessed).
// Intermediate Cuff Pressure (0x2A36) is a live display value: ignored.
#pragma once

#include <chrono>
#include <cstdint>

#include "drivers/common/BleProcedureIo.h"
#include "gateway/model/DeviceKey.h"
#include "gateway/model/Status.h"
#include "gateway/ports/ReadingSink.h"

namespace rpm::drivers::blood_pressure {

struct CuffCollectOptions {
  // The cuff has sent everything once it is silent this long (or drops the link).
  std::chrono::milliseconds quietTimeout{3000};
};

struct CuffCollectReport {
  std::uint32_t measurements = 0;          // decoded 0x2A35 indications
  std::uint32_t intermediateIgnored = 0;   // 0x2A36 values seen and ignored
  std::uint32_t malformed = 0;
  std::uint32_t stored = 0, held = 0, duplicates = 0, invalid = 0;
};

// Ok once the cuff dropped the link or went quiet; a sink failure as is
// (nothing after it is acknowledged: the cuff keeps what it did not send).
Result<CuffCollectReport> collectCuffMeasurements(const DeviceKey& device, BleProcedureIo& io, ReadingSink& sink,
                                                  const CuffCollectOptions& options = {});

}  // namespace rpm::drivers::blood_pressure
