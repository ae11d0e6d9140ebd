#!/usr/bin/env bash
# The daemon for real: control commands with and without a daemon, the sd_notify
# protocol over a real datagram socket (READY, STATUS, WATCHDOG at the right
# interval, pings withheld when a worker hangs, STOPPING on SIGTERM), reload,
# and the log canary over everything it printed. Runs under with-services.sh --fhir.
set -u
GW=$1
CANARY=$2
SRC=$3
. "$SRC/tests/services/testlib.sh"
W=$(mktemp -d)
LISTENER=""
DAEMON=""
cleanup() {
  [ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  [ -n "$LISTENER" ] && kill -TERM "$LISTENER" 2>/dev/null && wait "$LISTENER" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT

count() { grep -c " $1" "$W/notify.log" 2>/dev/null || true; }

cat >"$W/gw.toml" <<T
[hub]
id = "hub-test"
timezone = "Europe/Berlin"
state_directory = "$W/state"
runtime_directory = "$W/run"
[fhir]
base_url = "$RPM_TEST_FHIR_BASE_URL"
client_id = "tok-canary-Zq8v3XwL"
[[devices]]
key = "bt:CA:FE:5D:1F:00:42"
patient = "Patient/canary-pt-5d1f"
T

"$GW" status --config "$W/gw.toml" >"$W/nodaemon.out" 2>"$W/nodaemon.err"
expect_equal "status with no daemon exits 3" 3 $?
expect_success "status with no daemon says so" grep -q "not running" "$W/nodaemon.err"

python3 "$SRC/tests/integration/daemon/notify_listener.py" "$W/notify.sock" "$W/notify.log" >"$W/listener.out" &
LISTENER=$!
wait_for "the notify listener" 10 grep -q ready "$W/listener.out"

NOTIFY_SOCKET="$W/notify.sock" WATCHDOG_USEC=2000000 RPM_GATEWAY_TEST_FAULTS=1 \
  "$GW" run --config "$W/gw.toml" 2>"$W/daemon.err" &
DAEMON=$!
wait_for "READY=1" 20 grep -q " READY=1" "$W/notify.log"
expect_success "READY=1 after start-up" grep -q " READY=1" "$W/notify.log"
expect_success "a STATUS= line with the backlog" grep -q " STATUS=backlog 0" "$W/notify.log"
expect_success "STATUS carries no PHI" sh -c "! grep ' STATUS=' '$W/notify.log' | grep -q canary"
wait_for "three WATCHDOG=1 pings" 20 sh -c "[ \$(grep -c ' WATCHDOG=1' '$W/notify.log') -ge 3 ]"
pings=$(count WATCHDOG=1)
expect_success "WATCHDOG=1 pings while workers are healthy" [ "$pings" -ge 3 ]
# Pings come about every half interval (1 s): check the spacing of the last two.
spacing=$(grep ' WATCHDOG=1' "$W/notify.log" | tail -2 | awk 'NR==1{a=$1} NR==2{printf "%d", ($1-a)*1000}')
expect_success "pings are at most one watchdog interval apart (${spacing} ms)" [ "$spacing" -le 2000 ]

"$GW" status --config "$W/gw.toml" --json >"$W/status.json"
expect_equal "status --json exits 0" 0 $?
expect_success "status shows the delivery state" grep -q '"state": "ok"' "$W/status.json"
expect_success "status names devices by alias only" sh -c "grep -q '\"alias\": \"dev-' '$W/status.json' && ! grep -qi 'CAFE5D1F0042\|canary' '$W/status.json'"

"$GW" devices list --config "$W/gw.toml" >"$W/devices.out"
expect_success "devices list shows the seeded enrolment" grep -q "bt:CAFE5D1F0042" "$W/devices.out"
"$GW" devices enrol --config "$W/gw.toml" --key mqtt:scale-01 --patient Patient/77 --user-slot 1 >/dev/null
expect_equal "devices enrol exits 0" 0 $?
"$GW" devices enrol --config "$W/gw.toml" --key bt:nonsense --patient Patient/77 2>"$W/bad-enrol.err"
expect_equal "a bad device key is refused with exit 1" 1 $?
expect_success "the refusal names the key format" grep -q "key must be" "$W/bad-enrol.err"
"$GW" devices unpair --config "$W/gw.toml" --key mqtt:scale-01 --user-slot 1 >/dev/null
expect_equal "devices unpair exits 0" 0 $?
"$GW" deadletter list --config "$W/gw.toml" >/dev/null
expect_equal "deadletter list exits 0" 0 $?
"$GW" deadletter purge --config "$W/gw.toml" 2>/dev/null
expect_equal "deadletter purge without --id or --all is a usage error" 2 $?

"$GW" reload --config "$W/gw.toml" >/dev/null
wait_for "RELOADING=1" 10 grep -q " RELOADING=1" "$W/notify.log"
expect_success "reload sends RELOADING=1" grep -q " RELOADING=1" "$W/notify.log"
expect_success "reload is logged" grep -q "configuration reloaded" "$W/daemon.err"

# A hung worker: pings stop (the harness plants the hang through the test-only switch).
"$GW" status --config "$W/gw.toml" >/dev/null
printf '{"v":1,"cmd":"test.hang-worker","args":{"worker":"delivery"}}\n' | \
  python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read()); print(s.recv(4096).decode())" "$W/run/control.sock" >"$W/hang.out"
expect_success "the hang switch is accepted" grep -q '"ok":true' "$W/hang.out"
before=$(count WATCHDOG=1)
wait_for "the daemon to notice the silent worker" 20 grep -q "withholding the watchdog ping" "$W/daemon.err"
mark=$(count WATCHDOG=1)
wait_for "two more withheld checks" 20 sh -c "[ \$(grep -c 'withholding the watchdog ping' '$W/daemon.err') -ge 3 ]"
after=$(count WATCHDOG=1)
expect_equal "no WATCHDOG=1 once a worker hangs" "$mark" "$after"
expect_success "at most one ping between the hang and its detection" [ $((mark - before)) -le 1 ]

kill -TERM "$DAEMON"; wait "$DAEMON"; rc=$?; DAEMON=""
expect_equal "SIGTERM: clean exit 0" 0 $rc
expect_success "STOPPING=1 on SIGTERM" grep -q " STOPPING=1" "$W/notify.log"
expect_success "the control socket is removed" [ ! -e "$W/run/control.sock" ]

# The daemon's log, its notifications and status must be clean. (devices list is the admin's view of the
# bindings and shows keys and patients by design.)
cat "$W/daemon.err" "$W/notify.log" "$W/status.json" "$W/nodaemon.err" "$W/bad-enrol.err" >"$W/all-output" 2>/dev/null
"$CANARY" "$W/all-output"
expect_equal "no planted marker in the daemon's log, notifications or status" 0 $?
expect_success "the canary was really planted (devices list shows it)" grep -q "CAFE5D1F0042" "$W/devices.out"
finish daemon
