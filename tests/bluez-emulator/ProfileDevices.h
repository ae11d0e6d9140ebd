// The emulator's heart-rate monitor, pulse oximeter, thermometer and weight
// scale, and the writable Current Time: scenario state and GATT encoders
// (inverses of the drivers' parsers, so scenarios are written in clinical
// units). Behaviour: ProfileDevices.cpp (BluezEmulator member functions).
// Layouts: shared health-devices-to-fhir.md §2.3, §3.3-§3.6.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "GattEncoders.h"

namespace rpm::emulator {

struct HeartRateSample {
  std::uint16_t bpm = 70;
  std::vector<std::uint16_t> rr1024;  // RR intervals in 1/1024 s, oldest first
};

struct PlxSample {
  std::string spo2 = "97", pulse = "70";  // % and /min, decimal text (SFLOAT)
  std::optional<DateTimeFields> time;     // spot-check only
};

struct TemperatureRecord {
  std::string celsius = "37.0";            // FLOAT, decimal text
  std::optional<DateTimeFields> time;
  std::vector<std::string> intermediate;   // Intermediate Temperature values sent before it
};

struct WeightRecord {
  std::string kg = "70";  // sent as raw x 0.005 kg
  std::optional<std::uint8_t> user;
  std::optional<DateTimeFields> time;
};

// Scenario keys: "heart_rate", "pulse_oximeter", "thermometer", "weight_scale", "current_time".
struct ProfileDeviceState {
  // Continuous streams (heart rate 0x2A37, PLX continuous 0x2A5F): the
  // samples are sent in a loop every streamIntervalMs while subscribed and
  // streaming; stopAfter > 0 stops the stream (link kept) after that many.
  std::vector<HeartRateSample> heartRate;
  std::vector<PlxSample> plxContinuous;
  std::uint32_t streamIntervalMs = 20;
  bool streaming = true;
  std::int32_t stopAfter = -1;
  std::uint64_t streamSent = 0;
  std::uint64_t streamEpoch = 0;  // link epoch the running stream timer belongs to
  // PLX spot-checks: indicated on subscription, or with "racp" on request
  // (Measurement Status "data from storage").
  std::vector<PlxSample> plxSpotChecks;
  bool plxSpotCheck = false, plxContinuousPresent = false, plxRacp = false;
  std::vector<TemperatureRecord> temperatures;
  std::vector<WeightRecord> weights;
  bool disconnectAfterIndications = true;
  bool currentTimeWritable = false;
};

Bytes encodeHeartRate(const HeartRateSample& sample);
// statusFromStorage adds Measurement Status with bit 9 (data from storage).
Bytes encodePlxSpotCheck(const PlxSample& sample, bool statusFromStorage);
Bytes encodePlxContinuous(const PlxSample& sample);
// intermediate: the same layout is used for 0x2A1E.
Bytes encodeTemperature(const std::string& celsius, const std::optional<DateTimeFields>& time);
Bytes encodeWeight(const WeightRecord& record);

}  // namespace rpm::emulator
