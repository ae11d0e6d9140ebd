// Heart-rate monitor, pulse oximeter, thermometer and weight scale, and the
// device clock (Current Time), as BluezEmulator member functions. Emulator.cpp
// calls in at scenario load, GATT build, subscription, link-up, WriteValue,
// ReadValue of Current Time, and for control methods it does not know.
#include <chrono>
#include <ctime>
#include <stdexcept>

#include "Emulator.h"
#include "ProfileDevices.h"
#include "drivers/common/MedicalFloat.h"
#include "gateway/model/Decimal.h"

namespace rpm::emulator {
namespace {

std::string uuid128(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (text.size() == 4) return "0000" + text + "-0000-1000-8000-00805f9b34fb";
  return text;
}

void putU16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}

void putDateTime(Bytes& out, const DateTimeFields& t) {
  putU16(out, t.year);
  out.insert(out.end(), {t.month, t.day, t.hours, t.minutes, t.seconds});
}

std::optional<DateTimeFields> timeOf(const nlohmann::json& r) {
  if (!r.contains("time")) return std::nullopt;
  auto t = parseDateTimeFields(r["time"].get<std::string>());
  if (!t) throw std::invalid_argument("bad time in scenario: " + r["time"].get<std::string>());
  return t;
}

PlxSample plxOf(const nlohmann::json& r) {
  PlxSample s;
  s.spo2 = r.value("spo2", s.spo2);
  s.pulse = r.value("pulse", s.pulse);
  s.time = timeOf(r);
  return s;
}

int replyError(sd_bus_message* m, const char* name, const char* message) {
  return sd_bus_reply_method_errorf(m, name, "%s", message);
}

// The service a profile device kind advertises and exposes.
std::string serviceOfKind(const std::string& kind) {
  if (kind == "heart_rate_monitor") return "180d";
  if (kind == "pulse_oximeter") return "1822";
  if (kind == "thermometer") return "1809";
  if (kind == "weight_scale") return "181d";
  return "";
}

}  // namespace

Bytes encodeHeartRate(const HeartRateSample& sample) {
  Bytes out;
  std::uint8_t flags = 0x06;  // u8 format, sensor contact supported and detected
  if (sample.bpm > 255) flags |= 0x01;
  if (!sample.rr1024.empty()) flags |= 0x10;
  out.push_back(flags);
  if (sample.bpm > 255) putU16(out, sample.bpm);
  else out.push_back(static_cast<std::uint8_t>(sample.bpm));
  for (auto rr : sample.rr1024) putU16(out, rr);
  return out;
}

Bytes encodePlxSpotCheck(const PlxSample& sample, bool statusFromStorage) {
  Bytes out;
  std::uint8_t flags = 0;
  if (sample.time) flags |= 0x01;
  if (statusFromStorage) flags |= 0x02;
  out.push_back(flags);
  putU16(out, sfloatOf(sample.spo2));
  putU16(out, sfloatOf(sample.pulse));
  if (sample.time) putDateTime(out, *sample.time);
  if (statusFromStorage) putU16(out, 0x0200);  // bit 9: data from measurement storage
  return out;
}

Bytes encodePlxContinuous(const PlxSample& sample) {
  Bytes out{0x00};  // SpO2PR-Normal only
  putU16(out, sfloatOf(sample.spo2));
  putU16(out, sfloatOf(sample.pulse));
  return out;
}

Bytes encodeTemperature(const std::string& celsius, const std::optional<DateTimeFields>& time) {
  Bytes out{static_cast<std::uint8_t>(time ? 0x02 : 0x00)};  // Celsius, time stamp if given
  auto value = Decimal::parse(celsius);
  std::uint32_t word = 0;
  if (!value || !drivers::encodeFloat(*value, word)) throw std::invalid_argument("not a FLOAT: " + celsius);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(word >> (8 * i)));
  if (time) putDateTime(out, *time);
  return out;
}

