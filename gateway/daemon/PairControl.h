// The `pair` command: an enrolment window driven over the control socket
// (streaming, see ControlSocket.h) or by the MQTT pair command, and the
// pairing part of `status`. JSON here carries aliases, device kinds and fixed
// texts: never addresses, patient ids or passkeys in logs.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "drivers/ble_enrolment/EnrolmentWindow.h"
#include "gateway/daemon/ControlSocket.h"

namespace rpm::daemon {

// True for {"cmd":"pair","stream":true,...}.
bool isPairStreamRequest(const std::string& line);

// Runs one pairing window for a streaming client: events out, prompt answers
// in; returns the final response line. window may be null (BLE disabled).
std::string handlePairStream(ble::EnrolmentWindow* window, const std::string& line, ControlStream& stream);

// The MQTT command payload {"cmd":"pair","timeout_s":120,"patient":"Patient/x","user_slot":1}:
// opens a non-interactive window whose events go to publish (JSON lines).
Status openPairWindowFromMqtt(ble::EnrolmentWindow* window, const std::string& payload,
                              std::function<void(const std::string&)> publish);

nlohmann::json pairEventJson(const ble::EnrolmentEvent& event);
nlohmann::json enrolmentStatusJson(const ble::EnrolmentStatus& status);

}  // namespace rpm::daemon
