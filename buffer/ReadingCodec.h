// ReadingCodec: the exact, versioned byte form of a Reading as the buffer
// stores it (docs/decisions/0030-buffer-reading-serialization.md).
//
// Every field is kept; Decimals are stored as mantissa and exponent so a
// backlog decodes to the very same precision. A checksum trailer lets a
// salvage of a corrupt database refuse garbled bodies instead of uploading
// wrong clinical values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gateway/model/Reading.h"
#include "gateway/model/Status.h"

namespace rpm::buffer {

// Version 1 of the format. Decoders keep accepting every version ever written.
inline constexpr std::uint8_t kReadingFormatVersion = 1;

std::vector<std::uint8_t> encodeReading(const Reading& reading);

// kCorrupt when the bytes are truncated, carry trailing garbage, fail the
// checksum or hold an enum value this build does not know.
Result<Reading> decodeReading(const std::uint8_t* data, std::size_t size);

}  // namespace rpm::buffer