Bytes encodeWeight(const WeightRecord& record) {
  auto kg = Decimal::parse(record.kg);
  if (!kg) throw std::invalid_argument("not a weight: " + record.kg);
  // raw = kg / 0.005 = kg x 200, exactly (§3.6).
  std::int64_t raw = kg->mantissa() * 200;
  for (int e = kg->exponent(); e > 0; --e) raw *= 10;
  for (int e = kg->exponent(); e < 0; ++e) {
    if (raw % 10 != 0) throw std::invalid_argument("weight not a multiple of 5 g: " + record.kg);
    raw /= 10;
  }
  if (raw < 0 || raw >= 0xFFFF) throw std::invalid_argument("weight out of range: " + record.kg);
  Bytes out;
  std::uint8_t flags = 0x00;  // SI
  if (record.time) flags |= 0x02;
  if (record.user) flags |= 0x04;
  out.push_back(flags);
  putU16(out, static_cast<std::uint16_t>(raw));
  if (record.time) putDateTime(out, *record.time);
  if (record.user) out.push_back(*record.user);
  return out;
}

void BluezEmulator::loadProfileDevice(VirtualDevice& dev, const nlohmann::json& d) {
  auto& p = dev.profile;
  if (d.contains("heart_rate")) {
    const auto& h = d["heart_rate"];
    for (const auto& s : h.value("samples", nlohmann::json::array())) {
      HeartRateSample sample;
      sample.bpm = s.value("bpm", std::uint16_t{70});
      for (const auto& rr : s.value("rr_1024", nlohmann::json::array())) sample.rr1024.push_back(rr.get<std::uint16_t>());
      p.heartRate.push_back(sample);
    }
    p.streamIntervalMs = h.value("interval_ms", p.streamIntervalMs);
    p.stopAfter = h.value("stop_after", p.stopAfter);
  }
  if (d.contains("pulse_oximeter")) {
    const auto& x = d["pulse_oximeter"];
    p.plxSpotCheck = x.contains("spot_checks");
    p.plxContinuousPresent = x.contains("continuous");
    p.plxRacp = x.value("racp", false);
    for (const auto& r : x.value("spot_checks", nlohmann::json::array())) p.plxSpotChecks.push_back(plxOf(r));
    for (const auto& r : x.value("continuous", nlohmann::json::array())) p.plxContinuous.push_back(plxOf(r));
    p.streamIntervalMs = x.value("interval_ms", p.streamIntervalMs);
    p.stopAfter = x.value("stop_after", p.stopAfter);
    p.disconnectAfterIndications = x.value("disconnect_after_indications", !p.plxContinuousPresent);
  }
  if (d.contains("thermometer")) {
    const auto& t = d["thermometer"];
    for (const auto& r : t.value("measurements", nlohmann::json::array())) {
      TemperatureRecord rec;
      rec.celsius = r.value("celsius", rec.celsius);
      rec.time = timeOf(r);
      for (const auto& i : r.value("intermediate", nlohmann::json::array())) rec.intermediate.push_back(i.get<std::string>());
      p.temperatures.push_back(rec);
    }
  }
  if (d.contains("weight_scale")) {
    const auto& w = d["weight_scale"];
    for (const auto& r : w.value("records", nlohmann::json::array())) {
      WeightRecord rec;
      rec.kg = r.value("kg", rec.kg);
      if (r.contains("user")) rec.user = r["user"].get<std::uint8_t>();
      rec.time = timeOf(r);
      p.weights.push_back(rec);
    }
  }
  if (d.contains("current_time")) {
    const auto& c = d["current_time"];
    p.currentTimeWritable = c.value("writable", false);
  }
  if (dev.advertisedUuids.empty() && !d.contains("advertised_uuids")) {
    auto svc = serviceOfKind(dev.kind);
    if (!svc.empty()) dev.advertisedUuids = {uuid128(svc)};
  }
}

