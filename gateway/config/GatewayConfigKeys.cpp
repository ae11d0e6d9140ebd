// The gateway's configuration table. Later features add rows here; drivers
// add their own tables under drivers.<name>. (gateway/ports/Driver.h).
#include "gateway/config/Config.h"

namespace rpm {
namespace {

using T = ConfigValueType;
using F = ConfigFormat;

ConfigKeySpec str(std::string key, std::string def, std::string help, F format = F::kAny,
                  std::vector<std::string> choices = {}) {
  ConfigKeySpec k;
  k.key = std::move(key);
  k.type = T::kString;
  k.defaultValue = std::move(def);
  k.help = std::move(help);
  k.format = format;
  k.choices = std::move(choices);
  return k;
}

ConfigKeySpec required(ConfigKeySpec k) {
  k.required = true;
  return k;
}

ConfigKeySpec secret(ConfigKeySpec k) {
  k.secretPath = true;
  return k;
}

ConfigKeySpec integer(std::string key, std::int64_t def, std::int64_t min, std::int64_t max, std::string help) {
  ConfigKeySpec k;
  k.key = std::move(key);
  k.type = T::kInteger;
  k.defaultValue = std::to_string(def);
  k.min = min;
  k.max = max;
  k.help = std::move(help);
  return k;
}

ConfigKeySpec boolean(std::string key, bool def, std::string help) {
  ConfigKeySpec k;
  k.key = std::move(key);
  k.type = T::kBoolean;
  k.defaultValue = def ? "true" : "false";
  k.help = std::move(help);
  return k;
}

ConfigKeySpec strings(std::string key, std::string help) {
  ConfigKeySpec k;
  k.key = std::move(key);
  k.type = T::kStringArray;
  k.help = std::move(help);
  return k;
}

std::vector<ConfigKeySpec> buildKeys() {
  return {
      // hub
      required(str("hub.id", "", "Opaque identifier of this hub, used in the hub's Device resource and MQTT topics.")),
      required(str("hub.timezone", "",
                   "IANA time zone of the patient's home (e.g. Europe/Berlin). Device clocks are local time without "
                   "zone; this zone gives every timestamp its UTC offset. Required: hub images often run in UTC.",
                   F::kTimeZone)),
      str("hub.bluetooth_address", "",
          "The hub's Bluetooth controller address, used as the gateway Device identifier (PHD IG PhgDevice)."),
      str("hub.state_directory", "/var/lib/rpm-gateway", "Directory for the buffer database and hub state (0700).",
          F::kAbsolutePath),
      str("hub.runtime_directory", "/run/rpm-gateway", "Directory for the control socket.", F::kAbsolutePath),
      str("control.admin_group", "",
          "Group whose members may use the control socket (besides root and the gateway's own user); the socket "
          "is given to it, mode 0660. Empty: root and the gateway's user only."),
      // fhir
      required(str("fhir.base_url", "", "Base URL of the care team's FHIR R4 server.", F::kHttpUrl)),
      str("fhir.auth", "none", "How the uplink authenticates.", F::kAny, {"none", "bearer", "smart", "mtls"}),
      secret(str("fhir.token_file", "", "File holding a static bearer token (auth = bearer).", F::kAbsolutePath)),
      str("fhir.client_id", "", "SMART Backend Services client id (auth = smart)."),
      secret(str("fhir.private_key_file", "", "PEM private key signing SMART client assertions (RS384 or ES384).",
                 F::kAbsolutePath)),
      str("fhir.key_id", "", "kid header of SMART client assertions."),
      str("fhir.token_url", "", "SMART token endpoint; empty: discovered from .well-known/smart-configuration.",
          F::kAny),
      str("fhir.scopes", "system/Observation.crs system/Device.crs", "Scopes requested from the token endpoint."),
      str("fhir.ca_file", "", "CA bundle to verify the server; empty: system CAs.", F::kAbsolutePath),
      str("fhir.client_cert_file", "", "Client certificate for mutual TLS.", F::kAbsolutePath),
      secret(str("fhir.client_key_file", "", "Client key for mutual TLS.", F::kAbsolutePath)),
      str("fhir.delivery_mode", "conditional-create",
          "conditional-create (POST with If-None-Exist) or put (PUT to the UUIDv5 logical id).", F::kAny,
          {"conditional-create", "put"}),
      integer("fhir.batch_size", 50, 1, 500, "Most Observations in one batch Bundle."),
      integer("fhir.batch_max_wait_ms", 0, 0, 60000,
              "After new readings arrive on an idle queue, wait up to this long for a burst to fill a batch. "
              "0: send at once (no added latency)."),
      integer("fhir.connect_timeout_ms", 10000, 100, 600000, "TCP and TLS connect timeout."),
      integer("fhir.request_timeout_ms", 30000, 100, 600000, "Total time allowed for one request."),
      boolean("fhir.gzip_requests", false, "Send gzip-compressed request bodies."),
      integer("fhir.backoff_base_ms", 1000, 1, 3600000, "Base of the full-jitter backoff after failures."),
      integer("fhir.backoff_cap_ms", 300000, 1, 86400000, "Longest backoff between attempts."),
      integer("fhir.retry_after_cap_s", 3600, 1, 86400, "Longest Retry-After honoured."),
      // mqtt
      boolean("mqtt.enabled", false, "Receive readings from MQTT devices and bridges."),
      str("mqtt.uri", "tcp://127.0.0.1:1883", "Broker URI (tcp:// or ssl://).", F::kMqttUri),
      str("mqtt.client_id", "", "Fixed client id for the persistent session; empty: rpm-gateway-<hub.id>."),
      str("mqtt.username", "", "Username for the broker."),
      secret(str("mqtt.password_file", "", "File holding the broker password.", F::kAbsolutePath)),
      str("mqtt.ca_file", "", "CA to verify the broker (ssl://).", F::kAbsolutePath),
      str("mqtt.cert_file", "", "Client certificate for the broker.", F::kAbsolutePath),
      secret(str("mqtt.key_file", "", "Client key for the broker.", F::kAbsolutePath)),
      str("mqtt.topic_prefix", "rpm", "Prefix of every topic the gateway uses."),
      integer("mqtt.keepalive_s", 30, 5, 3600, "MQTT keep-alive interval."),
      integer("mqtt.max_payload_bytes", 65536, 256, 16777216, "Larger payloads are rejected."),
      integer("mqtt.reconnect_base_ms", 500, 10, 600000, "Base of the full-jitter backoff between broker connects."),
      integer("mqtt.reconnect_cap_ms", 30000, 10, 3600000, "Longest wait between broker connects."),
      // vendor JSON templates (docs/mqtt.md, "Vendor JSON"); tried in file order
      required(str("mqtt_templates[].name", "", "Template name (appears in rejections and raw payload format).")),
      str("mqtt_templates[].topic", "#", "MQTT filter over the topic after <prefix>/devices/<id>/readings/."),
      required(str("mqtt_templates[].kind", "", "Reading kind, e.g. blood-pressure, body-weight.")),
      strings("mqtt_templates[].values", "measure=/json/pointer rows, e.g. \"systolic=/bp/sys\"."),
      strings("mqtt_templates[].units", "measure=UCUM unit, or measure=@/pointer to the unit text."),
      strings("mqtt_templates[].convert", "measure=from->to, a built-in exact conversion such as [lb_av]->kg."),
      strings("mqtt_templates[].match", "/pointer=value rows that must all hold for the template to apply."),
      str("mqtt_templates[].time", "", "Pointer to the measurement time (RFC 3339 or epoch seconds)."),
      str("mqtt_templates[].reading_id", "", "Pointer to the device's reading id (acknowledged back)."),
      str("mqtt_templates[].sequence", "", "Pointer to the device's sequence number."),
      str("mqtt_templates[].device", "", "Pointer to a device id inside the payload; checked against the topic."),
      str("mqtt_templates[].message_id", "", "Pointer to the message id; default: the reading id."),
      // ble
      boolean("ble.enabled", false, "Talk to Bluetooth LE devices through BlueZ."),
      str("ble.adapter", "hci0", "BlueZ adapter name."),
      integer("ble.connect_timeout_ms", 20000, 1000, 120000, "Timeout of one connection attempt."),
      integer("ble.call_timeout_ms", 10000, 100, 120000, "Timeout of one D-Bus call to bluetoothd."),
      integer("ble.revisit_interval_ms", 60000, 1000, 86400000,
              "After a good session, when to connect to the device again (a meter holds new records by then)."),
      integer("ble.retry_max_ms", 300000, 1000, 3600000,
              "Longest backoff between failed connection attempts (doubling from 2 s)."),
      integer("ble.record_timeout_ms", 10000, 500, 120000,
              "Longest silence between two records of one glucose download before it counts as interrupted."),
      integer("ble.cuff_quiet_ms", 3000, 200, 60000,
              "A blood-pressure cuff that stays quiet this long has sent all its stored measurements."),
      integer("ble.scan_silence_ms", 900000, 0, 86400000,
              "Scan watchdog: while our discovery runs and BLE devices are enrolled, no advertisement for this long "
              "restarts discovery, then power-cycles the adapter (0: off)."),
      integer("ble.stream_stall_ms", 15000, 1000, 600000,
              "A heart-rate or oximeter stream without a sample this long is shown as stopped in status."),
      integer("ble.stream_session_max_ms", 600000, 10000, 86400000,
              "Longest a stream is followed in one session before the other enrolled devices get their turn."),
      integer("ble.clock_skew_threshold_ms", 5000, 1000, 3600000,
              "A device clock off by more than this is corrected in its records and set (synchronized hub only)."),
      // buffer
      str("buffer.path", "", "Buffer database; empty: <hub.state_directory>/buffer.db.", F::kAbsolutePath),
      str("buffer.durability", "power-loss",
          "power-loss: WAL + synchronous=FULL, survives power cuts. process-crash: survives a crash of the gateway "
          "only, faster on slow SD cards.",
          F::kAny, {"power-loss", "process-crash"}),
      integer("buffer.max_size_mb", 256, 1, 1048576, "Size cap of the buffer database."),
      integer("buffer.delivered_retention_hours", 24, 0, 87600, "Delivered readings are pruned after this time."),
      integer("buffer.tombstone_days", 365, 1, 3650, "Ids of delivered readings are remembered this long."),
      integer("buffer.lease_seconds", 120, 1, 86400, "A lease not acknowledged in this time is handed out again."),
      str("buffer.continuous_when_full", "refuse",
          "At the size cap: refuse (every new reading is refused) or evict-oldest-continuous (RR-interval and ECG "
          "streams make room by evicting their own oldest undelivered readings; clinical readings are never evicted).",
          F::kAny, {"refuse", "evict-oldest-continuous"}),
      // aggregation
      integer("aggregation.window_seconds", 60, 1, 3600, "Window of continuous-stream summaries."),
      // logging
      str("logging.level", "info", "Lowest priority written.", F::kAny, {"error", "warning", "notice", "info", "debug"}),
      // metrics (opt-in; loopback only: the table refuses any other address at validation)
      boolean("metrics.enabled", false, "Serve Prometheus metrics over HTTP at /metrics on the loopback address."),
      str("metrics.listen_address", "127.0.0.1",
          "Loopback address of the metrics endpoint; LAN and wildcard addresses are refused.", F::kAny,
          {"127.0.0.1", "::1"}),
      integer("metrics.port", 9464, 1, 65535, "TCP port of the metrics endpoint."),
      // initial enrolments (seeds; enrolments live in the state database)
      required(str("devices[].key", "", "Device key: bt:<identity address>, sysid:<system id> or mqtt:<identity>.",
                    F::kDeviceKey)),
      required(str("devices[].patient", "", "Bound patient, Patient/<id>.", F::kPatientReference)),
      integer("devices[].user_slot", 0, 0, 255, "User slot on multi-user devices (0: not multi-user)."),
      str("devices[].driver", "", "Driver folder name; empty: chosen from the device's services."),
  };
}

}  // namespace

const std::vector<ConfigKeySpec>& gatewayConfigKeys() {
  static const std::vector<ConfigKeySpec> keys = buildKeys();
  return keys;
}

}  // namespace rpm
