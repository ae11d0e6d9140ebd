#include "buffer/ReadingCodec.h"

#include <cstring>
#include <optional>

namespace rpm::buffer {
namespace {

// FNV-1a 64: detects garbled bodies (not an integrity guarantee against an attacker).
std::uint64_t fnv1a64(const std::uint8_t* data, std::size_t size) {
  std::uint64_t h = 1469598103934665603ULL;
  for (std::size_t i = 0; i < size; ++i) {
    h ^= data[i];
    h *= 1099511628211ULL;
  }
  return h;
}

class Writer {
 public:
  Writer() { out_.reserve(512); }  // a typical reading encodes to 200-400 bytes
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) { fixed(v, 2); }
  void u32(std::uint32_t v) { fixed(v, 4); }
  void i32(std::int32_t v) { fixed(static_cast<std::uint32_t>(v), 4); }
  void i64(std::int64_t v) { fixed(static_cast<std::uint64_t>(v), 8); }
  void u64(std::uint64_t v) { fixed(v, 8); }
  void str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void bytes(const std::vector<std::uint8_t>& b) {
    u32(static_cast<std::uint32_t>(b.size()));
    out_.insert(out_.end(), b.begin(), b.end());
  }
  void decimal(const Decimal& d) {
    i64(d.mantissa());
    i32(d.exponent());
  }
  void quantity(const Quantity& q) {
    decimal(q.value);
    u8(static_cast<std::uint8_t>(q.special));
    str(q.unit);
  }
  void instant(UtcInstant t) { i64(t.time_since_epoch().count()); }
  std::vector<std::uint8_t>& out() { return out_; }

