// The "ble_streams" section of the daemon's status JSON: each continuous BLE
// stream (heart rate, PLX continuous) by device alias, its state and how long
// ago its last sample came, so a stream that stopped is visible in
// `rpm-gateway status`. No values.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "drivers/ble_intake/BleIntake.h"

namespace rpm {

// [{"device": alias, "profile": "heart_rate", "state": "stopped", "last_sample_age_s": 42}, ...]
nlohmann::json bleStreamStatusJson(const std::vector<ble::BleStreamStatus>& streams, UtcInstant now);

}  // namespace rpm
