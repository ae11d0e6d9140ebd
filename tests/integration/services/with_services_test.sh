#!/usr/bin/env bash
# The service wrapper itself: it exports the documented variables, returns the
# command's exit code, stops every service it started (also when the command
# fails or the wrapper is terminated), restarts a service through service-ctl.sh,
# and its readiness check fails when a process does not listen (planted: a
# process that never listens, and a port held by another process).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../services/testlib.sh"
source "$here/../../services/lib.sh"  # svc_alive: a zombie (exited, not yet reaped) counts as gone
WRAP=$here/../../services/with-services.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. Variables, exit code and cleanup after a failing command.
bash "$WRAP" --mosquitto --dbus --fhir -- bash -c "env > '$work/env'; exit 7"
expect_equal "the wrapper returns the command's exit code" 7 "$?"
for v in RPM_TEST_SERVICES_DIR RPM_TEST_SERVICE_CTL RPM_TEST_MQTT_HOST RPM_TEST_MQTT_PORT RPM_TEST_MQTT_URI RPM_TEST_MQTT_PID \
  DBUS_SYSTEM_BUS_ADDRESS RPM_TEST_DBUS_ADDRESS RPM_TEST_DBUS_PID RPM_TEST_FHIR_BASE_URL RPM_TEST_FHIR_CONTROL_URL RPM_TEST_FHIR_PID; do
  expect_success "the command sees $v" grep -q "^$v=." "$work/env"
done
pids=$(sed -n 's/^RPM_TEST_\(MQTT\|DBUS\|FHIR\)_PID=//p' "$work/env" | tr '\n' ' ')
dir=$(sed -n 's/^RPM_TEST_SERVICES_DIR=//p' "$work/env")
alive=""
for p in $pids; do svc_alive "$p" && alive="$alive $p"; done
expect_equal "every service process is gone after the command failed" "" "$alive"
expect_failure "the services' temp dir is removed" test -e "$dir"

# 2. Terminating the wrapper (as ctest's timeout does) stops the command and the services.
bash "$WRAP" --mosquitto -- bash -c "echo \$RPM_TEST_MQTT_PID > '$work/pid'; exec sleep 300" &
wrapper=$!
for ((i = 0; i < 200; i++)); do [ -s "$work/pid" ] && break; sleep 0.05; done
kill -TERM "$wrapper"
wait "$wrapper"
expect_equal "a terminated wrapper exits 143" 143 "$?"
expect_failure "the broker of a terminated wrapper is gone" svc_alive "$(cat "$work/pid")"

# 3. service-ctl.sh: a broker outage and a bus restart, with readiness on the way back.
bash "$WRAP" --mosquitto --dbus -- bash -c '
  set -u
  old=$RPM_TEST_MQTT_PID
  "$RPM_TEST_SERVICE_CTL" mosquitto stop || exit 11
  mosquitto_pub -h 127.0.0.1 -p "$RPM_TEST_MQTT_PORT" -t rpm/x -m x 2>/dev/null && exit 12
  "$RPM_TEST_SERVICE_CTL" mosquitto start || exit 13
  new=$("$RPM_TEST_SERVICE_CTL" mosquitto pid)
  [ "$new" != "$old" ] || exit 14
  mosquitto_pub -h 127.0.0.1 -p "$RPM_TEST_MQTT_PORT" -t rpm/x -m x || exit 15
  "$RPM_TEST_SERVICE_CTL" dbus restart || exit 16
  dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.GetId >/dev/null || exit 17
  echo "$new" > '"$work/restarted"'
'
expect_equal "service-ctl stops mosquitto (publish fails), starts it on the same port (publish works) and restarts the bus" 0 "$?"
expect_failure "the restarted broker is stopped by the wrapper's cleanup" svc_alive "$(cat "$work/restarted" 2>/dev/null || echo 999999)"

# 4. The readiness check can fail: a process that never listens, and a port
# that someone else listens on, are both reported within the bound.
(
  SVC_WAIT_SECONDS=1
  port=$(svc_free_port)
  sleep 30 & sleeper=$!
  : >"$work/log"
  svc_wait_listening "$sleeper" "$port" "a process that never listens" "$work/log" 2>/dev/null && exit 21
  python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(30)' "$port" & other=$!
  for ((i = 0; i < 100; i++)); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.05; done
  svc_pid_listens "$other" "$port" || exit 22
  svc_wait_listening "$sleeper" "$port" "a process whose port another process holds" "$work/log" 2>/dev/null && exit 23
  kill "$sleeper" "$other"
  exit 0
)
expect_equal "readiness fails for a process that does not listen itself, even if another one holds the port" 0 "$?"
finish
