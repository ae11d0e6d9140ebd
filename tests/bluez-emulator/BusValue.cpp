#include "BusValue.h"

namespace rpm::emulator {

const char* signatureOf(const BusValue& value) {
  static const char* const kSignatures[] = {"b", "y", "n", "q", "u", "s", "o", "as", "ay", "ao", "a{qv}", "a{sv}"};
  return kSignatures[value.index()];
}

namespace {
int appendInner(sd_bus_message* m, const BusValue& value) {
  switch (value.index()) {
    case 0: {
      int flag = std::get<bool>(value) ? 1 : 0;
      return sd_bus_message_append_basic(m, 'b', &flag);
    }
    case 1: return sd_bus_message_append_basic(m, 'y', &std::get<std::uint8_t>(value));
    case 2: return sd_bus_message_append_basic(m, 'n', &std::get<std::int16_t>(value));
    case 3: return sd_bus_message_append_basic(m, 'q', &std::get<std::uint16_t>(value));
    case 4: return sd_bus_message_append_basic(m, 'u', &std::get<std::uint32_t>(value));
    case 5: return sd_bus_message_append_basic(m, 's', std::get<std::string>(value).c_str());
    case 6: return sd_bus_message_append_basic(m, 'o', std::get<ObjectPathValue>(value).path.c_str());
    case 7: {
      int r = sd_bus_message_open_container(m, 'a', "s");
      for (const auto& s : std::get<std::vector<std::string>>(value)) {
        if (r >= 0) r = sd_bus_message_append_basic(m, 's', s.c_str());
      }
      return r < 0 ? r : sd_bus_message_close_container(m);
    }
    case 8: {
      const auto& bytes = std::get<std::vector<std::uint8_t>>(value);
      return sd_bus_message_append_array(m, 'y', bytes.data(), bytes.size());
    }
    case 9: {
      int r = sd_bus_message_open_container(m, 'a', "o");
      for (const auto& p : std::get<std::vector<ObjectPathValue>>(value)) {
        if (r >= 0) r = sd_bus_message_append_basic(m, 'o', p.path.c_str());
      }
      return r < 0 ? r : sd_bus_message_close_container(m);
    }
    case 10:
    case 11: {
      bool byCompany = value.index() == 10;
      int r = sd_bus_message_open_container(m, 'a', byCompany ? "{qv}" : "{sv}");
      // key: &u16 for 'q', the C string itself for 's' (sd_bus_message_append_basic).
      auto entry = [&](const void* key, const std::vector<std::uint8_t>& bytes) {
        if (r >= 0) r = sd_bus_message_open_container(m, 'e', byCompany ? "qv" : "sv");
        if (r >= 0) r = sd_bus_message_append_basic(m, byCompany ? 'q' : 's', key);
        if (r >= 0) r = sd_bus_message_open_container(m, 'v', "ay");
        if (r >= 0) r = sd_bus_message_append_array(m, 'y', bytes.data(), bytes.size());
        if (r >= 0) r = sd_bus_message_close_container(m);
        if (r >= 0) r = sd_bus_message_close_container(m);
      };
      if (byCompany) {
        for (const auto& [company, bytes] : std::get<ManufacturerDataValue>(value)) entry(&company, bytes);
      } else {
        for (const auto& [uuid, bytes] : std::get<ServiceDataValue>(value)) entry(uuid.c_str(), bytes);
      }
      return r < 0 ? r : sd_bus_message_close_container(m);
    }
    default: return -22;
  }
}
}  // namespace

int appendVariant(sd_bus_message* m, const BusValue& value) {
  int r = sd_bus_message_open_container(m, 'v', signatureOf(value));
  if (r < 0) return r;
  r = appendInner(m, value);
  return r < 0 ? r : sd_bus_message_close_container(m);
}

int appendPropertyDict(sd_bus_message* m, const PropertyMap& props) {
  int r = sd_bus_message_open_container(m, 'a', "{sv}");
  for (const auto& [name, value] : props) {
    if (r >= 0) r = sd_bus_message_open_container(m, 'e', "sv");
    if (r >= 0) r = sd_bus_message_append_basic(m, 's', name.c_str());
    if (r >= 0) r = appendVariant(m, value);
    if (r >= 0) r = sd_bus_message_close_container(m);
  }
  return r < 0 ? r : sd_bus_message_close_container(m);
}

}  // namespace rpm::emulator
