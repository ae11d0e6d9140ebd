// The intake's options from the validated configuration (mqtt.* keys and
// [[mqtt_templates]] tables), for the daemon's wiring.
#pragma once

#include "gateway/config/Config.h"
#include "gateway/mqtt/MqttIntake.h"

namespace rpm::mqtt {

// kConfigInvalid names the template row at fault. TLS/password paths are
// taken as configured; secrets are read by MqttIntake::create().
Result<MqttIntakeOptions> intakeOptionsFromConfig(const Config& config);

}  // namespace rpm::mqtt