void BluezEmulator::buildProfileGatt(VirtualDevice& dev, const AddServiceFn& addService, const AddCharFn& addChar) {
  const auto& p = dev.profile;
  if (dev.kind == "heart_rate_monitor") {
    auto& hrs = addService("180d", true);
    addChar(hrs, "2a37", {"notify"}, {});
    addChar(hrs, "2a38", {"read"}, Bytes{0x01});  // chest
  } else if (dev.kind == "pulse_oximeter") {
    auto& plx = addService("1822", true);
    if (p.plxSpotCheck) addChar(plx, "2a5e", {"indicate"}, {});
    if (p.plxContinuousPresent) addChar(plx, "2a5f", {"notify"}, {});
    std::uint16_t features = p.plxRacp ? 0x0004 : 0x0000;  // bit 2: spot-check measurement storage
    addChar(plx, "2a60", {"read"}, Bytes{static_cast<std::uint8_t>(features), 0x00});
    if (p.plxRacp) addChar(plx, "2a52", {"write", "indicate"}, {});
  } else if (dev.kind == "thermometer") {
    auto& hts = addService("1809", true);
    addChar(hts, "2a1c", {"indicate"}, {});
    addChar(hts, "2a1d", {"read"}, Bytes{0x06});  // mouth
    addChar(hts, "2a1e", {"notify"}, {});
  } else if (dev.kind == "weight_scale") {
    auto& wss = addService("181d", true);
    addChar(wss, "2a9e", {"read"}, Bytes{0x03, 0x00, 0x00, 0x00});  // time stamp, multiple users
    addChar(wss, "2a9d", {"indicate"}, {});
  }
}

void BluezEmulator::profileSubscribed(VirtualDevice& dev, const std::string& charUuid) {
  if (!dev.connected || !dev.resolved) return;
  auto epoch = dev.linkEpoch;
  auto& p = dev.profile;
  if ((charUuid == uuid128("2a37") && !p.heartRate.empty()) ||
      (charUuid == uuid128("2a5f") && !p.plxContinuous.empty())) {
    if (p.streamEpoch == epoch) return;  // already streaming on this link
    p.streamEpoch = epoch;
    std::string uuid = charUuid;
    after(p.streamIntervalMs, [this, &dev, uuid, epoch] { streamTick(dev, uuid, epoch); });
  } else if (charUuid == uuid128("2a5e") && !p.plxRacp) {
    after(5, [this, &dev, epoch] { indicateProfileRecords(dev, "2a5e", 0, epoch); });
  } else if (charUuid == uuid128("2a1c")) {
    after(5, [this, &dev, epoch] { indicateProfileRecords(dev, "2a1c", 0, epoch); });
  } else if (charUuid == uuid128("2a9d")) {
    after(5, [this, &dev, epoch] { indicateProfileRecords(dev, "2a9d", 0, epoch); });
  }
}

void BluezEmulator::profileLinkResumed(VirtualDevice& dev) {
  // CCCs of a bonded device stay enabled across links (§4.4).
  for (const char* uuid : {"2a37", "2a5f", "2a5e", "2a1c", "2a9d"}) {
    for (auto& svc : dev.services) {
      for (auto& c : svc.characteristics) {
        if (c.uuid == uuid128(uuid) && c.cccEnabled()) profileSubscribed(dev, c.uuid);
      }
    }
  }
}

void BluezEmulator::streamTick(VirtualDevice& dev, const std::string& charUuid, std::uint64_t epoch) {
  auto& p = dev.profile;
  if (dev.linkEpoch != epoch || !dev.connected) return;
  bool heartRate = charUuid == uuid128("2a37");
  if (p.streaming && (p.stopAfter < 0 || p.streamSent < static_cast<std::uint64_t>(p.stopAfter))) {
    Bytes value = heartRate ? encodeHeartRate(p.heartRate[p.streamSent % p.heartRate.size()])
                            : encodePlxContinuous(p.plxContinuous[p.streamSent % p.plxContinuous.size()]);
    ++p.streamSent;
    dev.counters["StreamSent"]++;
    deviceSends(dev, heartRate ? "2a37" : "2a5f", value);
  }
  after(p.streamIntervalMs, [this, &dev, charUuid, epoch] { streamTick(dev, charUuid, epoch); });
}

