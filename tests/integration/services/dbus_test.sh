#!/usr/bin/env bash
# Runs under tests/services/with-services.sh --dbus[=permissive|bluez] with the
# path of dbus-name-holder as argument. Checks that a name is owned on the
# private bus through DBUS_SYSTEM_BUS_ADDRESS (as production code opens the
# system bus), and what a non-root user ("nobody") may do:
#   permissive: anything (the emulator's bus), which also shows that the policy
#               checks below can fail;
#   bluez:      Debian's bluetooth.conf: nobody may call org.bluez but not own it,
#               nor call other peers; root may own org.bluez and call back Agent1.
set -uo pipefail
source "$(dirname "$0")/../../services/testlib.sh"
source "$(dirname "$0")/../../services/lib.sh"
HOLDER=${1:?usage: dbus_test.sh path/to/dbus-name-holder}
: "${DBUS_SYSTEM_BUS_ADDRESS:?run me under with-services.sh --dbus}"
work=$(mktemp -d)
chmod 755 "$work"
HOLDER_PIDS=()
cleanup() {
  local p
  for p in "${HOLDER_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# Starts the holder (as root) and waits until it printed its unique name.
start_holder() {  # out [name]
  local out=$1; shift
  "$HOLDER" "$@" >"$out" 2>&1 &
  HOLDER_PIDS+=($!)
  local pid=$! i
  for ((i = 0; i < 200; i++)); do
    grep -q '^unique-name ' "$out" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# Calls a method on dest and prints the D-Bus error name, or "ok".
call_as() {  # user dest interface.member
  local user=$1 dest=$2 method=$3 out
  local cmd=(dbus-send --system --print-reply --reply-timeout=5000 --dest="$dest" /org/bluez "$method")
  if [ "$user" = nobody ]; then out=$(as_nobody "${cmd[@]}" 2>&1); else out=$("${cmd[@]}" 2>&1); fi
  if [ $? -eq 0 ]; then echo ok; return; fi
  echo "$out" | sed -n 's/^Error \([A-Za-z0-9_.]*\).*/\1/p' | head -1
}

# Asks the bus for a name as user; prints "ok" or the error name.
request_name_as() {  # user name
  local cmd=(dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus
    org.freedesktop.DBus.RequestName "string:$2" uint32:0)
  local out
  if [ "$1" = nobody ]; then out=$(as_nobody "${cmd[@]}" 2>&1); else out=$("${cmd[@]}" 2>&1); fi
  if [ $? -eq 0 ]; then echo ok; return; fi
  echo "$out" | sed -n 's/^Error \([A-Za-z0-9_.]*\).*/\1/p' | head -1
}

echo "private bus $DBUS_SYSTEM_BUS_ADDRESS, policy $RPM_TEST_DBUS_POLICY"
expect_success "the private bus answers as the system bus for a non-root user" \
  bash -c "setpriv --reuid=65534 --regid=65534 --clear-groups dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.GetId >/dev/null"

# A root process owns org.bluez (allowed in both variants: bluetooth.conf's root block).
if start_holder "$work/bluez.out" org.bluez; then pass "a root process owns org.bluez on the private bus"
else fail "a root process owns org.bluez on the private bus ($(cat "$work/bluez.out"))"; fi
expect_success "the name is visible as owned (the readiness check other tests use)" \
  svc_wait_dbus_name "$DBUS_SYSTEM_BUS_ADDRESS" org.bluez 10

# A plain client connection (no well-known name), standing in for the gateway's
# Agent1 object that bluetoothd calls back.
start_holder "$work/client.out" || fail "a plain client connects"
client=$(sed -n 's/^unique-name //p' "$work/client.out")

if [ "$RPM_TEST_DBUS_POLICY" = bluez ]; then
  expect_equal "nobody may not own org.bluez (bluetooth.conf)" \
    org.freedesktop.DBus.Error.AccessDenied "$(request_name_as nobody org.bluez)"
  expect_equal "nobody may not own any other name (system.conf default)" \
    org.freedesktop.DBus.Error.AccessDenied "$(request_name_as nobody org.example.Other)"
  # Sending to org.bluez is allowed: the holder answers UnknownObject/UnknownMethod,
  # not AccessDenied.
  result=$(call_as nobody org.bluez org.bluez.Adapter1.StartDiscovery)
  if [ -n "$result" ] && [ "$result" != org.freedesktop.DBus.Error.AccessDenied ]; then
    pass "nobody may call methods on org.bluez (context default) [$result]"
  else
    fail "nobody may call methods on org.bluez (context default) [got '$result']"
  fi
  expect_equal "nobody may not call another peer's methods" \
    org.freedesktop.DBus.Error.AccessDenied "$(call_as nobody "$client" org.bluez.Agent1.Release)"
  result=$(call_as root "$client" org.bluez.Agent1.Release)
  if [ -n "$result" ] && [ "$result" != org.freedesktop.DBus.Error.AccessDenied ]; then
    pass "root (bluetoothd) may call a client's org.bluez.Agent1 [$result]"
  else
    fail "root (bluetoothd) may call a client's org.bluez.Agent1 [got '$result']"
  fi
else
  expect_equal "on the permissive bus nobody may own a name (so the policy checks can fail)" \
    ok "$(request_name_as nobody org.example.Other)"
  expect_equal "on the permissive bus nobody may call another peer's methods" \
    org.freedesktop.DBus.Error.UnknownObject "$(call_as nobody "$client" org.bluez.Agent1.Release)"
fi
finish
