// Driver: what a device driver folder provides, as one descriptor.
//
// A driver turns bytes or messages from one kind of device into Readings.
// Descriptors are listed in a registry generated from the driver folders
// (cmake/RpmDrivers.cmake); there is no static self-registration.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/model/DeviceKey.h"
#include "gateway/model/Reading.h"
#include "gateway/model/Status.h"
#include "gateway/model/Time.h"
#include "gateway/ports/ConfigKeySpec.h"

namespace rpm {

enum class Transport : std::uint8_t { kBle = 1, kMqtt = 2 };

// What a decoder knows besides the bytes.
struct DecodeContext {
  DeviceKey device;
  UtcInstant receivedAt;
  int utcOffsetMinutes = 0;                  // hub.timezone offset at receipt
  std::optional<LocalDateTime> sessionStart;  // CGM session start (device local)
};

// One decoded field for people ("--format reading"): name and text value.
struct DecodedField {
  std::string name;
  std::string value;
};

// Everything one payload yields. readings may be empty for valid payloads
// that carry nothing to upload (a feature characteristic, intermediate cuff
// pressure); note then says why.
struct DecodedPayload {
  std::vector<Reading> readings;
  std::vector<DecodedField> fields;
  std::string note;
};

// Pure function: bytes of one characteristic value to readings. No I/O, no
// globals. Malformed input returns kMalformedPayload naming the
// characteristic and the problem; never a partial reading.
using DecodeFunction = Result<DecodedPayload> (*)(std::uint16_t characteristic,
                                                  const std::vector<std::uint8_t>& bytes,
                                                  const DecodeContext& context);

struct DriverDescriptor {
  std::string name;                            // = folder name under drivers/
  Transport transport = Transport::kBle;
  std::string summary;                         // one line for --help and docs
  std::vector<std::uint16_t> serviceUuids;     // GATT services it serves
  std::vector<std::uint16_t> characteristics;  // characteristics decode() accepts
  std::vector<ConfigKeySpec> config;           // keys under drivers.<name>.
  DecodeFunction decode = nullptr;
};

}  // namespace rpm
