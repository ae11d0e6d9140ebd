// BluezEmulator: GATT client rules of bluetoothd 5.66 beyond the basics in
// Emulator.cpp (bluez-dbus-api.md §4; src/gatt-client.c, src/shared/gatt-client.c):
//   - Read/Write (§4.2, §9 item 17): concurrent same-offset reads share one
//     request, another offset meanwhile is InProgress; one write at a time
//     per characteristic; `command` replies at once;
//   - ATT errors injectable per attribute, mapped exactly as §4.3 (item 18);
//   - cache modes (§4.4, item 15): Cache=always keeps objects and sessions over
//     a disconnect, Cache=no (or yes and unpaired) removes them;
//   - an incomplete tree and a Service Changed rebuild after "resolved" (§3.3, item 13);
//   - AcquireNotify / AcquireWrite (§4.2, item 22): a SOCK_SEQPACKET socketpair
//     end and the MTU, notify-only gate, conflicts, HUP on disconnect, *Acquired.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>

#include "Emulator.h"

namespace rpm::emulator {
namespace {

constexpr const char* kDevice = "org.bluez.Device1";
constexpr const char* kService = "org.bluez.GattService1";
constexpr const char* kCharacteristic = "org.bluez.GattCharacteristic1";
constexpr const char* kDescriptor = "org.bluez.GattDescriptor1";

std::string uuid128(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (text.size() == 4) return "0000" + text + "-0000-1000-8000-00805f9b34fb";
  return text;
}

std::string hex4(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04x", v);
  return buf;
}

CallRef hold(sd_bus_message* m) { return CallRef(sd_bus_message_ref(m), sd_bus_message_unref); }

int replyError(sd_bus_message* m, const std::string& name, const std::string& message) {
  return sd_bus_reply_method_errorf(m, name.c_str(), "%s", message.c_str());
}

bool signatureIs(sd_bus_message* m, const char* expected) {
  const char* sig = sd_bus_message_get_signature(m, 1);
  return std::string(sig ? sig : "") == expected;
}

bool hasFlag(const VirtualCharacteristic& ch, const char* flag) {
  return std::find(ch.flags.begin(), ch.flags.end(), flag) != ch.flags.end();
}

// The "offset" option of ReadValue/WriteValue (q), 0 if absent; the message is
// rewound afterwards for the handler in Emulator.cpp.
std::uint16_t peekOffset(sd_bus_message* m, bool skipValue) {
  std::uint16_t offset = 0;
  if (skipValue) sd_bus_message_skip(m, "ay");
  if (sd_bus_message_enter_container(m, 'a', "{sv}") >= 0) {
    while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
      const char* key = nullptr;
      sd_bus_message_read_basic(m, 's', &key);
      const char* contents = nullptr;
      char type = 0;
      sd_bus_message_peek_type(m, &type, &contents);
      if (key && std::string(key) == "offset" && contents && std::string(contents) == "q") {
        sd_bus_message_enter_container(m, 'v', "q");
        sd_bus_message_read_basic(m, 'q', &offset);
        sd_bus_message_exit_container(m);
      } else {
        sd_bus_message_skip(m, "v");
      }
      sd_bus_message_exit_container(m);
    }
    sd_bus_message_exit_container(m);
  }
  sd_bus_message_rewind(m, 1);
  return offset;
}

}  // namespace

// ATT error code -> D-Bus error, exactly as src/gatt-client.c
// create_gatt_dbus_error does in 5.66 (§4.3).
static std::pair<std::string, std::string> attErrorToDbus(std::uint8_t code) {
  switch (code) {
    case 0x02: return {"org.bluez.Error.NotPermitted", "Read not permitted"};
    case 0x03: return {"org.bluez.Error.NotPermitted", "Write not permitted"};
    case 0x05:
    case 0x0C:
    case 0x0F: return {"org.bluez.Error.NotPermitted", "Not paired"};
    case 0x06: return {"org.bluez.Error.NotSupported", "Operation is not supported"};
    case 0x07: return {"org.bluez.Error.InvalidArguments", "Invalid offset"};
    case 0x08: return {"org.bluez.Error.NotAuthorized", "Operation Not Authorized"};
    case 0x0D: return {"org.bluez.Error.InvalidArguments", "Invalid Length"};
    default: {
      char text[48];
      std::snprintf(text, sizeof text, "Operation failed with ATT error: 0x%02x", code);
      return {"org.bluez.Error.Failed", text};
    }
  }
}

