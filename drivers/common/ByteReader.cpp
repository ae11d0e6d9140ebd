#include "drivers/common/ByteReader.h"

namespace rpm::drivers {

bool ByteReader::u8(std::uint8_t& out) {
  if (remaining() < 1) return false;
  out = data_[pos_++];
  return true;
}

bool ByteReader::u16(std::uint16_t& out) {
#ifdef RPM_PLANTED_OOB_READ_FOR_TEST
  // Test-only planted bug (tests/fuzz/README.md): reads one byte past the end
  // when exactly one byte is left. Never defined outside the fuzz self-test.
  if (remaining() == 1) {
    out = static_cast<std::uint16_t>(data_[pos_] | (data_[pos_ + 1] << 8));
    return false;
  }
#endif
  if (remaining() < 2) return false;
  out = static_cast<std::uint16_t>(data_[pos_] | (data_[pos_ + 1] << 8));
  pos_ += 2;
  return true;
}

bool ByteReader::u24(std::uint32_t& out) {
  if (remaining() < 3) return false;
  out = std::uint32_t(data_[pos_]) | (std::uint32_t(data_[pos_ + 1]) << 8) | (std::uint32_t(data_[pos_ + 2]) << 16);
  pos_ += 3;
  return true;
}

bool ByteReader::u32(std::uint32_t& out) {
  if (remaining() < 4) return false;
  out = std::uint32_t(data_[pos_]) | (std::uint32_t(data_[pos_ + 1]) << 8) | (std::uint32_t(data_[pos_ + 2]) << 16) |
        (std::uint32_t(data_[pos_ + 3]) << 24);
  pos_ += 4;
  return true;
}

bool ByteReader::s16(std::int16_t& out) {
  std::uint16_t u = 0;
  if (!u16(u)) return false;
  out = static_cast<std::int16_t>(u);
  return true;
}

bool ByteReader::skip(std::size_t n) {
  if (remaining() < n) return false;
  pos_ += n;
  return true;
}

}  // namespace rpm::drivers
