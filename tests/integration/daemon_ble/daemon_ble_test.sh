#!/usr/bin/env bash
# rpm-gateway run with BLE enabled, end to end: the BlueZ emulator on a private
# bus plays an enrolled glucose meter (records with a context) and a cuff; the
# daemon downloads, stores and delivers them; the validating FHIR server
# accepts every Observation. Runs under with-services.sh --dbus --fhir.
set -u
GW=$1
EMULATOR=$2
CANARY=$3
SRC=$4
. "$SRC/tests/services/testlib.sh"
W=$(mktemp -d)
EMU=""
DAEMON=""
cleanup() {
  [ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  [ -n "$EMU" ] && kill -TERM "$EMU" 2>/dev/null && wait "$EMU" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
observations() {
  curl -s "$RPM_TEST_FHIR_CONTROL_URL/resources/Observation" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

cat >"$W/scenario.json" <<'J'
{"timing": {"disconnect_delay_ms": 20, "advertising_interval_ms": 20},
 "devices": [
  {"address": "C0:11:22:33:44:01", "kind": "glucose_meter", "paired": true,
   "device_information": {"serial": "SN-CANARY-88421", "software": "2.1", "hardware": "rev-b"},
   "glucose": {"records": [
     {"seq": 1, "mg_dl": "95", "time": "2026-01-01T08:00:00", "meal": 1},
     {"seq": 2, "mg_dl": "101", "time": "2026-01-01T12:00:00"},
     {"seq": 3, "mg_dl": "88", "time": "2026-01-01T18:30:00"}]}}]}
J
"$EMULATOR" "$W/scenario.json" >"$W/emulator.out" 2>"$W/emulator.err" &
EMU=$!
wait_for "the emulator to own org.bluez" 20 grep -q "ready" "$W/emulator.out"

cat >"$W/gw.toml" <<T
[hub]
id = "hub-ble-test"
timezone = "Europe/Berlin"
state_directory = "$W/state"
runtime_directory = "$W/run"
[fhir]
base_url = "$RPM_TEST_FHIR_BASE_URL"
[ble]
enabled = true
revisit_interval_ms = 2000
[[devices]]
key = "bt:C0:11:22:33:44:01"
patient = "Patient/canary-pt-5d1f"
T
"$GW" run --config "$W/gw.toml" 2>"$W/daemon.err" &
DAEMON=$!
wait_for "the daemon's control socket" 20 "$GW" status --config "$W/gw.toml" >/dev/null 2>&1
# Three glucose records and one meal context.
wait_for "four Observations at the FHIR server" 60 sh -c "[ \$(curl -s '$RPM_TEST_FHIR_CONTROL_URL/resources/Observation' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') -ge 4 ]"
n=$(observations)
expect_success "every glucose record and its context reached the FHIR server ($n Observations)" [ "$n" -ge 4 ]
"$GW" status --config "$W/gw.toml" --json >"$W/status.json"
expect_success "nothing dead-lettered" python3 -c "import json; s=json.load(open('$W/status.json')); assert s['buffer']['dead_letters']==0"
expect_success "the health summary shows the adapter ready" grep -q '"ble_adapter": "ready"' "$W/status.json"
# The second visit downloads only new records: nothing new at the server after another completed visit
# (status --json counts the BLE sessions that ran to their end).
completed() {
  "$GW" status --config "$W/gw.toml" --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["health"].get("ble_sessions_completed", -1))'
}
more_completed_than() { [ "$(completed)" -gt "$1" ]; }
s0=$(completed)
expect_success "status --json counts completed BLE sessions ($s0)" [ "$s0" -ge 1 ]
wait_for "another completed visit" 30 more_completed_than "$s0"
expect_equal "a revisit stores no duplicate" "$n" "$(observations)"
curl -s "$RPM_TEST_FHIR_CONTROL_URL/resources/Device" >"$W/devices.json"
expect_success "the meter's Device carries its Device Information serial" grep -q "SN-CANARY-88421" "$W/devices.json"

kill -TERM "$DAEMON"; wait "$DAEMON"; rc=$?; DAEMON=""
expect_equal "SIGTERM: clean exit" 0 $rc
"$CANARY" "$W/daemon.err"
expect_equal "no planted marker (MAC, serial, patient) in the daemon's log" 0 $?
finish daemon-ble