 private:
  void fixed(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  std::vector<std::uint8_t> out_;
};

class Reader {
 public:
  Reader(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
  bool ok() const { return ok_; }
  bool atEnd() const { return pos_ == n_; }
  std::uint8_t u8() { return static_cast<std::uint8_t>(fixed(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(fixed(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(fixed(4)); }
  std::int32_t i32() { return static_cast<std::int32_t>(static_cast<std::uint32_t>(fixed(4))); }
  std::int64_t i64() { return static_cast<std::int64_t>(fixed(8)); }
  std::string str() {
    std::uint32_t len = u32();
    if (!need(len)) return {};
    std::string s(reinterpret_cast<const char*>(d_ + pos_), len);
    pos_ += len;
    return s;
  }
  std::vector<std::uint8_t> bytes() {
    std::uint32_t len = u32();
    if (!need(len)) return {};
    std::vector<std::uint8_t> b(d_ + pos_, d_ + pos_ + len);
    pos_ += len;
    return b;
  }
  Decimal decimal() {
    std::int64_t m = i64();
    std::int32_t e = i32();
    return Decimal(m, e);
  }
  Quantity quantity() {
    Quantity q;
    q.value = decimal();
    std::uint8_t special = u8();
    if (special > static_cast<std::uint8_t>(SpecialValue::kReserved)) fail();
    q.special = static_cast<SpecialValue>(special);
    q.unit = str();
    return q;
  }
  UtcInstant instant() { return UtcInstant(std::chrono::microseconds(i64())); }
  // Reads a presence flag (0 or 1).
  bool present() {
    std::uint8_t f = u8();
    if (f > 1) fail();
    return f == 1;
  }
  void fail() { ok_ = false; }

 private:
  bool need(std::size_t k) {
    if (!ok_ || n_ - pos_ < k) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::uint64_t fixed(int k) {
    if (!need(static_cast<std::size_t>(k))) return 0;
    std::uint64_t v = 0;
    for (int i = 0; i < k; ++i) v |= static_cast<std::uint64_t>(d_[pos_ + i]) << (8 * i);
    pos_ += static_cast<std::size_t>(k);
    return v;
  }
  const std::uint8_t* d_;
  std::size_t n_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// The model's name table is the one list of known measures (append-only), so
// a measure added there is stored and read back without touching the codec.
bool validMeasure(std::uint16_t m) { return measureName(static_cast<Measure>(m)) != "unknown"; }

}  // namespace

std::vector<std::uint8_t> encodeReading(const Reading& r) {
  Writer w;
  w.u8(kReadingFormatVersion);
  w.str(r.id);
  w.str(r.device.canonical());
  w.u8(static_cast<std::uint8_t>(r.kind));
  w.str(r.subject);
  w.u8(r.userSlot ? 1 : 0);
  if (r.userSlot) w.u8(*r.userSlot);
  w.instant(r.effectiveStart);
  w.u8(r.effectiveEnd ? 1 : 0);
  if (r.effectiveEnd) w.instant(*r.effectiveEnd);
  w.u8(r.deviceTime ? 1 : 0);
  if (r.deviceTime) {
    const LocalDateTime& t = *r.deviceTime;
    for (int v : {t.year, t.month, t.day, t.hour, t.minute, t.second, t.fractions256}) w.i32(v);
  }
  w.u8(r.deviceTimeOffsetMinutes ? 1 : 0);
  if (r.deviceTimeOffsetMinutes) w.i32(*r.deviceTimeOffsetMinutes);
  w.u8(r.deviceUtcOffsetMinutes ? 1 : 0);
  if (r.deviceUtcOffsetMinutes) w.i32(*r.deviceUtcOffsetMinutes);
  w.instant(r.receivedAt);
  w.u8(r.clockSkewMs ? 1 : 0);
  if (r.clockSkewMs) w.i64(*r.clockSkewMs);
  w.i32(r.utcOffsetMinutes);
  if (const auto* components = std::get_if<std::vector<Component>>(&r.value)) {
    w.u8(0);
    w.u32(static_cast<std::uint32_t>(components->size()));
    for (const Component& c : *components) {
      w.u16(static_cast<std::uint16_t>(c.measure));
      w.quantity(c.quantity);
      w.u8(c.original ? 1 : 0);
      if (c.original) w.quantity(*c.original);
      w.u8(static_cast<std::uint8_t>(c.comparator));
      w.str(c.code);
    }
  } else {
    const auto& s = std::get<SampledSeries>(r.value);
    w.u8(1);
    w.u16(static_cast<std::uint16_t>(s.measure));
    w.u32(s.mdcLead);
    w.quantity(s.origin);
    w.decimal(s.periodMs);
    w.decimal(s.factor);
    w.u32(static_cast<std::uint32_t>(s.samples.size()));
    for (std::int32_t v : s.samples) w.i32(v);
  }
  w.u32(static_cast<std::uint32_t>(r.status.size()));
  for (const StatusWord& s : r.status) {
    w.str(s.name);
    w.u32(s.bits);
  }
  w.u8(r.sequence ? 1 : 0);
  if (r.sequence) w.u32(*r.sequence);
  w.u32(r.resetEpoch);
  w.str(r.relatedReadingId);
  w.u8(static_cast<std::uint8_t>(r.priority));
  w.str(r.producerMessageId);
  w.str(r.producerReadingId);
  w.str(r.raw.format);
  w.bytes(r.raw.bytes);
  w.u64(fnv1a64(w.out().data(), w.out().size()));
  return std::move(w.out());
}

Result<Reading> decodeReading(const std::uint8_t* data, std::size_t size) {
  auto corrupt = [](const char* what) { return Status(ErrorKind::kCorrupt, std::string("stored reading: ") + what); };
  if (size < 9) return corrupt("too short");
  std::uint64_t stored = 0;
  for (int i = 0; i < 8; ++i) stored |= static_cast<std::uint64_t>(data[size - 8 + i]) << (8 * i);
  if (stored != fnv1a64(data, size - 8)) return corrupt("checksum mismatch");
  Reader in(data, size - 8);
  if (in.u8() != kReadingFormatVersion) return corrupt("unknown format version");

  Reading r;
  r.id = in.str();
  std::string device = in.str();
  auto key = DeviceKey::parse(device);
  if (!key && in.ok()) return corrupt("device key does not parse");
  if (key) r.device = *key;
  std::uint8_t kind = in.u8();
  if (readingKindName(static_cast<ReadingKind>(kind)) == "unknown") in.fail();  // the model lists known kinds
  r.kind = static_cast<ReadingKind>(kind);
  r.subject = in.str();
  if (in.present()) r.userSlot = in.u8();
  r.effectiveStart = in.instant();
  if (in.present()) r.effectiveEnd = in.instant();
  if (in.present()) {
    LocalDateTime t;
    t.year = in.i32();
    t.month = in.i32();
    t.day = in.i32();
    t.hour = in.i32();
    t.minute = in.i32();
    t.second = in.i32();
    t.fractions256 = in.i32();
    r.deviceTime = t;
  }
  if (in.present()) r.deviceTimeOffsetMinutes = in.i32();
  if (in.present()) r.deviceUtcOffsetMinutes = in.i32();
  r.receivedAt = in.instant();
  if (in.present()) r.clockSkewMs = in.i64();
  r.utcOffsetMinutes = in.i32();
  std::uint8_t valueTag = in.u8();
  if (valueTag == 0) {
    std::vector<Component> components;
    std::uint32_t n = in.u32();
    for (std::uint32_t i = 0; i < n && in.ok(); ++i) {
      Component c;
      std::uint16_t m = in.u16();
      if (!validMeasure(m)) in.fail();
      c.measure = static_cast<Measure>(m);
      c.quantity = in.quantity();
      if (in.present()) c.original = in.quantity();
      std::uint8_t cmp = in.u8();
      if (cmp > static_cast<std::uint8_t>(Comparator::kGreater)) in.fail();
      c.comparator = static_cast<Comparator>(cmp);
      c.code = in.str();
      components.push_back(std::move(c));
    }
    r.value = std::move(components);
  } else if (valueTag == 1) {
    SampledSeries s;
    std::uint16_t m = in.u16();
    if (!validMeasure(m)) in.fail();
    s.measure = static_cast<Measure>(m);
    s.mdcLead = in.u32();
    s.origin = in.quantity();
    s.periodMs = in.decimal();
    s.factor = in.decimal();
    std::uint32_t n = in.u32();
    for (std::uint32_t i = 0; i < n && in.ok(); ++i) s.samples.push_back(in.i32());
    r.value = std::move(s);
  } else {
    in.fail();
  }
  std::uint32_t statusCount = in.u32();
  for (std::uint32_t i = 0; i < statusCount && in.ok(); ++i) {
    StatusWord s;
    s.name = in.str();
    s.bits = in.u32();
    r.status.push_back(std::move(s));
  }
  if (in.present()) r.sequence = in.u32();
  r.resetEpoch = in.u32();
  r.relatedReadingId = in.str();
  std::uint8_t priority = in.u8();
  if (priority > static_cast<std::uint8_t>(Priority::kStored)) in.fail();
  r.priority = static_cast<Priority>(priority);
  r.producerMessageId = in.str();
  r.producerReadingId = in.str();
  r.raw.format = in.str();
  r.raw.bytes = in.bytes();
  if (!in.ok()) return corrupt("truncated or out-of-range field");
  if (!in.atEnd()) return corrupt("trailing bytes");
  return r;
}

}  // namespace rpm::buffer
