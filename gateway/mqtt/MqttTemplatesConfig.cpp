#include "gateway/mqtt/MqttTemplatesConfig.h"

namespace rpm::mqtt {

Result<MqttIntakeOptions> intakeOptionsFromConfig(const Config& config) {
  MqttIntakeOptions o;
  o.serverUri = config.string("mqtt.uri");
  o.hubId = config.string("hub.id");
  o.clientId = config.string("mqtt.client_id");
  if (o.clientId.empty()) o.clientId = "rpm-gateway-" + o.hubId;
  o.topicPrefix = config.string("mqtt.topic_prefix");
  o.username = config.string("mqtt.username");
  o.passwordFile = config.string("mqtt.password_file");
  o.caFile = config.string("mqtt.ca_file");
  o.certFile = config.string("mqtt.cert_file");
  o.keyFile = config.string("mqtt.key_file");
  o.keepAlive = std::chrono::seconds(config.integer("mqtt.keepalive_s"));
  o.reconnectBase = std::chrono::milliseconds(config.integer("mqtt.reconnect_base_ms"));
  o.reconnectCap = std::chrono::milliseconds(config.integer("mqtt.reconnect_cap_ms"));
  o.formats.maxPayloadBytes = static_cast<std::size_t>(config.integer("mqtt.max_payload_bytes"));
  for (const Config& t : config.tables("mqtt_templates")) {
    mqtt_formats::TemplateRows rows;
    rows.name = t.string("name");
    rows.topic = t.string("topic");
    rows.kind = t.string("kind");
    rows.values = t.strings("values");
    rows.units = t.strings("units");
    rows.convert = t.strings("convert");
    rows.match = t.strings("match");
    rows.timePointer = t.string("time");
    rows.readingIdPointer = t.string("reading_id");
    rows.sequencePointer = t.string("sequence");
    rows.devicePointer = t.string("device");
    rows.messageIdPointer = t.string("message_id");
    auto compiled = mqtt_formats::makeTemplate(rows);
    if (!compiled) return compiled.status();
    o.formats.templates.push_back(std::move(compiled).value());
  }
  return o;
}

}  // namespace rpm::mqtt