void BluezEmulator::indicateProfileRecords(VirtualDevice& dev, const std::string& charUuid, std::size_t index,
                                           std::uint64_t epoch) {
  if (dev.linkEpoch != epoch || !dev.connected) return;
  auto& p = dev.profile;
  auto next = [this, &dev, charUuid, index, epoch] {
    after(5, [this, &dev, charUuid, index, epoch] { indicateProfileRecords(dev, charUuid, index + 1, epoch); });
  };
  if (charUuid == "2a1c" && index < p.temperatures.size()) {
    const auto& t = p.temperatures[index];
    // The live display while measuring, then the final value.
    for (const auto& i : t.intermediate) deviceSends(dev, "2a1e", encodeTemperature(i, std::nullopt));
    deviceSends(dev, "2a1c", encodeTemperature(t.celsius, t.time));
    return next();
  }
  if (charUuid == "2a9d" && index < p.weights.size()) {
    deviceSends(dev, "2a9d", encodeWeight(p.weights[index]));
    return next();
  }
  if ((charUuid == "2a5e" || charUuid == "racp") && index < p.plxSpotChecks.size()) {
    deviceSends(dev, "2a5e", encodePlxSpotCheck(p.plxSpotChecks[index], charUuid == "racp"));
    return next();
  }
  if (charUuid == "racp") {
    deviceSends(dev, "2a52", racpResponse(0x01, p.plxSpotChecks.empty() ? 0x06 : 0x01));
    return;
  }
  if (p.disconnectAfterIndications) {
    // Like the cuff: the device drops the link itself once its readings are sent.
    after(20, [this, &dev, epoch] {
      if (dev.linkEpoch == epoch) linkDown(dev);
    });
  }
}

std::optional<int> BluezEmulator::profileWrite(sd_bus_message* m, VirtualDevice& dev, VirtualCharacteristic& ch,
                                               const Bytes& value) {
  auto& p = dev.profile;
  if (ch.uuid == uuid128("2a2b")) {
    // A read-only Current Time answers the ATT write with "Write Not Permitted".
    if (!p.currentTimeWritable) return replyError(m, "org.bluez.Error.NotPermitted", "Write not permitted");
    if (value.size() != 10) return replyError(m, "org.bluez.Error.InvalidValueLength", "Invalid value length");
    ch.readValue = value;  // the device clock now reads what was written
    dev.counters["CurrentTimeWritten"]++;
    return sd_bus_reply_method_return(m, "");
  }
  if (dev.kind == "pulse_oximeter" && ch.uuid == uuid128("2a52")) {
    dev.counters["RacpRequests"]++;
    if (value.size() != 2 || value[0] != 0x01) {
      sd_bus_reply_method_return(m, "");
      std::uint8_t op = value.empty() ? 0 : value[0];
      deviceSends(dev, "2a52", racpResponse(op, 0x02));  // op code not supported
      return 1;
    }
    int r = sd_bus_reply_method_return(m, "");
    auto epoch = dev.linkEpoch;
    after(5, [this, &dev, epoch] { indicateProfileRecords(dev, "racp", 0, epoch); });
    return r;
  }
  return std::nullopt;
}

std::optional<int> BluezEmulator::handleProfileControl(sd_bus_message* m, const std::string& member) {
  if (member == "SetStreaming" && sd_bus_message_has_signature(m, "sb")) {
    const char* a = nullptr;
    int on = 0;
    sd_bus_message_read(m, "sb", &a, &on);
    auto* dev = deviceByAddress(a);
    if (!dev) return replyError(m, "org.rpmgateway.Emulator.Error.NoSuchDevice", "no such virtual device");
    dev->profile.streaming = on != 0;
    return sd_bus_reply_method_return(m, "");
  }
  return std::nullopt;
}

}  // namespace rpm::emulator
