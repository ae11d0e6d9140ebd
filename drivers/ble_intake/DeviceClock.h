// DeviceClock: a device's Current Time (CTS 0x1805 / 0x2A2B) against the
// hub's clock, and the sink decorator that records the measured skew on the
// readings of the session (decision 0045; the mapper applies it by decision
// 0021 rule 2, only when the hub clock was synchronized).
//
// Order within a session (health-devices-to-fhir.md §2.3 "Gateway time
// policy"): read the device clock before the download, download with the
// skew recorded on every reading that carries a device time (they were all
// taken on the old clock), and only after a complete download write the
// hub's time to the device, when the skew is over the threshold, Current
// Time is writable and the hub clock is synchronized. Never from an
// unsynchronized hub: its clock is no better than the device's.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "gateway/model/Time.h"
#include "gateway/ports/BleDevice.h"
#include "gateway/ports/Clock.h"
#include "gateway/ports/ReadingSink.h"
#include "gateway/ports/TimeZoneRules.h"

namespace rpm::ble {

inline constexpr std::uint16_t kCurrentTimeService = 0x1805;
inline constexpr std::uint16_t kCurrentTime = 0x2A2B;

struct DeviceClockSample {
  LocalDateTime deviceTime;  // as read (device local wall clock)
  UtcInstant readAt;         // hub UTC time of the read
  std::int64_t skewMs = 0;   // hub local wall clock minus device clock
  bool writable = false;     // Current Time has the "write" flag
};

// nullopt when the device has no Current Time, the read fails, or the
// device says its time is unknown or sends an invalid one (no skew then).
std::optional<DeviceClockSample> readDeviceClock(BleDevice& device, const Clock& clock, const TimeZoneRules& zone);

// Current Time (Exact Time 256 + Adjust Reason "manual time update") of a
// hub-local wall-clock time; day of week computed from the date.
std::vector<std::uint8_t> encodeCurrentTime(const LocalDateTime& local);

// What to do about a measured skew after the download.
enum class ClockAction : std::uint8_t {
  kWithinThreshold,   // nothing to do
  kWrite,             // write the hub time
  kHubUnsynchronized, // off, but the hub clock is not synchronized: never set
  kNotWritable,       // off, but the device's Current Time is read-only
};
ClockAction decideClockAction(const DeviceClockSample& sample, std::chrono::milliseconds threshold,
                              bool hubSynchronized);

// Records `skewMs` as Reading.clockSkewMs on every reading that carries a
// device time and has none yet, then passes them on.
class SkewStampingSink final : public ReadingSink {
 public:
  SkewStampingSink(ReadingSink& next, std::int64_t skewMs) : next_(next), skewMs_(skewMs) {}
  Result<AppendReport> submit(std::vector<Reading> readings) override;

 private:
  ReadingSink& next_;
  std::int64_t skewMs_;
};

}  // namespace rpm::ble
