// ByteReader: bounds-checked little-endian reads over a GATT value.
// Every read reports failure instead of reading past the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rpm::drivers {

class ByteReader {
 public:
  explicit ByteReader(const std::vector<std::uint8_t>& bytes) : data_(bytes.data()), size_(bytes.size()) {}
  ByteReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  std::size_t remaining() const { return size_ - pos_; }
  std::size_t position() const { return pos_; }
  bool atEnd() const { return pos_ == size_; }

  bool u8(std::uint8_t& out);
  bool u16(std::uint16_t& out);   // little-endian (GATT is LSO first)
  bool u24(std::uint32_t& out);
  bool u32(std::uint32_t& out);
  bool s16(std::int16_t& out);
  bool skip(std::size_t n);

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

}  // namespace rpm::drivers
