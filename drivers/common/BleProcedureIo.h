// BleProcedureIo: what a profile procedure (glucose RACP download, cuff
// collection) needs from a live BLE session, as plain functions.
//
// Procedures live in their profile's driver folder, which may include only
// model, ports and drivers/common (docs/architecture.md); the session state
// machine (drivers/ble_session) adapts its ProcedureContext to this.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "gateway/model/Status.h"
#include "gateway/model/Time.h"
#include "gateway/ports/BleTypes.h"

namespace rpm::drivers {

struct BleProcedureIo {
  // The next value received since subscription: kUnavailable once the link
  // dropped, kTimeout when nothing came within `timeout`.
  std::function<Result<ble::CharacteristicValue>(std::chrono::milliseconds timeout)> nextValue;
  // WriteValue (with response) to a characteristic of the device.
  std::function<Status(std::uint16_t service, std::uint16_t characteristic, const std::vector<std::uint8_t>& value)>
      write;
  // Hub UTC offset in force at an instant (DecodeContext.utcOffsetMinutes).
  std::function<int(UtcInstant)> utcOffsetAt;
  // True once the owner asked to stop: the procedure finishes the submit in
  // flight, records what is durable and returns kUnavailable.
  std::function<bool()> stopRequested;
};

}  // namespace rpm::drivers
