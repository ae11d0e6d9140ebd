// Discovery-driven presence for the BLE intake (issue 8; bluez-dbus-api.md
// §2.3, §3.5, §8 items 1, 2, 8). Health devices often advertise only for a
// while after a measurement, and a device BlueZ never bonded has no object at
// all until an advert creates a temporary one. So while enrolled devices are
// expected the intake keeps one LE discovery session, filtered to the health
// services it has procedures for (a filter also makes BlueZ report advertisers
// without discoverable flags, §2.3), and:
//   - a device that advertised since the last look has its next visit brought
//     forward (BleSession::expedite), past any backoff, at most every
//     advertVisitGap;
//   - a device BlueZ did not know becomes reachable once its advert creates
//     the object (the session is created then, BleIntake::makeSession);
//   - discovery pauses while sessions connect (scan and connection initiation
//     contend for the controller, §8 item 2) and resumes after.
// Only enrolled addresses are ever looked at; others are never connected.
// The adapter serializes the calls (BluezAdapter holds the adapter operation
// lock), so BlueZ never answers InProgress because of us.
#include <algorithm>

#include "drivers/ble_intake/BleIntake.h"
#include "gateway/log/Log.h"

namespace rpm::ble {

void BleIntake::expediteAdvertising(const std::vector<std::string>& addresses) {
  auto known = adapter_->devices();
  for (const auto& address : addresses) {
    auto it = std::find_if(known.begin(), known.end(), [&](const DeviceSnapshot& d) { return d.address == address; });
    if (it == known.end()) continue;
    auto& last = advertsAtLastLook_[address];
    bool advertised = it->advertisements > last;
    last = it->advertisements;
    if (!advertised) continue;
    BleSession* session = scheduler_.session(address);
    if (!session || it->connected) continue;  // a new session is due at once anyway
    bool wasDue = session->due();
    session->expedite(options_.advertVisitGap);
    if (!wasDue && session->due()) {
      std::lock_guard<std::mutex> lock(countersMutex_);
      ++counters_.advertVisits;
    }
  }
}

bool BleIntake::anyAttemptDue(const std::vector<std::string>& addresses) {
  for (const auto& address : addresses) {
    BleSession* session = scheduler_.session(address);
    if (session ? session->due() : adapter_->device(address).isOk()) return true;
  }
  return false;
}

void BleIntake::setDiscovery(bool on) {
  if (on == discovering_) return;
  if (!on) {
    Status s = adapter_->stopDiscovery();
    discovering_ = false;  // the session is gone either way (§2.1: StopDiscovery drops it even on InProgress)
    if (!s.isOk()) log::notice("ble", "discovery stop failed", {log::Field("error", s)});
    return;
  }
  if (!adapter_->ready().isOk()) return;  // asked again next pass
  DiscoveryFilter filter;
  // The services we have procedures for: glucose, blood pressure, heart rate, pulse oximeter, thermometer, scale.
  filter.serviceUuids = {sigUuid(0x1808), sigUuid(0x1810), sigUuid(0x180D),
                         sigUuid(0x1822), sigUuid(0x1809), sigUuid(0x181D)};
  Status s = adapter_->startDiscovery(filter);
  std::lock_guard<std::mutex> lock(countersMutex_);
  if (s.isOk()) {
    discovering_ = true;
    ++counters_.discoveryStarts;
  } else {
    ++counters_.discoveryFailures;
    log::warning("ble", "discovery start failed", {log::Field("error", s)});
  }
}

}  // namespace rpm::ble
