// libFuzzer entry point covering every registered decoder.
//
// Input layout: bytes 0-1 = characteristic UUID (little-endian; a UUID no
// driver claims is mapped onto one that is, so every input reaches a
// decoder), byte 2 = context options (bit0: a CGM session start is given),
// the rest = the characteristic value. Besides memory errors (ASan) and
// undefined behaviour (UBSan) the harness checks the decoder contract:
// failures are kMalformedPayload naming the characteristic; successes carry
// fields, and readings carry the raw bytes and no reading id; a RACP request
// that parses is rebuilt to exactly the same bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "drivers/glucose/RecordAccessControlPoint.h"
#include "drivers/registry/DriverRegistry.h"

namespace {

std::vector<std::uint16_t> allCharacteristics() {
  std::vector<std::uint16_t> out;
  for (const rpm::DriverDescriptor* d : rpm::drivers::registeredDrivers()) {
    for (std::uint16_t c : d->characteristics) out.push_back(c);
  }
  return out;
}

void require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "decoder contract violated: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<std::uint16_t> characteristics = allCharacteristics();
  if (size < 3 || characteristics.empty()) return 0;
  std::uint16_t uuid = static_cast<std::uint16_t>(data[0] | (data[1] << 8));
  const rpm::DriverDescriptor* driver = rpm::drivers::driverForCharacteristic(uuid);
  if (!driver) {
    uuid = characteristics[uuid % characteristics.size()];
    driver = rpm::drivers::driverForCharacteristic(uuid);
  }
  rpm::DecodeContext context;
  context.device = *rpm::DeviceKey::parse("bt:B0495F001071");
  context.receivedAt = rpm::UtcInstant(std::chrono::seconds(1704164645));
  context.utcOffsetMinutes = 60;
  if (data[2] & 0x01) context.sessionStart = rpm::LocalDateTime{2024, 1, 1, 22, 0, 0, 0};
  // A heap copy of exactly the value, so ASan sees any read past its end.
  const std::vector<std::uint8_t> value(data + 3, data + size);

  auto result = driver->decode(uuid, value, context);
  if (!result.isOk()) {
    char tag[16];
    std::snprintf(tag, sizeof tag, "(0x%04X)", uuid);
    require(result.status().kind() == rpm::ErrorKind::kMalformedPayload, "failure kind is not malformed-payload");
    require(result.status().message().find(tag) != std::string::npos, "error message does not name the characteristic");
    return 0;
  }
  require(!result->fields.empty() || value.empty(), "a decoded value has no fields");
  for (const rpm::Reading& reading : result->readings) {
    require(reading.id.empty(), "a decoder computed a reading id");
    require(!reading.raw.bytes.empty(), "a reading lacks its raw bytes");
    for (const rpm::Component& c : reading.components()) {
      (void)c.quantity.value.toString();  // exercise the exact decimal text
      if (c.original) (void)c.original->value.toString();
    }
  }
  if (uuid == 0x2A52) {
    auto parsed = rpm::drivers::glucose::parseRacp(value);
    require(parsed.isOk(), "RACP decode succeeded but parseRacp failed");
    if (parsed->request) {
      auto rebuilt = rpm::drivers::glucose::buildRacpRequest(*parsed->request);
      require(rebuilt.isOk(), "a parsed RACP request cannot be rebuilt");
      require(*rebuilt == value, "a parsed RACP request rebuilds to different bytes");
    }
  }
  return 0;
}