void BluezEmulator::loadGattScenario(const nlohmann::json& s) {
  cacheMode_ = s.value("gatt_cache", cacheMode_);  // main.conf [GATT] Cache
  brEdrPageMs_ = s.value("timing", nlohmann::json::object()).value("br_edr_page_ms", brEdrPageMs_);
}

// Runs before Emulator.cpp's handler; returns non-zero when it answered.
int BluezEmulator::gattPreflight(sd_bus_message* m, VirtualDevice& dev, VirtualCharacteristic& ch,
                                 const std::string& member) {
  auto takeAtt = [&](const char* method, std::uint8_t& code) {
    auto it = ch.attErrors.find(method);
    if (it == ch.attErrors.end() || it->second.empty()) return false;
    code = it->second.front();
    it->second.pop_front();
    return true;
  };
  std::uint8_t code = 0;
  if ((member == "AcquireNotify" || member == "AcquireWrite") && signatureIs(m, "a{sv}")) {
    bool notify = member == "AcquireNotify";
    if (!dev.connected) return replyError(m, "org.bluez.Error.Failed", "Not connected");
    // 5.66 offers AcquireNotify on the notify flag only: indicate-only is NotSupported (§4.2, §10).
    if (!hasFlag(ch, notify ? "notify" : "write-without-response")) {
      return replyError(m, "org.bluez.Error.NotSupported", "Operation is not supported");
    }
    if (notify && ch.notifyFd >= 0) return replyError(m, "org.bluez.Error.NotPermitted", "Notify acquired");
    if (!notify && ch.writeFd >= 0) return replyError(m, "org.bluez.Error.NotPermitted", "Write acquired");
    if (notify && !ch.sessions.empty()) return replyError(m, "org.bluez.Error.InProgress", "In Progress");
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) {
      return replyError(m, "org.bluez.Error.Failed", "Failed to create socket");
    }
    std::uint16_t mtu = 517;
    int r = sd_bus_reply_method_return(m, "hq", fds[1], mtu);  // sd-bus duplicates the fd
    ::close(fds[1]);
    (notify ? ch.notifyFd : ch.writeFd) = fds[0];
    setProperty(ch.path, kCharacteristic, notify ? "NotifyAcquired" : "WriteAcquired", true);
    dev.counters[member]++;
    return r < 0 ? r : 1;
  }
  if (member == "StartNotify" && signatureIs(m, "")) {
    if (ch.notifyFd >= 0) return replyError(m, "org.bluez.Error.NotPermitted", "Notify acquired");
    // The CCC write answered with an ATT error (§4.2 StartNotify errors: ATT mapping).
    if (dev.connected && takeAtt("StartNotify", code)) {
      auto [name, text] = attErrorToDbus(code);
      return replyError(m, name, text);
    }
    return 0;
  }
  if (member == "ReadValue" && signatureIs(m, "a{sv}")) {
    if (!dev.connected) return 0;
    std::uint16_t offset = peekOffset(m, false);
    if (takeAtt("ReadValue", code)) {
      auto [name, text] = attErrorToDbus(code);
      return replyError(m, name, text);
    }
    if (ch.readOffsetInFlight) {
      // Same offset: share the request in flight; another offset: InProgress (§4.2).
      if (*ch.readOffsetInFlight != offset) return replyError(m, "org.bluez.Error.InProgress", "In Progress");
      ch.mergedReads.push_back(hold(m));
      dev.counters["MergedReads"]++;
      return 1;
    }
    dev.counters["ReadsStarted"]++;
    return 0;
  }
  if (member == "WriteValue" && signatureIs(m, "aya{sv}")) {
    if (ch.writeFd >= 0) return replyError(m, "org.bluez.Error.NotPermitted", "Write acquired");
    if (!dev.connected) return 0;
    if (takeAtt("WriteValue", code)) {
      auto [name, text] = attErrorToDbus(code);
      return replyError(m, name, text);
    }
    if (ch.writeInFlight) return replyError(m, "org.bluez.Error.InProgress", "In Progress");  // one at a time
    return 0;
  }
  return 0;
}

