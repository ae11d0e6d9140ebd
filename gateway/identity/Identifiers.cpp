#include "gateway/identity/Identifiers.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>

namespace rpm {
namespace {

std::string toHex(const unsigned char* data, size_t n, bool upper) {
  static const char* kLower = "0123456789abcdef";
  static const char* kUpper = "0123456789ABCDEF";
  const char* digits = upper ? kUpper : kLower;
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 0x0F]);
  }
  return out;
}

// Digest with OpenSSL's EVP interface; the algorithms are fixed, so a failure
// here is a broken installation, not an environmental error.
std::vector<unsigned char> digest(const EVP_MD* md, std::string_view a, std::string_view b = {}) {
  std::vector<unsigned char> out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, md, nullptr) == 1 && EVP_DigestUpdate(ctx, a.data(), a.size()) == 1 &&
            EVP_DigestUpdate(ctx, b.data(), b.size()) == 1 && EVP_DigestFinal_ex(ctx, out.data(), &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) std::abort();
  out.resize(len);
  return out;
}

bool isSequencedKind(ReadingKind kind) {
  return kind == ReadingKind::kGlucose || kind == ReadingKind::kGlucoseContext || kind == ReadingKind::kCgmGlucose;
}

}  // namespace

std::string sha256Hex(std::string_view data) {
  auto d = digest(EVP_sha256(), data);
  return toHex(d.data(), d.size(), false);
}

ReadingIdRule readingIdRule(const Reading& r) {
  if (isSequencedKind(r.kind) && r.sequence) return ReadingIdRule::kSequence;
  if (!r.producerReadingId.empty()) return ReadingIdRule::kProducerId;
  if (r.deviceTime && r.deviceTime->isKnown()) return ReadingIdRule::kDeviceTime;
  return ReadingIdRule::kReceiveTime;
}

std::string computeReadingId(const Reading& r) {
  // Field order and spelling are frozen (docs/decisions/0002-reading-id.md).
  std::string text = "rpm-reading-v1\n";
  text += r.device.canonical();
  text += '\n';
  text += readingKindName(r.kind);
  text += '\n';
  switch (readingIdRule(r)) {
    case ReadingIdRule::kSequence:
      text += "seq:" + std::to_string(*r.sequence);
      text += "\nbase:" + (r.deviceTime ? r.deviceTime->toString() : std::string("none"));
      text += "\nepoch:" + std::to_string(r.resetEpoch);
      break;
    case ReadingIdRule::kProducerId:
      text += "producer:" + r.producerReadingId;
      break;
    case ReadingIdRule::kDeviceTime: {
      text += "time:" + r.deviceTime->toString();
      if (r.deviceTime->fractions256 != 0) text += "+" + std::to_string(r.deviceTime->fractions256) + "/256";
      if (r.deviceTimeOffsetMinutes) text += "\noffset:" + std::to_string(*r.deviceTimeOffsetMinutes);
      if (r.userSlot) text += "\nslot:" + std::to_string(*r.userSlot);
      break;
    }
    case ReadingIdRule::kReceiveTime:
      text += "received:" + std::to_string(r.receivedAt.time_since_epoch().count());
      text += "\nraw:" + sha256Hex(std::string_view(reinterpret_cast<const char*>(r.raw.bytes.data()),
                                                    r.raw.bytes.size()));
      break;
  }
  return sha256Hex(text).substr(0, 32);
}

Uuid uuidV5(const Uuid& nameSpace, std::string_view name) {
  auto d = digest(EVP_sha1(),
                  std::string_view(reinterpret_cast<const char*>(nameSpace.data()), nameSpace.size()), name);
  Uuid u{};
  for (size_t i = 0; i < u.size(); ++i) u[i] = d[i];
  u[6] = static_cast<std::uint8_t>((u[6] & 0x0F) | 0x50);  // version 5
  u[8] = static_cast<std::uint8_t>((u[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return u;
}

std::string uuidToString(const Uuid& u) {
  std::string hex = toHex(u.data(), u.size(), false);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

std::string logicalIdForIdentifier(std::string_view system, std::string_view value) {
  std::string name(system);
  name += '|';
  name += value;
  return uuidToString(uuidV5(kUuidNamespaceUrl, name));
}

std::string deviceIdentifierPart(const DeviceKey& device) {
  if (device.scheme() == DeviceKeyScheme::kMqttIdentity) {
    Uuid u = uuidV5(kUuidNamespaceUrl, "urn:rpm-gateway:device:" + device.canonical());
    return toHex(u.data(), u.size(), true);
  }
  return device.value();
}

std::int64_t identifierTimestampSeconds(const Reading& r) {
  if (r.deviceTime && r.deviceTime->isKnown() && r.deviceTime->isValid()) {
    // CGM records share the session start: each is placed by its Time Offset.
    // (Glucose records keep the Base Time alone: their offset can change.)
    if (r.kind == ReadingKind::kCgmGlucose && r.deviceTimeOffsetMinutes) {
      return r.deviceTime->secondsSince2000() + std::int64_t(*r.deviceTimeOffsetMinutes) * 60;
    }
    return r.deviceTime->secondsSince2000();
  }
  return toLocal(r.effectiveStart, r.utcOffsetMinutes).secondsSince2000();
}

std::string conditionalCreateIdentifier(const ConditionalIdParts& p) {
  std::string out = deviceIdentifierPart(p.device);
  if (!p.patientId.empty()) out += "-" + p.patientId;
  out += "-" + std::to_string(p.mdcCode);
  out += "-" + std::to_string(p.timestampSeconds);
  if (p.deviceUtcOffsetQuarterHours) {
    int q = *p.deviceUtcOffsetQuarterHours;
    out += (q < 0 ? "-" : "+") + std::to_string(q < 0 ? -q : q);
  }
  if (p.durationSeconds) out += ".." + std::to_string(*p.durationSeconds);
  for (auto code : p.supplementalTypes) out += "-" + std::to_string(code);
  return out;
}

DeviceAlias DeviceAliaser::aliasFor(const DeviceKey& device) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  std::string key = device.canonical();
  if (!HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
            reinterpret_cast<const unsigned char*>(key.data()), key.size(), mac, &len)) {
    std::abort();
  }
  return DeviceAlias("dev-" + toHex(mac, 4, false));
}

}  // namespace rpm
