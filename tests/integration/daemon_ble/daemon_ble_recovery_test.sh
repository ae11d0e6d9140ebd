#!/usr/bin/env bash
# rpm-gateway run with BLE enabled survives bluetoothd restarting (mid-download
# and idle), adapter power loss and adapter removal: the process stays up,
# every glucose record reaches the FHIR server exactly once, readings continue
# after each fault, and `status` shows the recoveries. Runs under
# with-services.sh --dbus --fhir; faults through org.rpmgateway.Emulator1.
set -u
GW=$1
EMULATOR=$2
CANARY=$3
SRC=$4
. "$SRC/tests/services/testlib.sh"
W=$(mktemp -d)
EMU=""
DAEMON=""
METER="C0:11:22:33:44:01"
cleanup() {
  [ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  [ -n "$EMU" ] && kill -TERM "$EMU" 2>/dev/null && wait "$EMU" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
emu() {  # emu <method> <args...>: a call on the emulator's control interface
  local method=$1; shift
  dbus-send --system --print-reply --dest=org.bluez /org/rpmgateway/emulator "org.rpmgateway.Emulator1.$method" "$@" >/dev/null
}
# Glucose records at the server: distinct measurement times (each record has its own; a record
# maps to more than one Observation).
records_at_server() {
  curl -s "$RPM_TEST_FHIR_CONTROL_URL/resources/Observation" |
    python3 -c 'import json,sys; print(len({o.get("effectiveDateTime") for o in json.load(sys.stdin)}))'
}
have_records() { [ "$(records_at_server)" -ge "$1" ]; }
# No Observation twice: every business identifier at the server is unique.
identifiers_unique() {
  curl -s "$RPM_TEST_FHIR_CONTROL_URL/resources/Observation" | python3 -c '
import json, sys
ids = [i["system"] + "|" + i["value"] for o in json.load(sys.stdin) for i in o.get("identifier", [])]
sys.exit(0 if ids and len(ids) == len(set(ids)) else 1)'
}
status_field() {  # status_field <python expression on s>
  "$GW" status --config "$W/gw.toml" --json 2>/dev/null | python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"
}
status_is() { [ "$(status_field "$1")" = "$2" ]; }
add_record() {  # add_record <seq>: the meter takes a new measurement (and advertises)
  emu AddGlucoseRecords "string:$METER" "string:[{\"seq\": $1, \"mg_dl\": \"1$1\", \"time\": \"2026-01-02T0$1:00:00\"}]"
}

cat >"$W/scenario.json" <<'J'
{"timing": {"disconnect_delay_ms": 20, "advertising_interval_ms": 20},
 "devices": [
  {"address": "C0:11:22:33:44:01", "kind": "glucose_meter", "paired": true,
   "device_information": {"serial": "SN-CANARY-88421"},
   "glucose": {"records": [
     {"seq": 1, "mg_dl": "95", "time": "2026-01-01T08:00:00"},
     {"seq": 2, "mg_dl": "101", "time": "2026-01-01T09:00:00"},
     {"seq": 3, "mg_dl": "88", "time": "2026-01-01T10:00:00"},
     {"seq": 4, "mg_dl": "92", "time": "2026-01-01T11:00:00"},
     {"seq": 5, "mg_dl": "97", "time": "2026-01-01T12:00:00"}]}}]}
J
"$EMULATOR" "$W/scenario.json" >"$W/emulator.out" 2>"$W/emulator.err" &
EMU=$!
wait_for "the emulator to own org.bluez" 20 grep -q "ready" "$W/emulator.out"
# bluetoothd restarts after the meter's second record of the first download.
emu SetFaultAfterRecords "string:$METER" int32:2 string:restart uint32:300

METRICS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
metric_is() {  # metric_is <series> <value>: the daemon's Prometheus endpoint shows that value
  curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | grep -qxF "$1 $2"
}
cat >"$W/gw.toml" <<T
[hub]
id = "hub-ble-recovery"
timezone = "Europe/Berlin"
state_directory = "$W/state"
runtime_directory = "$W/run"
[fhir]
base_url = "$RPM_TEST_FHIR_BASE_URL"
[metrics]
enabled = true
port = $METRICS_PORT
[ble]
enabled = true
revisit_interval_ms = 2000
retry_max_ms = 2000
[[devices]]
key = "bt:$METER"
patient = "Patient/canary-pt-5d1f"
T
"$GW" run --config "$W/gw.toml" 2>"$W/daemon.err" &
DAEMON=$!
wait_for "the daemon's control socket" 20 "$GW" status --config "$W/gw.toml" >/dev/null 2>&1

wait_for "the five records at the FHIR server after the restart mid-download" 60 have_records 5
wait_for "status to count bluetoothd's return" 20 status_is "s['ble']['bluetoothd']['returns']" 1
expect_success "the daemon survived bluetoothd restarting mid-download" kill -0 "$DAEMON"
expect_success "the health summary shows the adapter ready again" status_is "s['health']['ble_adapter']" ready
expect_success "the health summary counts the recovery" python3 -c "import sys; sys.exit(0 if int('$(status_field "s['health']['ble_recoveries']")') >= 1 else 1)"

emu SetAdapterPowerLoss boolean:true boolean:false
wait_for "status to show the adapter unpowered" 20 status_is "s['ble']['adapter']" unpowered
emu SetAdapterPowerLoss boolean:false boolean:false
wait_for "status to show the adapter ready after power returned" 20 status_is "s['ble']['adapter']" ready
add_record 6
wait_for "a reading taken after the power loss" 60 have_records 6

emu SetAdapterPresent boolean:false
wait_for "status to show the adapter absent" 20 status_is "s['ble']['adapter']" absent
emu SetAdapterPresent boolean:true
wait_for "status to show the adapter back" 20 status_is "s['ble']['adapter']" ready
add_record 7
wait_for "a reading taken after the adapter came back" 60 have_records 7

emu RestartDaemon uint32:200
wait_for "status to count the second bluetoothd return" 20 status_is "s['ble']['bluetoothd']['returns']" 2
add_record 8
wait_for "a reading taken after bluetoothd restarted while idle" 60 have_records 8

expect_equal "every record reached the FHIR server" 8 "$(records_at_server)"
expect_success "and none twice" identifiers_unique
expect_success "status counts the power loss" status_is "s['ble']['power_losses']" 1
expect_success "status counts the adapter removal and return" status_is "(s['ble']['adapter_removals'], s['ble']['adapter_returns'])" "(1, 1)"
expect_success "the text status has a bluetooth line" sh -c "'$GW' status --config '$W/gw.toml' | grep -q '^bluetooth: *adapter ready'"
expect_success "recoveries are logged" grep -q "bluetoothd appeared on the bus" "$W/daemon.err"
expect_success "nothing dead-lettered" status_is "s['buffer']['dead_letters']" 0
wait_for "the metrics to count both bluetoothd returns" 30 metric_is 'rpm_gateway_ble_recoveries_total{action="bluetoothd_return"}' 2
expect_success "the metrics count the power restore and the adapter return as adapter resets" \
  metric_is 'rpm_gateway_ble_recoveries_total{action="adapter_reset"}' 2

kill -TERM "$DAEMON"; wait "$DAEMON"; rc=$?; DAEMON=""
expect_equal "SIGTERM: clean exit" 0 $rc
"$CANARY" "$W/daemon.err"
expect_equal "no planted marker (MAC, serial, patient) in the daemon's log" 0 $?
finish daemon-ble-recovery