// A read's answer: one Value update, then the same reply to every caller
// that shared the request.
void BluezEmulator::finishRead(VirtualCharacteristic& ch, const CallRef& call, const Bytes& value, bool linkLost) {
  ch.readOffsetInFlight.reset();
  std::vector<CallRef> calls{call};
  calls.insert(calls.end(), ch.mergedReads.begin(), ch.mergedReads.end());
  ch.mergedReads.clear();
  if (!linkLost) emitValue(ch.path, value);  // a read result also lands in Value (§4.2)
  for (const auto& c : calls) {
    if (linkLost) {
      replyError(c.get(), "org.bluez.Error.Failed", "Not connected");
      continue;
    }
    sd_bus_message* reply = nullptr;
    if (sd_bus_message_new_method_return(c.get(), &reply) < 0) continue;
    sd_bus_message_append_array(reply, 'y', value.data(), value.size());
    sd_bus_send(bus_, reply, nullptr);
    sd_bus_message_unref(reply);
  }
}

// Write Request: the reply waits for the device's Write Response (the
// response delay); meanwhile another write on this characteristic is
// InProgress. Write Command (`command`) replies at once (§4.2).
int BluezEmulator::finishWrite(sd_bus_message* m, VirtualDevice& dev, VirtualCharacteristic& ch,
                               const std::string& type) {
  if (type == "command" || dev.responseDelayMs == 0) return sd_bus_reply_method_return(m, "");
  ch.writeInFlight = true;
  auto call = hold(m);
  auto epoch = dev.linkEpoch;
  VirtualCharacteristic* target = &ch;
  after(dev.responseDelayMs, [&dev, target, call, epoch] {
    target->writeInFlight = false;
    if (dev.linkEpoch != epoch) {
      replyError(call.get(), "org.bluez.Error.Failed", "Not connected");
      return;
    }
    sd_bus_reply_method_return(call.get(), "");
  });
  return 1;
}

// An acquired notify socket gets one packet per notification; Value is untouched (§4.2).
bool BluezEmulator::sendAcquired(VirtualCharacteristic& ch, const Bytes& value) {
  if (ch.notifyFd < 0) return false;
  if (::send(ch.notifyFd, value.data(), value.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN) {
    releaseAcquired(ch, true);  // the client closed it: unsubscribed
  }
  return true;
}

void BluezEmulator::releaseAcquired(VirtualCharacteristic& ch, bool notify) {
  int& fd = notify ? ch.notifyFd : ch.writeFd;
  if (fd < 0) return;
  ::close(fd);  // the client's end sees HUP
  fd = -1;
  setProperty(ch.path, kCharacteristic, notify ? "NotifyAcquired" : "WriteAcquired", false);
}

// Closing the client's end releases the acquisition; each packet on an
// acquired write socket is one Write Command.
void BluezEmulator::pollAcquired() {
  after(advertisingIntervalMs_, [this] { pollAcquired(); });
  for (auto& [address, dev] : devices_) {
    for (auto& svc : dev->services) {
      for (auto& c : svc.characteristics) {
        for (bool notify : {true, false}) {
          int fd = notify ? c.notifyFd : c.writeFd;
          if (fd < 0) continue;
          struct pollfd p {};
          p.fd = fd;
          p.events = POLLIN;
          if (::poll(&p, 1, 0) <= 0) continue;
          if (!notify && (p.revents & POLLIN)) {
            std::uint8_t buf[600];
            while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) dev->counters["AcquiredWrites"]++;
          }
          if (p.revents & (POLLHUP | POLLERR)) releaseAcquired(c, notify);
        }
      }
    }
  }
}

// After Emulator.cpp's linkDown: acquired sockets get HUP; Cache=no (or yes
// and not paired) removes the GATT objects and with them the notify sessions
// (§1 table, §4.4); a tree left incomplete is discovered again next time.
void BluezEmulator::gattLinkDown(VirtualDevice& dev) {
  for (auto& svc : dev.services) {
    for (auto& c : svc.characteristics) {
      releaseAcquired(c, true);
      releaseAcquired(c, false);
      c.readOffsetInFlight.reset();
      c.mergedReads.clear();
      c.writeInFlight = false;
    }
  }
  bool dropCache = cacheMode_ == "no" || (cacheMode_ == "yes" && !dev.paired) || !dev.hiddenServices.empty();
  if (!dropCache || !dev.gattExported) return;
  for (auto& svc : dev.services) {
    if (hasObject(svc.path)) removeSubtree(svc.path);
    for (auto& c : svc.characteristics) c.sessions.clear();
  }
  dev.hiddenServices.clear();
  dev.gattExported = false;
}

