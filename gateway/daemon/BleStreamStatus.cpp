#include "gateway/daemon/BleStreamStatus.h"

namespace rpm {

nlohmann::json bleStreamStatusJson(const std::vector<ble::BleStreamStatus>& streams, UtcInstant now) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : streams) {
    nlohmann::json entry{{"device", s.device}, {"profile", s.profile}, {"state", s.state}};
    entry["last_sample_age_s"] =
        s.lastSampleAt ? nlohmann::json(std::chrono::duration_cast<std::chrono::seconds>(now - *s.lastSampleAt).count())
                       : nlohmann::json();
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace rpm
