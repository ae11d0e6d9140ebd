#!/usr/bin/env bash
# The gateway as a non-root service user on a private bus loaded with Debian's
# system.conf default policy and bluez's bluetooth.conf (with-services.sh
# --dbus=bluez). dbus-daemon decides group rules from the uid's groups in the
# user database (not the process's supplementary groups), so the test creates
# a real system user in group "bluetooth" (as the package's sysusers file
# does) and removes it afterwards. The emulator runs as root, as bluetoothd
# does, so it may own org.bluez and call the gateway's Agent1.
# Proves the service user can: reach org.bluez (discovery, connect, GATT),
# register its agent as default, answer the agent call during pairing, and run
# the pair command over its control socket. The policy is shown to be in
# force: the same user may not own org.bluez.
set -u
GW=$1
EMULATOR=$2
HOLDER=$3
SRC=$4
. "$SRC/tests/services/testlib.sh"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root to create the service user"; exit 77; }
[ "$RPM_TEST_DBUS_POLICY" = bluez ] || { echo "FAIL: not on the bluez policy bus"; exit 1; }
USER_NAME="rpmpol$$"
W=$(mktemp -d)
chmod 755 "$W"
EMU=""
DAEMON=""
cleanup() {
  [ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  [ -n "$EMU" ] && kill -TERM "$EMU" 2>/dev/null && wait "$EMU" 2>/dev/null
  userdel "$USER_NAME" >/dev/null 2>&1
  rm -rf "$W"
}
trap cleanup EXIT
getent group bluetooth >/dev/null || groupadd --system bluetooth
useradd --system --no-create-home --home-dir "$W" --shell /usr/sbin/nologin --groups bluetooth "$USER_NAME" ||
  { echo "FAIL: cannot create the service user"; exit 1; }
as_user() { setpriv --reuid="$USER_NAME" --regid="$USER_NAME" --init-groups "$@"; }
expect_success "the service user is a real member of group bluetooth" sh -c "id -nG '$USER_NAME' | grep -qw bluetooth"
expect_success "the service user is not root" sh -c "[ \$(id -u '$USER_NAME') -ne 0 ]"

cat >"$W/scenario.json" <<'J'
{"timing": {"disconnect_delay_ms": 20, "advertising_interval_ms": 20},
 "devices": [
  {"address": "C0:11:22:33:88:01", "kind": "bp_cuff",
   "pairing": {"io": "DisplayOnly", "passkey": 246810, "mitm": true},
   "blood_pressure": {"records": [{"user": 1, "systolic": "121", "diastolic": "79", "map": "93", "pulse": "64",
                                   "time": "2026-01-01T08:00:00"}]}}]}
J
"$EMULATOR" "$W/scenario.json" >"$W/emulator.out" 2>"$W/emulator.err" &
EMU=$!
wait_for "the emulator (root) to own org.bluez" 20 grep -q "ready" "$W/emulator.out"

# The policy is in force: the service user may not own org.bluez.
as_user "$HOLDER" org.bluez >"$W/holder.out" 2>&1
expect_success "the service user may not own org.bluez under Debian's policy" grep -q "AccessDenied" "$W/holder.out"

mkdir -p "$W/state" "$W/run"
chown "$USER_NAME:$USER_NAME" "$W/state" "$W/run"
cat >"$W/gw.toml" <<T
[hub]
id = "hub-policy"
timezone = "Europe/Berlin"
state_directory = "$W/state"
runtime_directory = "$W/run"
[fhir]
base_url = "http://127.0.0.1:9/fhir"
[ble]
enabled = true
revisit_interval_ms = 1000
T
chmod 644 "$W/gw.toml" "$W/scenario.json"
# setpriv execs the daemon, so $! is the daemon itself.
setpriv --reuid="$USER_NAME" --regid="$USER_NAME" --init-groups "$GW" run --config "$W/gw.toml" 2>"$W/daemon.err" &
DAEMON=$!
wait_for "the daemon's control socket" 20 as_user "$GW" status --config "$W/gw.toml"
wait_for "the agent registered as the default agent" 20 \
  sh -c "setpriv --reuid='$USER_NAME' --regid='$USER_NAME' --init-groups '$GW' status --config '$W/gw.toml' --json | grep -q '\"agent_registered\": true'"
expect_success "the daemon runs as the service user" sh -c "[ \$(stat -c %U /proc/$DAEMON) = '$USER_NAME' ]"

echo 246810 | as_user "$GW" pair --config "$W/gw.toml" --timeout 3 --patient Patient/pt-policy-1 >"$W/pair.out" 2>&1
rc=$?
cat "$W/pair.out"
expect_equal "pair as the service user enrolled the cuff" 0 $rc
expect_success "the agent was asked for the passkey (bluetoothd -> Agent1 allowed)" grep -q "shows a 6-digit passkey" "$W/pair.out"
expect_success "the cuff was bonded and enrolled" grep -q "Paired and enrolled" "$W/pair.out"
# GATT: the intake connects the enrolled cuff and stores its stored measurement.
wait_for "the cuff's reading stored (connect, StartNotify, indications)" 30 \
  sh -c "setpriv --reuid='$USER_NAME' --regid='$USER_NAME' --init-groups '$GW' status --config '$W/gw.toml' --json | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s[\"ingest\"][\"stored\"]+s[\"ingest\"][\"held\"] >= 1 else 1)'"
[ "$TEST_FAILED" -eq 0 ] || sed 's/^/  daemon| /' "$W/daemon.err"
expect_success "no D-Bus access error in the daemon's log" sh -c "! grep -q 'AccessDenied' '$W/daemon.err'"

kill -TERM "$DAEMON"; wait "$DAEMON"; rc=$?; DAEMON=""
expect_equal "SIGTERM: clean exit" 0 $rc
finish ble-policy