// Service Changed indication while connected: ServicesResolved flaps false,
// the service's objects go (children first) with their notify sessions, come
// back, and ServicesResolved is true again (§3.3 caveats, §4.4, §8 item 4).
void BluezEmulator::serviceChanged(VirtualDevice& dev, const std::string& serviceUuid) {
  if (!dev.connected || !dev.resolved) return;
  VirtualService* svc = nullptr;
  for (auto& s : dev.services) {
    if (s.uuid == uuid128(serviceUuid) && s.exported) svc = &s;
  }
  if (!svc) return;
  dev.resolved = false;
  setProperty(dev.path, kDevice, "ServicesResolved", false);
  flushPropertyChanges();
  if (hasObject(svc->path)) removeSubtree(svc->path);
  for (auto& c : svc->characteristics) {
    c.sessions.clear();
    releaseAcquired(c, true);
    releaseAcquired(c, false);
  }
  auto epoch = dev.linkEpoch;
  after(discoveryDelayMs_, [this, &dev, svc, epoch] {
    if (dev.linkEpoch != epoch || !dev.connected) return;
    addInterfaces(svc->path, {{kService, PropertyMap{{"UUID", svc->uuid}, {"Device", ObjectPathValue{dev.path}},
                                                     {"Primary", true}, {"Includes", std::vector<ObjectPathValue>{}}}}});
    for (auto& c : svc->characteristics) {
      PropertyMap p{{"UUID", c.uuid}, {"Service", ObjectPathValue{svc->path}}, {"Flags", c.flags}, {"Value", Bytes{}},
                    {"MTU", std::uint16_t{517}}};
      if (c.hasCcc()) p["Notifying"] = false;
      if (hasFlag(c, "notify")) p["NotifyAcquired"] = false;
      if (hasFlag(c, "write-without-response")) p["WriteAcquired"] = false;
      addInterfaces(c.path, {{kCharacteristic, p}});
      if (c.hasCcc()) {
        addInterfaces(c.path + "/desc" + hex4(static_cast<std::uint16_t>(c.handle + 2)),
                      {{kDescriptor, PropertyMap{{"UUID", uuid128("2902")}, {"Characteristic", ObjectPathValue{c.path}},
                                                 {"Value", Bytes{}}}}});
      }
    }
    dev.resolved = true;
    setProperty(dev.path, kDevice, "ServicesResolved", true);
    dev.counters["ServiceChanged"]++;
  });
}

int BluezEmulator::handleGattControl(sd_bus_message* m, const std::string& member) {
  auto noDevice = [&] { return replyError(m, "org.rpmgateway.Emulator.Error.NoSuchDevice", "no such virtual device"); };
  if (member == "InjectAttError" && signatureIs(m, "sssyu")) {
    const char *a = nullptr, *uuid = nullptr, *method = nullptr;
    std::uint8_t code = 0;
    std::uint32_t count = 0;
    sd_bus_message_read(m, "sssyu", &a, &uuid, &method, &code, &count);
    auto* dev = deviceByAddress(a);
    if (!dev) return noDevice();
    bool found = false;
    for (auto& svc : dev->services) {
      for (auto& c : svc.characteristics) {
        if (c.uuid != uuid128(uuid)) continue;
        for (std::uint32_t i = 0; i < count; ++i) c.attErrors[method].push_back(code);
        found = true;
      }
    }
    if (!found) return replyError(m, "org.rpmgateway.Emulator.Error.NoSuchCharacteristic", "no such characteristic");
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "HideServices" && signatureIs(m, "sas")) {
    const char* a = nullptr;
    sd_bus_message_read_basic(m, 's', &a);
    auto* dev = deviceByAddress(a);
    if (!dev) return noDevice();
    sd_bus_message_enter_container(m, 'a', "s");
    const char* uuid = nullptr;
    while (sd_bus_message_read_basic(m, 's', &uuid) > 0) dev->hiddenServices.insert(uuid128(uuid));
    sd_bus_message_exit_container(m);
    return sd_bus_reply_method_return(m, "");
  }
  if (member == "ServiceChanged" && signatureIs(m, "ss")) {
    const char *a = nullptr, *uuid = nullptr;
    sd_bus_message_read(m, "ss", &a, &uuid);
    auto* dev = deviceByAddress(a);
    if (!dev) return noDevice();
    serviceChanged(*dev, uuid);
    return sd_bus_reply_method_return(m, "");
  }
  return 0;
}

}  // namespace rpm::emulator
