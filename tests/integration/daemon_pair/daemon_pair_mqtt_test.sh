#!/usr/bin/env bash
# The MQTT pair command end to end: the installer account publishes
# {"cmd":"pair",...} on rpm/gateway/<hub>/commands; the daemon opens a
# non-interactive window, the Just Works scale is bonded and enrolled, the
# passkey cuff is refused (nobody can type its passkey over MQTT), events
# arrive on rpm/gateway/<hub>/pairing. A device account's command is dropped by
# the broker ACL. Runs under with-services.sh --dbus --mosquitto=password.
set -u
GW=$1
EMULATOR=$2
SRC=$3
. "$SRC/tests/services/testlib.sh"
W=$(mktemp -d)
EMU=""
DAEMON=""
SUB=""
cleanup() {
  [ -n "$SUB" ] && kill -TERM "$SUB" 2>/dev/null && wait "$SUB" 2>/dev/null
  [ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  [ -n "$EMU" ] && kill -TERM "$EMU" 2>/dev/null && wait "$EMU" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
H=$RPM_TEST_MQTT_HOST
P=$RPM_TEST_MQTT_PORT

cat >"$W/scenario.json" <<'J'
{"timing": {"disconnect_delay_ms": 20, "advertising_interval_ms": 20},
 "devices": [
  {"address": "C0:11:22:33:77:01", "kind": "generic", "advertised_uuids": ["181d"]},
  {"address": "C0:11:22:33:77:02", "kind": "bp_cuff",
   "pairing": {"io": "DisplayOnly", "passkey": 123456, "mitm": true}}]}
J
"$EMULATOR" "$W/scenario.json" >"$W/emulator.out" 2>"$W/emulator.err" &
EMU=$!
wait_for "the emulator to own org.bluez" 20 grep -q "ready" "$W/emulator.out"

printf '%s' "$RPM_TEST_MQTT_PASSWORD_GATEWAY" >"$W/mqtt-password"
chmod 600 "$W/mqtt-password"
cat >"$W/gw.toml" <<T
[hub]
id = "hub-mqtt-pair"
timezone = "Europe/Berlin"
state_directory = "$W/state"
runtime_directory = "$W/run"
[fhir]
base_url = "http://127.0.0.1:9/fhir"
[ble]
enabled = true
[mqtt]
enabled = true
uri = "$RPM_TEST_MQTT_URI"
username = "gateway"
password_file = "$W/mqtt-password"
T
"$GW" run --config "$W/gw.toml" 2>"$W/daemon.err" &
DAEMON=$!
wait_for "the daemon's control socket" 20 "$GW" status --config "$W/gw.toml" >/dev/null 2>&1
wait_for "the daemon connected to the broker" 20 sh -c "'$GW' status --config '$W/gw.toml' --json | grep -q '\"connected\": true'"
wait_for "the pairing agent to be registered" 20 sh -c "'$GW' status --config '$W/gw.toml' --json | grep -q '\"agent_registered\": true'"

mosquitto_sub -h "$H" -p "$P" -u installer -P "$RPM_TEST_MQTT_PASSWORD_INSTALLER" -q 1 \
  -t rpm/gateway/hub-mqtt-pair/pairing >"$W/events" 2>"$W/sub.err" &
SUB=$!
# A device account may not open a window: the broker drops its publish (ACL).
# Its subscription readiness is shown by the installer's own probe below.
mosquitto_pub -h "$H" -p "$P" -u device1 -P "$RPM_TEST_MQTT_PASSWORD_DEVICE1" -q 1 \
  -t rpm/gateway/hub-mqtt-pair/commands -m '{"cmd":"pair","timeout_s":3,"patient":"Patient/from-a-device"}'
# A malformed command from the installer is refused with an event: this also
# proves the subscriber is listening before the real command goes out.
wait_for "the installer's refusal event" 20 sh -c "mosquitto_pub -h '$H' -p '$P' -u installer -P '$RPM_TEST_MQTT_PASSWORD_INSTALLER' -q 1 -t rpm/gateway/hub-mqtt-pair/commands -m '{\"cmd\":\"pair\",\"timeout_s\":0}' && grep -q '\"event\":\"refused\"' '$W/events'"
expect_success "the device account's command opened no window" sh -c "! grep -q '\"event\":\"opened\"' '$W/events'"

mosquitto_pub -h "$H" -p "$P" -u installer -P "$RPM_TEST_MQTT_PASSWORD_INSTALLER" -q 1 \
  -t rpm/gateway/hub-mqtt-pair/commands -m '{"cmd":"pair","timeout_s":3,"patient":"Patient/pt-mqtt-7"}'
wait_for "the window to close" 30 grep -q '"event":"closed"' "$W/events"
cat "$W/events"
expect_success "the window opened" grep -q '"event":"opened"' "$W/events"
expect_success "the scale was enrolled" grep -q '"event":"enrolled".*"kind":"weight scale"' "$W/events"
expect_success "the passkey cuff was refused" grep -q '"event":"pairing_failed".*"kind":"blood pressure monitor"' "$W/events"
expect_success "no address in the events" sh -c "! grep -qi 'C0:11:22:33:77' '$W/events'"
"$GW" devices list --config "$W/gw.toml" >"$W/devices.out"
expect_success "the scale is enrolled for the patient of the command" grep -q "bt:C01122337701.*Patient/pt-mqtt-7" "$W/devices.out"
expect_success "the device account's patient was never used" sh -c "! grep -q 'from-a-device' '$W/devices.out'"
expect_equal "only the scale is enrolled" 1 "$(wc -l <"$W/devices.out")"

kill -TERM "$DAEMON"; wait "$DAEMON"; rc=$?; DAEMON=""
expect_equal "SIGTERM: clean exit" 0 $rc
finish daemon-pair-mqtt
