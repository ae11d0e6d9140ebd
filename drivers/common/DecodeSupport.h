// Helpers shared by the GATT decoders: typed errors, reading skeletons and
// the text of decoded fields ("rpm-gateway decode --format reading").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "drivers/common/ByteReader.h"
#include "gateway/model/Reading.h"
#include "gateway/model/Status.h"
#include "gateway/ports/Driver.h"

namespace rpm::drivers {

// kMalformedPayload "<label>: <problem>", e.g. "Blood Pressure Measurement
// (0x2A35): too short for the time stamp". The problem text must never
// contain a measured value.
Status malformed(const char* characteristicLabel, const std::string& problem);

// Reads a Date Time field; on failure returns the malformed status for
// "too short for the <what>" or "impossible date or time in the <what>".
std::optional<Status> readDateTimeField(ByteReader& reader, const char* characteristicLabel, const char* what,
                                        LocalDateTime& out);

// A reading with the device, receive time, hub offset, raw payload
// ("gatt:XXXX" + bytes) and effective start set: the device time read at
// the hub's offset when it is known, else the receive time.
Reading makeReading(ReadingKind kind, std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                    const DecodeContext& context, const std::optional<LocalDateTime>& deviceTime);

// "gatt:2A35"
std::string rawFormat(std::uint16_t characteristic);
// "0x1A2B" (upper-case hex, width digits).
std::string hexText(std::uint32_t value, int digits);

// "120 mm[Hg]", "nan mm[Hg]", "120.0 mm[Hg] (from 16.0 kPa)".
std::string quantityText(const Quantity& q);
std::string componentText(const Component& c);

// Appends "name: yes" / "name: no" for each named bit of a feature word.
struct BitName {
  unsigned bit;
  const char* name;
};
void appendBitFields(std::vector<DecodedField>& fields, std::uint32_t word, const std::vector<BitName>& names);
// "a, b" for each set named bit, "none" when no named bit is set.
std::string setBitNames(std::uint32_t word, const std::vector<BitName>& names);

}  // namespace rpm::drivers
