#!/usr/bin/env bash
# `rpm-gateway pair` end to end through the real daemon: the BlueZ emulator on a
# private bus plays a cuff that shows a passkey and a meter bonded to another
# host. The installer types the passkey at the prompt; the cuff is bonded,
# trusted and enrolled for the patient; the meter is reported as bonded
# elsewhere in the command's output and in status; the log has no address or
# patient id. Runs under with-services.sh --dbus.
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

# The meter uses the log canary's MAC: it must never reach the daemon's log.
cat >"$W/scenario.json" <<'J'
{"timing": {"disconnect_delay_ms": 20, "advertising_interval_ms": 20},
 "devices": [
  {"address": "C0:11:22:33:66:01", "kind": "bp_cuff",
   "pairing": {"io": "DisplayOnly", "passkey": 123456, "mitm": true}},
  {"address": "CA:FE:5D:1F:00:42", "kind": "glucose_meter",
   "pairing": {"bonded_elsewhere": "rejects_pairing"}}]}
J
"$EMULATOR" "$W/scenario.json" >"$W/emulator.out" 2>"$W/emulator.err" &
EMU=$!
wait_for "the emulator to own org.bluez" 20 grep -q "ready" "$W/emulator.out"

cat >"$W/gw.toml" <<T
[hub]
id = "hub-pair-test"
timezone = "Europe/Berlin"
state_directory = "$W/state"
runtime_directory = "$W/run"
[fhir]
base_url = "http://127.0.0.1:9/fhir"
[ble]
enabled = true
T
"$GW" run --config "$W/gw.toml" 2>"$W/daemon.err" &
DAEMON=$!
wait_for "the daemon's control socket" 20 "$GW" status --config "$W/gw.toml" >/dev/null 2>&1
wait_for "the pairing agent to be registered" 20 sh -c "'$GW' status --config '$W/gw.toml' --json | grep -q '\"agent_registered\": true'"

echo 123456 | "$GW" pair --config "$W/gw.toml" --timeout 4 --patient Patient/canary-pt-5d1f --user-slot 1 >"$W/pair.out" 2>&1
rc=$?
cat "$W/pair.out"
expect_equal "pair exits 0 when a device was enrolled" 0 $rc
expect_success "the passkey prompt was shown" grep -q "shows a 6-digit passkey" "$W/pair.out"
expect_success "the cuff was paired and enrolled" grep -q "Paired and enrolled: dev-.* (blood pressure monitor)" "$W/pair.out"
expect_success "the meter is reported as bonded to another host" grep -q "NOT PAIRED, bonded to another host: dev-.* (glucose meter)" "$W/pair.out"
expect_success "the window reports its end" grep -q "Pairing window closed: enrolled 1, failed 1" "$W/pair.out"
"$GW" devices list --config "$W/gw.toml" >"$W/devices.out"
expect_success "the cuff is enrolled for the patient in user slot 1" grep -q "bt:C01122336601.*Patient/canary-pt-5d1f.*slot 1" "$W/devices.out"
expect_equal "only the cuff is enrolled" 1 "$(wc -l <"$W/devices.out")"
"$GW" status --config "$W/gw.toml" --json >"$W/status.json"
expect_success "status shows the meter as bonded to another host" python3 -c "
import json; p=json.load(open('$W/status.json'))['pairing']
assert 'bonded_to_another_host' in p['devices'].values(), p
assert p['window_open'] is False and p['enrolled'] == 1, p"
"$GW" status --config "$W/gw.toml" >"$W/status.txt"
expect_success "human status names the problem" grep -q "bonded_to_another_host" "$W/status.txt"
expect_success "the address is not in the pair output" sh -c "! grep -qi 'CA:FE:5D:1F:00:42' '$W/pair.out'"

# A second window while one is open is refused.
"$GW" pair --config "$W/gw.toml" --timeout 3 --patient Patient/canary-pt-5d1f </dev/null >"$W/first.out" 2>&1 &
FIRST=$!
wait_for "the first window to open" 10 grep -q "Pairing window open" "$W/first.out"
"$GW" pair --config "$W/gw.toml" --timeout 3 --patient Patient/canary-pt-5d1f </dev/null >"$W/second.out" 2>&1
rc=$?; cat "$W/second.out"
expect_equal "a second window is refused" 1 $rc
expect_success "with a clear reason" grep -q "already open" "$W/second.out"
wait "$FIRST"

kill -TERM "$DAEMON"; wait "$DAEMON"; rc=$?; DAEMON=""
expect_equal "SIGTERM: clean exit" 0 $rc
"$CANARY" "$W/daemon.err"
expect_equal "no planted marker (MAC, patient) in the daemon's log" 0 $?
finish daemon-pair
