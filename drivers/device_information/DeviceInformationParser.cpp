#include "drivers/device_information/DeviceInformationParser.h"

#include <cstdio>

#include "drivers/common/ByteReader.h"
#include "drivers/common/DecodeSupport.h"

namespace rpm::drivers::device_information {
namespace {

const char* labelOf(std::uint16_t characteristic) {
  switch (characteristic) {
    case kDateTime: return "Date Time (0x2A08)";
    case kCurrentTime: return "Current Time (0x2A2B)";
    case kManufacturerName: return "Manufacturer Name String (0x2A29)";
    case kModelNumber: return "Model Number String (0x2A24)";
    case kSerialNumber: return "Serial Number String (0x2A25)";
    case kHardwareRevision: return "Hardware Revision String (0x2A27)";
    case kFirmwareRevision: return "Firmware Revision String (0x2A26)";
    case kSoftwareRevision: return "Software Revision String (0x2A28)";
    case kSystemId: return "System ID (0x2A23)";
    case kPnpId: return "PnP ID (0x2A50)";
    case kBatteryLevel: return "Battery Level (0x2A19)";
    default: return "Device information characteristic";
  }
}

const char* fieldNameOf(std::uint16_t characteristic) {
  switch (characteristic) {
    case kManufacturerName: return "manufacturer-name";
    case kModelNumber: return "model-number";
    case kSerialNumber: return "serial-number";
    case kHardwareRevision: return "hardware-revision";
    case kFirmwareRevision: return "firmware-revision";
    default: return "software-revision";
  }
}

bool validUtf8(const std::uint8_t* s, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t c = s[i];
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { extra = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { extra = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { extra = 3; cp = c & 0x07; }
    else return false;
    if (n - i <= extra) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values beyond U+10FFFF are invalid.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

const char* const kDays[8] = {"unknown", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};

}  // namespace

Result<LocalDateTime> parseDateTime(const std::vector<std::uint8_t>& bytes) {
  const char* label = labelOf(kDateTime);
  ByteReader r(bytes);
  LocalDateTime t;
  if (auto bad = readDateTimeField(r, label, "date time", t)) return *bad;
  if (!r.atEnd()) return malformed(label, "unexpected trailing bytes");
  return t;
}

Result<CurrentTime> parseCurrentTime(const std::vector<std::uint8_t>& bytes) {
  const char* label = labelOf(kCurrentTime);
  ByteReader r(bytes);
  CurrentTime ct;
  if (auto bad = readDateTimeField(r, label, "date time", ct.time)) return *bad;
  std::uint8_t fractions = 0;
  if (!r.u8(ct.dayOfWeek) || !r.u8(fractions) || !r.u8(ct.adjustReason)) {
    return malformed(label, "too short for the day of week, fractions and adjust reason");
  }
  if (ct.dayOfWeek > 7) return malformed(label, "reserved day of week");
  if (ct.adjustReason & 0xF0) return malformed(label, "reserved adjust reason bits set");
  if (!r.atEnd()) return malformed(label, "unexpected trailing bytes");
  ct.time.fractions256 = fractions;
  return ct;
}

Result<std::string> parseDisString(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes) {
  std::size_t n = bytes.size();
  while (n > 0 && bytes[n - 1] == 0) --n;  // not NUL-terminated by spec; some devices pad anyway
  if (!validUtf8(bytes.data(), n)) return malformed(labelOf(characteristic), "not valid UTF-8");
  for (std::size_t i = 0; i < n; ++i) {
    if (bytes[i] == 0) return malformed(labelOf(characteristic), "NUL inside the text");
  }
  return std::string(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
}

Result<std::array<std::uint8_t, 8>> parseSystemId(const std::vector<std::uint8_t>& bytes) {
  if (bytes.size() < 8) return malformed(labelOf(kSystemId), "too short for the system id");
  if (bytes.size() > 8) return malformed(labelOf(kSystemId), "unexpected trailing bytes");
  std::array<std::uint8_t, 8> id{};
  for (std::size_t i = 0; i < 8; ++i) id[i] = bytes[i];
  return id;
}

std::string systemIdText(const std::array<std::uint8_t, 8>& id) {
  std::string out;
  char buf[4];
  for (std::size_t i = 0; i < id.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%02X", id[i]);
    if (i) out += '-';
    out += buf;
  }
  return out;
}

Result<PnpId> parsePnpId(const std::vector<std::uint8_t>& bytes) {
  const char* label = labelOf(kPnpId);
  ByteReader r(bytes);
  PnpId p;
  if (!r.u8(p.vendorIdSource) || !r.u16(p.vendorId) || !r.u16(p.productId) || !r.u16(p.productVersion)) {
    return malformed(label, "too short for the PnP ID");
  }
  if (p.vendorIdSource != 1 && p.vendorIdSource != 2) return malformed(label, "reserved vendor id source");
  if (!r.atEnd()) return malformed(label, "unexpected trailing bytes");
  return p;
}

Result<std::uint8_t> parseBatteryLevel(const std::vector<std::uint8_t>& bytes) {
  const char* label = labelOf(kBatteryLevel);
  if (bytes.empty()) return malformed(label, "empty value");
  if (bytes.size() > 1) return malformed(label, "unexpected trailing bytes");
  if (bytes[0] > 100) return malformed(label, "reserved battery level above 100 percent");
  return bytes[0];
}

Result<DecodedPayload> decode(std::uint16_t characteristic, const std::vector<std::uint8_t>& bytes,
                              const DecodeContext& /*context*/) {
  DecodedPayload out;
  out.note = "device information describes the device and yields no reading";
  switch (characteristic) {
    case kDateTime: {
      auto t = parseDateTime(bytes);
      if (!t) return t.status();
      out.fields.push_back({"date-time", t->isKnown() ? t->toString() : std::string("unknown")});
      return out;
    }
    case kCurrentTime: {
      auto ct = parseCurrentTime(bytes);
      if (!ct) return ct.status();
      out.fields.push_back({"date-time", ct->time.isKnown() ? ct->time.toString() : std::string("unknown")});
      out.fields.push_back({"day-of-week", kDays[ct->dayOfWeek]});
      out.fields.push_back({"fractions256", std::to_string(ct->time.fractions256)});
      out.fields.push_back({"adjust-reason",
                            setBitNames(ct->adjustReason, {{0, "manual-time-update"},
                                                           {1, "external-reference-time-update"},
                                                           {2, "change-of-time-zone"},
                                                           {3, "change-of-dst"}})});
      return out;
    }
    case kSystemId: {
      auto id = parseSystemId(bytes);
      if (!id) return id.status();
      out.fields.push_back({"system-id", systemIdText(*id)});
      return out;
    }
    case kPnpId: {
      auto p = parsePnpId(bytes);
      if (!p) return p.status();
      out.fields.push_back({"vendor-id-source", p->vendorIdSource == 1 ? "bluetooth-sig" : "usb-if"});
      out.fields.push_back({"vendor-id", hexText(p->vendorId, 4)});
      out.fields.push_back({"product-id", hexText(p->productId, 4)});
      out.fields.push_back({"product-version", hexText(p->productVersion, 4)});
      return out;
    }
    case kBatteryLevel: {
      auto level = parseBatteryLevel(bytes);
      if (!level) return level.status();
      out.fields.push_back({"battery-level", std::to_string(*level) + " %"});
      return out;
    }
    default: {
      auto text = parseDisString(characteristic, bytes);
      if (!text) return text.status();
      out.fields.push_back({fieldNameOf(characteristic), *text});
      return out;
    }
  }
}

}  // namespace rpm::drivers::device_information
