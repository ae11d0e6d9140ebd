// BluezEmulator: how bluetoothd 5.66 reports advertisers during discovery
// (bluez-dbus-api.md §2.3; src/adapter.c update_found_devices /
// device_set_rssi_with_delta, src/device.c), the temporary-device lifecycle
// (§3.5), private addresses and identity (§3.6) and the dual-mode guess of
// Connect (§3.1). Fidelity checklist §9 items 10, 11, 27 and 29.
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "Emulator.h"

namespace rpm::emulator {
namespace {

constexpr const char* kDevice = "org.bluez.Device1";

std::string uuid128(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (text.size() == 4) return "0000" + text + "-0000-1000-8000-00805f9b34fb";
  return text;
}

Bytes hexBytes(const std::string& hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// {"004c": "0102"} / {"1808": "01"} -> advertising data maps.
void readAdvertisingData(const nlohmann::json& d, VirtualDevice& dev) {
  if (d.contains("manufacturer_data")) {
    dev.manufacturerData.clear();
    for (auto it = d["manufacturer_data"].begin(); it != d["manufacturer_data"].end(); ++it) {
      dev.manufacturerData[static_cast<std::uint16_t>(std::stoul(it.key(), nullptr, 16))] = hexBytes(it.value());
    }
  }
  if (d.contains("service_data")) {
    dev.serviceData.clear();
    for (auto it = d["service_data"].begin(); it != d["service_data"].end(); ++it) {
      dev.serviceData[uuid128(it.key())] = hexBytes(it.value());  // keys 128-bit lower case (§9 item 4)
    }
  }
}

bool isResolvablePrivate(const VirtualDevice& dev) {
  return dev.addressType == "random" && (std::stoi(dev.address.substr(0, 2), nullptr, 16) & 0xC0) == 0x40;
}

}  // namespace

void BluezEmulator::loadDiscoveryScenario(const nlohmann::json& d, VirtualDevice& dev) {
  dev.connectable = d.value("connectable", true);
  dev.brEdrNotSupported = d.value("br_edr_not_supported", true);
  if (d.contains("tx_power")) dev.txPower = d["tx_power"].get<std::int16_t>();
  readAdvertisingData(d, dev);
  dev.identityAddress = d.value("identity_address", "");
  dev.identityAddressType = d.value("identity_address_type", "public");
  // §3.6: after a restart a bonded RPA device is stored, and announced, under
  // its identity address (dev_<identity>).
  if (dev.paired && !dev.identityAddress.empty()) {
    dev.address = dev.identityAddress;
    dev.addressType = dev.identityAddressType;
    dev.identityAddress.clear();
  }
}

// One advert of `dev` while discovery runs (src/adapter.c update_found_devices).
void BluezEmulator::reportAdvert(VirtualDevice& dev, bool anyFilter, bool duplicateData) {
  dev.counters["Adverts"]++;
  if (!dev.exported) {
    // New object: RSSI, TxPower and advertising data come with InterfacesAdded.
    auto ifaces = deviceInterfaces(dev);
    ifaces[kDevice]["RSSI"] = dev.rssi;
    if (dev.txPower) ifaces[kDevice]["TxPower"] = *dev.txPower;
    if (!dev.manufacturerData.empty()) ifaces[kDevice]["ManufacturerData"] = dev.manufacturerData;
    if (!dev.serviceData.empty()) ifaces[kDevice]["ServiceData"] = dev.serviceData;
    addInterfaces(dev.path, ifaces);
    dev.exported = true;
    dev.reportedRssi = dev.rssi;
    dev.advertDataReported = true;
    return;
  }
  // RSSI: without any discovery filter only a change of 8 dBm or more is
  // reported; with a filter the threshold is 0, so every advert is reported,
  // even with the same value (device_set_rssi_with_delta; §2.3).
  bool report = anyFilter || !dev.reportedRssi || std::abs(dev.rssi - *dev.reportedRssi) >= 8;
  if (report) {
    auto& props = objects_[dev.path][kDevice];
    props["RSSI"] = dev.rssi;
    auto& pending = pendingChanges_[{dev.path, kDevice}];
    pending.changed.insert("RSSI");  // forced: gdbus emits even an unchanged value
    pending.invalidated.erase("RSSI");
    dev.reportedRssi = dev.rssi;
  }
  if (dev.txPower) setProperty(dev.path, kDevice, "TxPower", *dev.txPower);
  // ManufacturerData/ServiceData: signalled when they change, or on every
  // advert when a client asked for DuplicateData (§2.1 filter table).
  if (!dev.advertDataReported || duplicateData) {
    auto& props = objects_[dev.path][kDevice];
    auto& pending = pendingChanges_[{dev.path, kDevice}];
    if (!dev.manufacturerData.empty()) {
      props["ManufacturerData"] = dev.manufacturerData;
      pending.changed.insert("ManufacturerData");
    }
    if (!dev.serviceData.empty()) {
      props["ServiceData"] = dev.serviceData;
      pending.changed.insert("ServiceData");
    }
    dev.advertDataReported = true;
  }
}

// The last discovery session ended (§2.3, §3.5).
void BluezEmulator::discoveryRunEnded(const std::set<std::string>& seen) {
  for (const auto& address : seen) {
    auto* dev = deviceByAddress(address);
    if (!dev || !dev->exported) continue;
    // RSSI and TxPower are invalidated for every device seen in the run.
    invalidateProperty(dev->path, kDevice, "RSSI");
    invalidateProperty(dev->path, kDevice, "TxPower");
    dev->reportedRssi.reset();
    // Temporary devices whose last advert was non-connectable go at once;
    // connectable ones when their TemporaryTimeout fires (§3.5).
    if (dev->temporary && !dev->connectable && !dev->connected && !dev->connecting) {
      removeSubtree(dev->path);
      dev->exported = dev->gattExported = dev->batteryExported = false;
    }
  }
}

// Bonding delivered the IRK: Address/AddressType change to the identity, the
// object path keeps the RPA-based name until bluetoothd restarts (§3.6).
void BluezEmulator::revealIdentity(VirtualDevice& dev) {
  if (dev.identityAddress.empty() || !isResolvablePrivate(dev)) return;
  setProperty(dev.path, kDevice, "Address", dev.identityAddress);
  setProperty(dev.path, kDevice, "AddressType", dev.identityAddressType);
  std::string alias = dev.identityAddress;
  std::replace(alias.begin(), alias.end(), ':', '-');
  if (dev.name.empty()) setProperty(dev.path, kDevice, "Alias", alias);
  dev.temporary = false;  // an identity makes it persistent (§3.5)
}

// A public-address device whose AD Flags lack "BR/EDR not supported" is
// guessed dual-mode: Connect pages BR/EDR first (~5 s), then falls back to LE
// (§3.1; bluez-dbus-api.md §8 item 12). RPA/random addresses are LE only.
std::uint32_t BluezEmulator::dualModeConnectDelay(const VirtualDevice& dev) const {
  return dev.addressType == "public" && !dev.brEdrNotSupported ? brEdrPageMs_ : 0;
}

int BluezEmulator::handleDiscoveryControl(sd_bus_message* m, const std::string& member) {
  const char* sig = sd_bus_message_get_signature(m, 1);
  std::string signature = sig ? sig : "";
  if (member == "SetRssi" && signature == "sn") {
    const char* a = nullptr;
    std::int16_t rssi = 0;
    sd_bus_message_read(m, "sn", &a, &rssi);
    auto* dev = deviceByAddress(a);
    if (!dev) return sd_bus_reply_method_errorf(m, "org.rpmgateway.Emulator.Error.NoSuchDevice", "no such virtual device");
    dev->rssi = rssi;
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "SetAdvertisingData" && signature == "ss") {
    const char *a = nullptr, *text = nullptr;
    sd_bus_message_read(m, "ss", &a, &text);
    auto* dev = deviceByAddress(a);
    if (!dev) return sd_bus_reply_method_errorf(m, "org.rpmgateway.Emulator.Error.NoSuchDevice", "no such virtual device");
    try {
      readAdvertisingData(nlohmann::json::parse(text), *dev);
    } catch (const std::exception& e) {
      return sd_bus_reply_method_errorf(m, "org.rpmgateway.Emulator.Error.BadScenario", "%s", e.what());
    }
    dev->advertDataReported = false;  // changed: reported with the next advert
    return sd_bus_reply_method_return(m, "");
  }
  return 0;
}

}  // namespace rpm::emulator
