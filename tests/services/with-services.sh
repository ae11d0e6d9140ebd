#!/usr/bin/env bash
# Starts the requested test services, exports their addresses, runs a command,
# and stops everything it started, whatever happens. Exit code: the command's,
# or 2 for bad usage, or 3 if a service could not start.
#
#   tests/services/with-services.sh [--mosquitto[=anonymous|password|tls]]
#       [--dbus[=permissive|bluez]] [--fhir[=http|tls|mtls|smart]] -- command [args...]
#
# The exported variable names are documented in docs/testing.md.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

want_mqtt="" want_dbus="" want_fhir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --mosquitto) want_mqtt=anonymous ;;
    --mosquitto=*) want_mqtt=${1#*=} ;;
    --dbus) want_dbus=permissive ;;
    --dbus=*) want_dbus=${1#*=} ;;
    --fhir) want_fhir=http ;;
    --fhir=*) want_fhir=${1#*=} ;;
    --) shift; break ;;
    -h | --help) usage ;;
    *) echo "with-services: unknown option '$1'" >&2; usage ;;
  esac
  shift
done
[ $# -gt 0 ] || { echo "with-services: no command given after --" >&2; usage; }
case "$want_fhir" in "" | http | tls | mtls | smart) ;; *) echo "with-services: --fhir takes http, tls, mtls or smart" >&2; exit 2 ;; esac

svc_init
if [ -n "$want_dbus" ]; then svc_start_dbus "$want_dbus" || exit 3; fi
if [ -n "$want_mqtt" ]; then svc_start_mosquitto "$want_mqtt" || exit 3; fi
if [ -n "$want_fhir" ]; then
  svc_start_fhir "$want_fhir" || exit 3
fi

# Not exec: the EXIT trap must outlive the command to stop the services. The
# command runs in the background so that a SIGTERM to this wrapper (ctest's
# timeout) is handled at once: the command is stopped, then the services.
"$@" <&0 &
command_pid=$!
trap 'svc_kill_pids "$command_pid"; exit 143' TERM
trap 'svc_kill_pids "$command_pid"; exit 130' INT
wait "$command_pid"
exit $?
