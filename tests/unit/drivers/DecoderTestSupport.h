// Shared helpers for the decoder tests: hex payloads, a fixed context and a
// check that a payload is rejected with an exact message.
#pragma once

#include <catch2/catch.hpp>

#include <cctype>
#include <string>
#include <vector>

#include "gateway/ports/Driver.h"

namespace rpm::test {

// "1E 79 00" -> bytes (spaces ignored).
inline std::vector<std::uint8_t> hex(const std::string& text) {
  std::vector<std::uint8_t> out;
  std::string digits;
  for (char c : text) {
    if (std::isxdigit(static_cast<unsigned char>(c))) digits += c;
  }
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// Received 2024-01-02T03:04:05Z on a hub at +01:00.
inline DecodeContext decoderContext() {
  DecodeContext c;
  c.device = *DeviceKey::parse("bt:B0495F001071");
  c.receivedAt = UtcInstant(std::chrono::seconds(1704164645));
  c.utcOffsetMinutes = 60;
  return c;
}

inline std::string fieldValue(const DecodedPayload& p, const std::string& name) {
  for (const DecodedField& f : p.fields) {
    if (f.name == name) return f.value;
  }
  return "<absent>";
}

template <typename Decode>
void requireMalformed(Decode decode, std::uint16_t characteristic, const std::string& hexText,
                      const std::string& expectedMessage) {
  INFO(hexText);
  auto r = decode(characteristic, hex(hexText), decoderContext());
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().kind() == ErrorKind::kMalformedPayload);
  CHECK(r.status().message() == expectedMessage);
}

}  // namespace rpm::test
