// Builders for Readings and a mapping context used by the FHIR tests.
#pragma once

#include <string>

#include "fhir/FixedOffsetZone.h"
#include "fhir/ObservationMapper.h"

namespace rpm::fhir::test {

inline Quantity qty(const char* text, const char* unit) {
  return Quantity{*Decimal::parse(text), SpecialValue::kNone, unit};
}

inline Component comp(Measure m, const char* value, const char* unit, std::string code = {}) {
  Component c;
  c.measure = m;
  c.quantity = qty(value, unit);
  c.code = std::move(code);
  return c;
}

// A bound BLE reading from B0:49:5F:00:10:71 with device time 2024-05-06T08:09:10.
inline Reading reading(ReadingKind kind, std::vector<Component> components) {
  Reading r;
  r.device = *DeviceKey::parse("bt:B0495F001071");
  r.kind = kind;
  r.subject = "Patient/123";
  r.deviceTime = LocalDateTime{2024, 5, 6, 8, 9, 10, 0};
  r.utcOffsetMinutes = 120;
  r.effectiveStart = fromLocal(*r.deviceTime, 120);
  r.receivedAt = r.effectiveStart + std::chrono::seconds(5);
  r.value = std::move(components);
  return r;
}

struct Context {
  FixedOffsetZone zone{120};
  MappingContext ctx;
  Context() {
    ctx.zone = &zone;
    ctx.hubClockSynchronized = true;
    ctx.phdDeviceReference = "Device/phd-1";
    ctx.phgDeviceReference = "Device/hub-1";
  }
};

// Serialized observations of one mapping, compact.
inline std::vector<std::string> dumped(const MappedReading& m) {
  std::vector<std::string> out;
  for (const auto& o : m.observations) out.push_back(dumpFhir(o.resource));
  return out;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace rpm::fhir::test
