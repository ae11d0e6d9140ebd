#!/usr/bin/env bash
# rpm-gateway run with BLE enabled and the new profiles, end to end: the BlueZ
# emulator plays a heart-rate monitor whose stream stops after a while, a
# thermometer (intermediate + final temperatures) and a two-user scale. The
# daemon stores and delivers them; the validating FHIR server accepts every
# Observation; `status --json` shows the stream as stopped once it went
# quiet. Runs under with-services.sh --dbus --fhir.
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
# Observations at the server whose code has this LOINC code.
observations_with() {
  curl -s "$RPM_TEST_FHIR_CONTROL_URL/resources/Observation" |
    python3 -c 'import json,sys; print(sum(1 for o in json.load(sys.stdin) if any(c.get("code")==sys.argv[1] for c in o.get("code",{}).get("coding",[]))))' "$1"
}
stream_state() {
  "$GW" status --config "$W/gw.toml" --json 2>/dev/null |
    python3 -c 'import json,sys; s=json.load(sys.stdin).get("ble_streams",[]); print(s[0]["state"] if s else "none")'
}

cat >"$W/scenario.json" <<'J'
{"timing": {"disconnect_delay_ms": 20, "advertising_interval_ms": 20},
 "devices": [
  {"address": "C0:11:22:33:44:21", "kind": "heart_rate_monitor", "paired": true,
   "heart_rate": {"interval_ms": 20, "stop_after": 150,
                  "samples": [{"bpm": 72, "rr_1024": [850, 840]}, {"bpm": 74, "rr_1024": [830]}]}},
  {"address": "C0:11:22:33:44:22", "kind": "thermometer", "paired": true,
   "thermometer": {"measurements": [{"celsius": "37.4", "time": "2026-01-01T08:00:00",
                                     "intermediate": ["36.9", "37.2"]}]}},
  {"address": "C0:11:22:33:44:23", "kind": "weight_scale", "paired": true,
   "weight_scale": {"records": [{"kg": "72.5", "user": 1, "time": "2026-01-01T07:00:00"},
                                {"kg": "90.15", "user": 2, "time": "2026-01-01T07:05:00"}]}}]}
J
"$EMULATOR" "$W/scenario.json" >"$W/emulator.out" 2>"$W/emulator.err" &
EMU=$!
wait_for "the emulator to own org.bluez" 20 grep -q "ready" "$W/emulator.out"

cat >"$W/gw.toml" <<T
[hub]
id = "hub-ble-profiles-test"
timezone = "Europe/Berlin"
state_directory = "$W/state"
runtime_directory = "$W/run"
[fhir]
base_url = "$RPM_TEST_FHIR_BASE_URL"
[aggregation]
window_seconds = 1
[ble]
enabled = true
revisit_interval_ms = 2000
stream_stall_ms = 1000
cuff_quiet_ms = 1000
[[devices]]
key = "bt:C0:11:22:33:44:21"
patient = "Patient/canary-pt-5d1f"
[[devices]]
key = "bt:C0:11:22:33:44:22"
patient = "Patient/canary-pt-5d1f"
[[devices]]
key = "bt:C0:11:22:33:44:23"
patient = "Patient/canary-pt-5d1f"
user_slot = 1
T
"$GW" run --config "$W/gw.toml" 2>"$W/daemon.err" &
DAEMON=$!
wait_for "the daemon's control socket" 20 "$GW" status --config "$W/gw.toml" >/dev/null 2>&1
wait_for "the heart-rate stream to show as streaming" 30 sh -c "$GW status --config $W/gw.toml --json | grep -q '\"state\": \"streaming\"'"
wait_for "the stopped stream to show as stopped" 30 sh -c "$GW status --config $W/gw.toml --json | grep -q '\"state\": \"stopped\"'"
expect_equal "status names the stopped stream's profile" "stopped" "$(stream_state)"
expect_success "the plain status shows the stopped stream" sh -c "'$GW' status --config '$W/gw.toml' | grep -q 'stream: .* heart_rate stopped'"
# Body temperature 8310-5, body weight 29463-7, heart rate 8867-4 (aggregated windows).
wait_for "the temperature at the FHIR server" 60 sh -c "[ \$(curl -s '$RPM_TEST_FHIR_CONTROL_URL/resources/Observation' | grep -c 8310-5) -ge 1 ]"
wait_for "heart-rate windows at the FHIR server" 60 sh -c "[ \$(curl -s '$RPM_TEST_FHIR_CONTROL_URL/resources/Observation' | grep -c 8867-4) -ge 1 ]"
wait_for "the bound weight at the FHIR server" 60 sh -c "[ \$(curl -s '$RPM_TEST_FHIR_CONTROL_URL/resources/Observation' | grep -c 29463-7) -ge 1 ]"
expect_equal "one temperature, the intermediate ones never uploaded" 1 "$(observations_with 8310-5)"
expect_equal "one weight: user 2 has no binding and is held" 1 "$(observations_with 29463-7)"
"$GW" status --config "$W/gw.toml" --json >"$W/status.json"
expect_success "the unbound user's weight is held" python3 -c "import json; s=json.load(open('$W/status.json')); assert s['buffer']['held']==1, s['buffer']"
expect_success "nothing dead-lettered" python3 -c "import json; s=json.load(open('$W/status.json')); assert s['buffer']['dead_letters']==0"

kill -TERM "$DAEMON"; wait "$DAEMON"; rc=$?; DAEMON=""
expect_equal "SIGTERM: clean exit" 0 $rc
"$CANARY" "$W/daemon.err"
expect_equal "no planted marker (MAC, serial, patient) in the daemon's log" 0 $?
finish daemon-ble-profiles
