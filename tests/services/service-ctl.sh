#!/usr/bin/env bash
# Stops or starts again a service that with-services.sh started, for outage
# tests (broker down, bus restarted, FHIR server process gone). A test finds
# this script in RPM_TEST_SERVICE_CTL and calls it as a child process:
#
#   $RPM_TEST_SERVICE_CTL <mosquitto|dbus|fhir> <stop|start|restart|pid>
#
# start relaunches the recorded command line on the same port or socket and
# returns once the new process is ready (bounded); the wrapper's cleanup stops
# the new process too (it reads the pid files). A restarted FHIR server starts
# empty. To make the FHIR port refuse connections without losing its data, use
# the control API's POST /listener instead. Exit 0 on success, 1 otherwise.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
service=${1:-} action=${2:-}
: "${RPM_TEST_SERVICES_DIR:?run under tests/services/with-services.sh}"
dir=$RPM_TEST_SERVICES_DIR/$service
case "$service" in mosquitto | dbus | fhir) ;; *) echo "service-ctl: unknown service '$service'" >&2; exit 2 ;; esac
[ -f "$dir/cmd" ] || { echo "service-ctl: $service was not started by with-services.sh" >&2; exit 1; }

stop() {
  local pid
  read -r pid <"$dir/pid" || return 1
  svc_pid_runs_service "$pid" "$dir" || { echo "service-ctl: $service is not running" >&2; return 1; }
  svc_kill_pids "$pid"
  svc_alive "$pid" && return 1
  : >"$dir/pid"  # stopped: cleanup must not signal this PID later
  return 0
}

start() {
  local cmd pid ports
  read -r pid <"$dir/pid" && svc_pid_runs_service "$pid" "$dir" && { echo "service-ctl: $service is running (pid $pid)" >&2; return 1; }
  mapfile -d '' -t cmd <"$dir/cmd"
  # nohup + setsid: the service must outlive this script; the wrapper's cleanup stops it.
  setsid nohup "${cmd[@]}" >>"$dir/log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/pid"
  case "$service" in
    mosquitto) svc_wait_listening "$pid" "$(cat "$dir/ports")" mosquitto "$dir/log" ;;
    fhir)
      mapfile -t ports <"$dir/ports"
      svc_wait_listening "$pid" "${ports[0]}" "FHIR server" "$dir/log" &&
        svc_wait_listening "$pid" "${ports[1]}" "FHIR server control" "$dir/log" ;;
    dbus)
      local deadline=$((SECONDS + SVC_WAIT_SECONDS))
      until svc_dbus_answers "unix:path=$dir/system_bus_socket"; do
        svc_alive "$pid" && [ $SECONDS -lt $deadline ] || { echo "service-ctl: dbus-daemon not ready" >&2; return 1; }
        sleep 0.05
      done ;;
  esac
}

case "$action" in
  stop) stop ;;
  start) start ;;
  restart) stop && start ;;
  pid) cat "$dir/pid" ;;
  *) echo "service-ctl: action must be stop, start, restart or pid" >&2; exit 2 ;;
esac
