#!/usr/bin/env bash
# Control-socket access for real: the daemon (root here) gives its socket to
# control.admin_group, mode 0660, and checks every connection's peer
# credentials. Clients run as another uid with setpriv: outside the group the
# file mode stops them; inside it (as supplementary group or primary gid) they
# get in; with the socket made world-writable by mistake the peer check still
# refuses an outsider with a clear answer, counted in status and logged without
# PHI. A daemon with the check switched off (planted bug) fails that check.
# Needs root (setpriv --reuid); skipped otherwise.
set -u
GW=$1
SRC=$2
. "$SRC/tests/services/testlib.sh"
if [ "$(id -u)" != 0 ]; then echo "skipped: needs root for setpriv --reuid"; exit 77; fi
W=$(mktemp -d)
chmod 0711 "$W"  # other uids may reach the socket, not list the directory
DAEMON=""
stop_daemon() { [ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null; DAEMON=""; }
cleanup() { stop_daemon; rm -rf "$W"; }
trap cleanup EXIT

GROUP=users
GID=$(getent group "$GROUP" | cut -d: -f3)
OUTSIDER=4242   # a uid with no passwd entry and no membership
SOCK=$W/run/control.sock
METRICS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
write_config() {  # admin group
  cat >"$W/gw.toml" <<T
[hub]
id = "hub-access"
timezone = "Europe/Berlin"
state_directory = "$W/state"
runtime_directory = "$W/run"
[control]
admin_group = "$1"
[fhir]
base_url = "$RPM_TEST_FHIR_BASE_URL"
[metrics]
enabled = true
port = $METRICS_PORT
[[devices]]
key = "bt:CA:FE:5D:1F:00:42"
patient = "Patient/canary-pt-acc3"
T
}
start_daemon() {  # extra env assignments...
  env "$@" "$GW" run --config "$W/gw.toml" 2>>"$W/daemon.err" &
  DAEMON=$!
  wait_for "the control socket" 20 "$GW" status --socket "$SOCK"
}
as_uid() {  # uid gid groups(comma list or "none") command...
  local uid=$1 gid=$2 groups=$3; shift 3
  if [ "$groups" = none ]; then
    setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"
  else
    setpriv --reuid="$uid" --regid="$gid" --groups="$groups" "$@"
  fi
}
# Passes when the outsider, reaching a world-writable socket, is refused by the peer check.
outsider_refused_by_peer_check() {
  chmod 0666 "$SOCK"
  as_uid $OUTSIDER $OUTSIDER none "$GW" status --socket "$SOCK" >"$W/outsider.out" 2>"$W/outsider.err"
  local rc=$?
  chmod 0660 "$SOCK"
  [ $rc = 1 ] && grep -q "permission denied: only root, the gateway's user and members of control.admin_group" "$W/outsider.err"
}

write_config "$GROUP"
start_daemon
expect_equal "the socket belongs to the admin group" "$GROUP" "$(stat -c %G "$SOCK")"
expect_equal "the socket is 0660" 660 "$(stat -c %a "$SOCK")"

as_uid $OUTSIDER $OUTSIDER none "$GW" status --socket "$SOCK" >/dev/null 2>"$W/filemode.err"
expect_equal "a uid outside the group cannot connect (exit 1)" 1 $?
expect_success "and is told permission was denied" grep -q "permission denied on the control socket" "$W/filemode.err"

as_uid $OUTSIDER $OUTSIDER "$GID" "$GW" status --socket "$SOCK" >/dev/null 2>"$W/member.err"
expect_equal "a uid holding the admin group as a supplementary group gets in" 0 $?
as_uid $OUTSIDER "$GID" none "$GW" status --socket "$SOCK" >/dev/null 2>"$W/primary.err"
expect_equal "a uid whose primary gid is the admin group gets in" 0 $?
"$GW" status --socket "$SOCK" >/dev/null
expect_equal "root gets in" 0 $?

expect_success "with the socket world-writable by mistake, the peer check still refuses an outsider" \
  outsider_refused_by_peer_check
refused=$("$GW" status --socket "$SOCK" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["control"]["refused_connections"])')
expect_equal "the refusal is counted in status" 1 "$refused"
expect_success "and in the metrics" sh -c "curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep -qx 'rpm_gateway_control_connections_refused_total 1'"
expect_success "the refusal is logged with the uid" sh -c "grep 'connection refused' '$W/daemon.err' | grep -q 4242"
expect_success "the log carries no PHI" sh -c "! grep -qi 'canary\|CAFE5D1F0042' '$W/daemon.err'"
stop_daemon

# Planted bug: a daemon that skips the peer check must fail the same check.
start_daemon RPM_GATEWAY_TEST_FAULTS=1 RPM_GATEWAY_TEST_SKIP_PEER_CHECK=1
expect_failure "the harness catches a daemon that skips the peer check" outsider_refused_by_peer_check
stop_daemon

# A daemon running as its own service user (uid 4300, a member of the admin group)
# gives the socket to the group; its own uid gets in without the group.
SERVICE=4300
mkdir -p "$W/svc-state" "$W/svc-run"
chown $SERVICE:$SERVICE "$W/svc-state" "$W/svc-run"
sed -e "s#$W/state#$W/svc-state#; s#$W/run#$W/svc-run#" "$W/gw.toml" >"$W/svc.toml"
chmod 0644 "$W/svc.toml"
# setpriv execs the daemon, so $! is the daemon's pid (a shell function would leave a subshell in between).
setpriv --reuid=$SERVICE --regid=$SERVICE --groups="$GID" "$GW" run --config "$W/svc.toml" 2>>"$W/svc.err" &
DAEMON=$!
wait_for "the service user's control socket" 20 "$GW" status --socket "$W/svc-run/control.sock"
expect_equal "a non-root daemon in the admin group gives its socket to the group" "$GROUP" "$(stat -c %G "$W/svc-run/control.sock")"
as_uid $SERVICE $SERVICE none "$GW" status --socket "$W/svc-run/control.sock" >/dev/null 2>"$W/self.err"
expect_equal "the gateway's own uid gets in without the admin group" 0 $?
chmod 0666 "$W/svc-run/control.sock"
as_uid 4301 4301 none "$GW" status --socket "$W/svc-run/control.sock" >/dev/null 2>"$W/svc-outsider.err"
expect_equal "another uid is refused by the non-root daemon's peer check" 1 $?
stop_daemon
as_uid $SERVICE $SERVICE none "$GW" run --config "$W/svc.toml" 2>"$W/svc-nogroup.err"
expect_equal "a daemon that is not in the admin group does not start (exit 1)" 1 $?
expect_success "and says the service user must be a member" grep -q "must be a member of the group" "$W/svc-nogroup.err"

write_config "no-such-group-rpm"
"$GW" run --config "$W/gw.toml" 2>"$W/nogroup.err"
expect_equal "an admin group that does not exist stops start-up as a configuration error (exit 2)" 2 $?
expect_success "naming the key" grep -q "control.admin_group" "$W/nogroup.err"
finish
