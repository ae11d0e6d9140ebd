#include "drivers/ble_intake/DeviceClock.h"

#include <algorithm>
#include <utility>

namespace rpm::ble {
namespace {

constexpr std::uint8_t kAdjustManualUpdate = 0x01;

bool validDate(int year, int month, int day, int hour, int minute, int second) {
  LocalDateTime t;
  t.year = year, t.month = month, t.day = day, t.hour = hour, t.minute = minute, t.second = second;
  return t.isKnown() && t.isValid();
}

}  // namespace

std::optional<DeviceClockSample> readDeviceClock(BleDevice& device, const Clock& clock, const TimeZoneRules& zone) {
  auto ch = device.characteristic(sigUuid(kCurrentTimeService), sigUuid(kCurrentTime));
  if (!ch) return std::nullopt;
  auto raw = (*ch)->read();
  UtcInstant readAt = clock.now();
  if (!raw || raw->size() < 7) return std::nullopt;
  const auto& b = *raw;
  LocalDateTime t;
  t.year = b[0] | (b[1] << 8);
  t.month = b[2], t.day = b[3], t.hour = b[4], t.minute = b[5], t.second = b[6];
  if (b.size() >= 9) t.fractions256 = b[8];
  if (!validDate(t.year, t.month, t.day, t.hour, t.minute, t.second)) return std::nullopt;
  DeviceClockSample sample;
  sample.deviceTime = t;
  sample.readAt = readAt;
  // Both sides as wall clocks in the hub's zone at the read: the difference
  // is what the mapper adds to a device time (decision 0021 rule 2).
  int offset = zone.offsetMinutesAt(readAt);
  UtcInstant deviceAsHub = fromLocal(t, offset);  // fractions included
  sample.skewMs = std::chrono::duration_cast<std::chrono::milliseconds>(readAt - deviceAsHub).count();
  auto flags = (*ch)->flags();
  sample.writable = std::find(flags.begin(), flags.end(), "write") != flags.end();
  return sample;
}

std::vector<std::uint8_t> encodeCurrentTime(const LocalDateTime& local) {
  LocalDateTime midnight = local;
  midnight.hour = midnight.minute = midnight.second = 0;
  midnight.fractions256 = 0;
  auto days = std::chrono::duration_cast<std::chrono::hours>(fromLocal(midnight, 0).time_since_epoch()).count() / 24;
  // 1970-01-01 was a Thursday; Day of Week 1 = Monday ... 7 = Sunday.
  auto dayOfWeek = static_cast<std::uint8_t>(((days % 7) + 7 + 3) % 7 + 1);
  return {static_cast<std::uint8_t>(local.year & 0xFF), static_cast<std::uint8_t>(local.year >> 8),
          static_cast<std::uint8_t>(local.month),       static_cast<std::uint8_t>(local.day),
          static_cast<std::uint8_t>(local.hour),        static_cast<std::uint8_t>(local.minute),
          static_cast<std::uint8_t>(local.second),      dayOfWeek,
          static_cast<std::uint8_t>(local.fractions256), kAdjustManualUpdate};
}

ClockAction decideClockAction(const DeviceClockSample& sample, std::chrono::milliseconds threshold,
                              bool hubSynchronized) {
  std::int64_t magnitude = sample.skewMs < 0 ? -sample.skewMs : sample.skewMs;
  if (magnitude <= threshold.count()) return ClockAction::kWithinThreshold;
  if (!hubSynchronized) return ClockAction::kHubUnsynchronized;
  if (!sample.writable) return ClockAction::kNotWritable;
  return ClockAction::kWrite;
}

Result<AppendReport> SkewStampingSink::submit(std::vector<Reading> readings) {
  for (auto& r : readings) {
    if (r.deviceTime && !r.clockSkewMs) r.clockSkewMs = skewMs_;
  }
  return next_.submit(std::move(readings));
}

}  // namespace rpm::ble
