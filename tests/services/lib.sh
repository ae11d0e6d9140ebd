# shellcheck shell=bash
# Shared bash library that starts real services for tests: mosquitto, a private
# dbus-daemon and the FHIR R4 test server (tests/fhir-server). Source it, call
# svc_init once, then svc_start_* as needed; everything started is stopped by the
# EXIT trap that svc_init installs. Every service listens on loopback on a free
# port (never a fixed one) and is "ready" only when its own PID listens there
# (ss -ltnp) or, for D-Bus, when the bus answers. Every wait is bounded.
#
# Environment variables each start function exports are listed in docs/testing.md.

SVC_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SVC_SOURCE_DIR=$(cd "$SVC_LIB_DIR/../.." && pwd)
SVC_WAIT_SECONDS=${SVC_WAIT_SECONDS:-20}
SVC_PIDS=()

svc_log() { echo "services: $*" >&2; }

# Creates the temp root (RPM_TEST_SERVICES_DIR) and installs the cleanup trap.
svc_init() {
  RPM_TEST_SERVICES_DIR=$(mktemp -d /tmp/rpm-services.XXXXXX)
  # mosquitto drops privileges to user "mosquitto" when started as root, and the
  # policy test connects as user "nobody": both must reach files in here.
  chmod 755 "$RPM_TEST_SERVICES_DIR"
  export RPM_TEST_SERVICES_DIR RPM_TEST_SERVICE_CTL=$SVC_LIB_DIR/service-ctl.sh
  trap svc_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# True while pid runs (a zombie, which nobody reaped yet, counts as gone).
svc_alive() {  # pid
  local stat
  stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [ -n "$stat" ] && [ "${stat#Z}" = "$stat" ]
}

# Stops pids: SIGTERM, a bounded wait (5 s), then SIGKILL. Must not rely on set -e.
svc_kill_pids() {  # pid...
  local pid i
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "$@"; do
    for ((i = 0; i < 100; i++)); do
      svc_alive "$pid" || break
      sleep 0.05
    done
    if svc_alive "$pid"; then
      svc_log "process $pid ignored SIGTERM for 5 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  return 0
}

# True when pid is still the process recorded for a service dir (same program
# as its cmd file), so that a stale pid file never makes us stop a stranger
# that happens to have been given the same PID.
svc_pid_runs_service() {  # pid service-dir
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && [ -r "$2/cmd" ] || return 1
  local running recorded
  running=$(tr '\0' '\n' <"/proc/$1/cmdline" | head -1)
  recorded=$(tr '\0' '\n' <"$2/cmd" | head -1)
  [ -n "$running" ] && [ "$(basename "$running")" = "$(basename "$recorded")" ]
}

# Stops every service process (those this shell spawned and any that
# service-ctl.sh restarted: all are in the pid files) and removes the temp
# root. Runs from the EXIT trap, so it must not rely on set -e.
svc_cleanup() {
  local rc=$?
  # Only PIDs whose pid file still names a running service program: a PID
  # number alone may have been reused by a stranger since our process exited.
  local pids=() f pid
  if [ -n "${RPM_TEST_SERVICES_DIR:-}" ]; then
    for f in "$RPM_TEST_SERVICES_DIR"/*/pid; do
      [ -f "$f" ] && read -r pid <"$f" && svc_pid_runs_service "$pid" "$(dirname "$f")" && pids+=("$pid")
    done
  fi
  # Our own children are safe to signal: an unreaped child keeps its PID.
  for pid in "${SVC_PIDS[@]}"; do svc_alive "$pid" && pids+=("$pid"); done
  if [ ${#pids[@]} -gt 0 ]; then svc_kill_pids "${pids[@]}"; fi
  for pid in "${SVC_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  SVC_PIDS=()
  if [ -n "${RPM_TEST_SERVICES_DIR:-}" ] && [ -d "$RPM_TEST_SERVICES_DIR" ]; then
    if [ -n "${SVC_KEEP_DIR:-}" ]; then
      svc_log "kept $RPM_TEST_SERVICES_DIR"
    else
      rm -rf "$RPM_TEST_SERVICES_DIR"
    fi
  fi
  return $rc
}

# Starts a service process in the background with output to its log, records
# its PID (SVC_LAST_PID, SVC_PIDS, <service dir>/pid) and its command line
# (<service dir>/cmd) so that service-ctl.sh can stop and start it again.
svc_spawn() {  # service-dir command...
  local dir=$1; shift
  printf '%s\0' "$@" >"$dir/cmd"
  "$@" >>"$dir/log" 2>&1 &
  local pid=$!
  SVC_PIDS+=("$pid")
  SVC_LAST_PID=$pid
  echo "$pid" >"$dir/pid"
}

# Prints a TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it).
svc_free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# True when the given PID itself listens on 127.0.0.1:port.
svc_pid_listens() {  # pid port
  ss -Hltnp "sport = :$2" 2>/dev/null | grep -q "pid=$1,"
}

# Waits (bounded) until pid listens on port; fails early if the process exits.
svc_wait_listening() {  # pid port what logfile
  local pid=$1 port=$2 what=$3 log=$4
  local deadline=$((SECONDS + SVC_WAIT_SECONDS))
  while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      svc_log "$what (pid $pid) exited before listening on port $port; its log:"
      sed 's/^/  | /' "$log" >&2
      return 1
    fi
    if svc_pid_listens "$pid" "$port"; then return 0; fi
    sleep 0.05
  done
  svc_log "$what (pid $pid) did not listen on port $port within $SVC_WAIT_SECONDS s; its log:"
  sed 's/^/  | /' "$log" >&2
  return 1
}

# Stops one PID started by svc_spawn (bounded) and forgets it.
svc_stop_pid() {  # pid
  local pid=$1 kept=() p
  svc_kill_pids "$pid"
  wait "$pid" 2>/dev/null
  for p in "${SVC_PIDS[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
  SVC_PIDS=("${kept[@]}")
  return 0
}

# --- certificates --------------------------------------------------------------

# Creates a CA (ca.crt, ca.key) in dir. The subject names the purpose.
svc_make_ca() {  # dir name
  local dir=$1 name=$2
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 \
    -subj "/CN=$name" -keyout "$dir/ca.key" -out "$dir/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    >/dev/null 2>&1 || { svc_log "openssl could not create CA $name"; return 1; }
  chmod 644 "$dir/ca.key" "$dir/ca.crt"
}

# Issues a certificate for CN=name signed by the CA in cadir: out/name.crt, out/name.key.
# kind is "server" (SAN 127.0.0.1 and localhost) or "client".
svc_make_cert() {  # cadir outdir name kind
  local cadir=$1 out=$2 name=$3 kind=$4 ext
  mkdir -p "$out"
  if [ "$kind" = server ]; then
    ext="subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth
basicConstraints=CA:FALSE"
  else
    ext="extendedKeyUsage=clientAuth
basicConstraints=CA:FALSE"
  fi
  openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$name" \
    -keyout "$out/$name.key" -out "$out/$name.csr" >/dev/null 2>&1 &&
    openssl x509 -req -sha256 -days 2 -in "$out/$name.csr" -CA "$cadir/ca.crt" -CAkey "$cadir/ca.key" \
      -CAcreateserial -out "$out/$name.crt" -extfile <(printf '%s\n' "$ext") >/dev/null 2>&1 ||
    { svc_log "openssl could not issue certificate $name"; return 1; }
  rm -f "$out/$name.csr"
  chmod 644 "$out/$name.key" "$out/$name.crt"
}

# --- mosquitto -------------------------------------------------------------------

# Users known to the password and TLS variants. In the TLS variant the client
# certificate's CN is the username (use_identity_as_username), so one ACL serves both.
SVC_MQTT_USERS=(gateway device1 device2 installer)

# The default per-client ACL: the gateway reads every device topic and owns its
# own subtree; each device may only publish under rpm/devices/<its username>/.
svc_default_mqtt_acl() {
  cat <<'EOF'
user gateway
topic read rpm/#
topic readwrite rpm/gateway/#
pattern write rpm/devices/%u/#
pattern read rpm/devices/%u/commands/#
user installer
topic write rpm/gateway/+/commands
topic read rpm/gateway/+/pairing
EOF
}

# Starts mosquitto. mode: anonymous | password | tls. RPM_TEST_MQTT_ACL_FILE, if
# set before the call, replaces the default ACL (password and tls modes).
svc_start_mosquitto() {  # mode
  local mode=${1:-anonymous}
  local dir=$RPM_TEST_SERVICES_DIR/mosquitto
  mkdir -p "$dir"
  chmod 755 "$dir"
  local conf=$dir/mosquitto.conf port attempt pid
  local upper user pw
  case "$mode" in anonymous | password | tls) ;; *) svc_log "unknown mosquitto mode '$mode'"; return 2 ;; esac

  if [ "$mode" != anonymous ]; then
    if [ -z "${RPM_TEST_MQTT_ACL_FILE:-}" ]; then
      svc_default_mqtt_acl >"$dir/acl"
      RPM_TEST_MQTT_ACL_FILE=$dir/acl
    fi
    chmod 644 "$RPM_TEST_MQTT_ACL_FILE"
  fi
  if [ "$mode" = password ]; then
    : >"$dir/passwd"
    for user in "${SVC_MQTT_USERS[@]}"; do
      pw="$user-$(openssl rand -hex 8)"
      mosquitto_passwd -b "$dir/passwd" "$user" "$pw" >/dev/null 2>&1 ||
        { svc_log "mosquitto_passwd failed"; return 1; }
      upper=$(echo "$user" | tr '[:lower:]' '[:upper:]')
      export "RPM_TEST_MQTT_PASSWORD_$upper=$pw"
    done
    chmod 644 "$dir/passwd"
    export RPM_TEST_MQTT_USERNAME=gateway
    export RPM_TEST_MQTT_PASSWORD=$RPM_TEST_MQTT_PASSWORD_GATEWAY
  fi
  if [ "$mode" = tls ]; then
    svc_make_ca "$dir/ca" "rpm-test-mqtt-ca" || return 1
    svc_make_cert "$dir/ca" "$dir/certs" broker server || return 1
    for user in "${SVC_MQTT_USERS[@]}"; do
      svc_make_cert "$dir/ca" "$dir/certs" "$user" client || return 1
      upper=$(echo "$user" | tr '[:lower:]' '[:upper:]')
      export "RPM_TEST_MQTT_CERT_$upper=$dir/certs/$user.crt" "RPM_TEST_MQTT_KEY_$upper=$dir/certs/$user.key"
    done
    # A client certificate from a CA the broker does not trust, for negative tests.
    svc_make_ca "$dir/rogue-ca" "rpm-test-rogue-ca" || return 1
    svc_make_cert "$dir/rogue-ca" "$dir/certs" rogue client || return 1
    export RPM_TEST_MQTT_CA_FILE=$dir/ca/ca.crt
    export RPM_TEST_MQTT_CLIENT_CERT=$dir/certs/gateway.crt RPM_TEST_MQTT_CLIENT_KEY=$dir/certs/gateway.key
    export RPM_TEST_MQTT_ROGUE_CERT=$dir/certs/rogue.crt RPM_TEST_MQTT_ROGUE_KEY=$dir/certs/rogue.key
  fi

  for attempt in 1 2 3; do
    port=$(svc_free_port)
    {
      echo "# generated by tests/services/lib.sh ($mode)"
      echo "persistence false"
      echo "log_dest stderr"
      echo "log_type error"
      echo "log_type warning"
      echo "log_type notice"
      echo "per_listener_settings false"
      echo "listener $port 127.0.0.1"
      case "$mode" in
        anonymous) echo "allow_anonymous true" ;;
        password)
          echo "allow_anonymous false"
          echo "password_file $dir/passwd"
          echo "acl_file $RPM_TEST_MQTT_ACL_FILE" ;;
        tls)
          echo "allow_anonymous false"
          echo "cafile $dir/ca/ca.crt"
          echo "certfile $dir/certs/broker.crt"
          echo "keyfile $dir/certs/broker.key"
          echo "require_certificate true"
          echo "use_identity_as_username true"
          echo "acl_file $RPM_TEST_MQTT_ACL_FILE" ;;
      esac
      # Extra broker settings (the benchmarks lift the 1,000-message queue limit).
      if [ -n "${RPM_TEST_MQTT_EXTRA_CONFIG:-}" ]; then cat "$RPM_TEST_MQTT_EXTRA_CONFIG"; fi
    } >"$conf"
    chmod 644 "$conf"
    svc_spawn "$dir" mosquitto -c "$conf"
    pid=$SVC_LAST_PID
    if svc_wait_listening "$pid" "$port" mosquitto "$dir/log"; then
      echo "$port" >"$dir/ports"
      export RPM_TEST_MQTT_HOST=127.0.0.1 RPM_TEST_MQTT_PORT=$port RPM_TEST_MQTT_PID=$pid
      export RPM_TEST_MQTT_MODE=$mode RPM_TEST_MQTT_CONFIG=$conf
      if [ "$mode" = tls ]; then
        export RPM_TEST_MQTT_URI=ssl://127.0.0.1:$port
      else
        export RPM_TEST_MQTT_URI=tcp://127.0.0.1:$port
      fi
      return 0
    fi
    svc_stop_pid "$pid"
    svc_log "mosquitto attempt $attempt on port $port failed; retrying on another port"
  done
  return 1
}

# --- private D-Bus -------------------------------------------------------------------

# Writes a system-bus-like config for a private bus listening on socket.
# policy "permissive": anyone may own any name and call anything (for emulators).
# policy "bluez": Debian's system.conf default policy plus Debian's bluetooth.conf,
# so a test can check what a non-root service user may do.
svc_write_dbus_config() {  # file socket policy
  local file=$1 socket=$2 policy=$3
  {
    echo '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"'
    echo ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">'
    echo '<busconfig>'
    echo '  <type>system</type>'
    echo "  <listen>unix:path=$socket</listen>"
    echo '  <auth>EXTERNAL</auth>'
    if [ "$policy" = permissive ]; then
      cat <<'EOF'
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="*"/>
  </policy>
EOF
    else
      # The default policy of Debian's /usr/share/dbus-1/system.conf (dbus 1.14).
      cat <<'EOF'
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="UpdateActivationEnvironment"/>
  </policy>
EOF
      echo "  <include>$SVC_BLUETOOTH_CONF</include>"
    fi
    echo '</busconfig>'
  } >"$file"
  chmod 644 "$file"
}

# Where Debian's bluez package installs its D-Bus policy: bookworm's bluez 5.66
# ships /etc/dbus-1/system.d/bluetooth.conf; newer packagings use /usr/share.
if [ -z "${SVC_BLUETOOTH_CONF:-}" ]; then
  for SVC_BLUETOOTH_CONF in /etc/dbus-1/system.d/bluetooth.conf /usr/share/dbus-1/system.d/bluetooth.conf; do
    [ -r "$SVC_BLUETOOTH_CONF" ] && break
  done
fi

# True when the bus at address answers a call to the bus driver.
svc_dbus_answers() {  # address
  timeout 5 dbus-send --bus="$1" --print-reply --dest=org.freedesktop.DBus \
    /org/freedesktop/DBus org.freedesktop.DBus.GetId >/dev/null 2>&1
}

# Starts a private dbus-daemon. policy: permissive (default) | bluez.
svc_start_dbus() {  # policy
  local policy=${1:-permissive}
  local dir=$RPM_TEST_SERVICES_DIR/dbus
  case "$policy" in permissive | bluez) ;; *) svc_log "unknown dbus policy '$policy'"; return 2 ;; esac
  if [ "$policy" = bluez ] && [ ! -r "$SVC_BLUETOOTH_CONF" ]; then
    svc_log "bluetooth.conf is missing (Debian package bluez, see .ci/debian-packages.txt)"
    return 1
  fi
  mkdir -p "$dir"
  chmod 755 "$dir"
  local socket=$dir/system_bus_socket
  svc_write_dbus_config "$dir/bus.conf" "$socket" "$policy"
  svc_spawn "$dir" dbus-daemon --config-file="$dir/bus.conf" --nofork --nopidfile
  local pid=$SVC_LAST_PID address="unix:path=$socket"
  local deadline=$((SECONDS + SVC_WAIT_SECONDS))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      svc_log "dbus-daemon exited at start; its log:"; sed 's/^/  | /' "$dir/log" >&2; return 1
    fi
    if [ -S "$socket" ] && svc_dbus_answers "$address"; then break; fi
    if [ $SECONDS -ge $deadline ]; then
      svc_log "private dbus-daemon did not answer within $SVC_WAIT_SECONDS s"; return 1
    fi
    sleep 0.05
  done
  export DBUS_SYSTEM_BUS_ADDRESS=$address RPM_TEST_DBUS_ADDRESS=$address
  export RPM_TEST_DBUS_PID=$pid RPM_TEST_DBUS_POLICY=$policy RPM_TEST_DBUS_CONFIG=$dir/bus.conf
}

# Waits (bounded) until name has an owner on the bus at address.
svc_wait_dbus_name() {  # address name [seconds]
  local address=$1 name=$2 limit=${3:-$SVC_WAIT_SECONDS}
  local deadline=$((SECONDS + limit))
  while [ $SECONDS -lt $deadline ]; do
    if timeout 5 dbus-send --bus="$address" --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner "string:$name" 2>/dev/null | grep -q 'boolean true'; then
      return 0
    fi
    sleep 0.05
  done
  svc_log "D-Bus name $name not owned within $limit s"
  return 1
}

# --- FHIR test server ---------------------------------------------------------------------

SVC_FHIR_DIR=$SVC_SOURCE_DIR/tests/fhir-server

# Issues a server certificate for CN=name (SAN IP:127.0.0.1, DNS:localhost) that
# expired long ago: openssl x509 cannot date a certificate in the past, openssl ca can.
svc_make_expired_cert() {  # cadir outdir name
  local cadir=$1 out=$2 name=$3 db
  db=$(mktemp -d "$out/ca-db.XXXXXX")
  : >"$db/index.txt"
  openssl rand -hex 8 >"$db/serial"
  cat >"$db/ca.cnf" <<CNF
[ca]
default_ca = expired
[expired]
database = $db/index.txt
serial = $db/serial
new_certs_dir = $db
certificate = $cadir/ca.crt
private_key = $cadir/ca.key
default_md = sha256
policy = anything
unique_subject = no
[anything]
commonName = supplied
[server]
subjectAltName = IP:127.0.0.1,DNS:localhost
extendedKeyUsage = serverAuth
basicConstraints = CA:FALSE
CNF
  openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$name" \
    -keyout "$out/$name.key" -out "$out/$name.csr" >/dev/null 2>&1 &&
    openssl ca -batch -config "$db/ca.cnf" -extensions server -notext \
      -startdate 20200101000000Z -enddate 20200102000000Z \
      -in "$out/$name.csr" -out "$out/$name.crt" >/dev/null 2>&1 ||
    { svc_log "openssl could not issue the expired certificate $name"; return 1; }
  rm -rf "$db" "$out/$name.csr"
  chmod 644 "$out/$name.key" "$out/$name.crt"
}

# Issues a server certificate valid only for DNS:fhir.invalid (not 127.0.0.1, not localhost).
svc_make_wrong_host_cert() {  # cadir outdir name
  local cadir=$1 out=$2 name=$3
  openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=fhir.invalid" \
    -keyout "$out/$name.key" -out "$out/$name.csr" >/dev/null 2>&1 &&
    openssl x509 -req -sha256 -days 2 -in "$out/$name.csr" -CA "$cadir/ca.crt" -CAkey "$cadir/ca.key" \
      -CAcreateserial -out "$out/$name.crt" \
      -extfile <(printf '%s\n' "subjectAltName=DNS:fhir.invalid" "extendedKeyUsage=serverAuth" "basicConstraints=CA:FALSE") \
      >/dev/null 2>&1 || { svc_log "openssl could not issue certificate $name"; return 1; }
  rm -f "$out/$name.csr"
  chmod 644 "$out/$name.key" "$out/$name.crt"
}

# Starts the FHIR test server. mode:
#   "" or http  plain HTTP
#   tls         HTTPS with a CA made now (plus a wrong-host and an expired certificate to switch to)
#   mtls        as tls, and the handshake requires a client certificate from a second CA made now
#   smart       plain HTTP with SMART Backend Services (token endpoint, scopes enforced)
svc_start_fhir() {  # [mode]
  local mode=${1:-http}
  local dir=$RPM_TEST_SERVICES_DIR/fhir attempt port cport pid
  case "$mode" in http | tls | mtls | smart) ;; *) svc_log "unknown FHIR mode '$mode'"; return 2 ;; esac
  mkdir -p "$dir"
  if [ ! -d "$SVC_FHIR_DIR/node_modules/@medplum/fhir-router" ]; then
    svc_log "tests/fhir-server/node_modules is missing: run 'npm ci' in tests/fhir-server (bash .ci/run does)"
    return 1
  fi
  local tls_args=()
  if [ "$mode" = tls ] || [ "$mode" = mtls ]; then
    svc_make_ca "$dir/ca" "rpm-test-fhir-ca" || return 1
    svc_make_cert "$dir/ca" "$dir/certs" fhir-server server || return 1
    svc_make_wrong_host_cert "$dir/ca" "$dir/certs" fhir-wrong-host || return 1
    svc_make_expired_cert "$dir/ca" "$dir/certs" fhir-expired || return 1
    tls_args=(--tls-cert "$dir/certs/fhir-server.crt" --tls-key "$dir/certs/fhir-server.key")
    export RPM_TEST_FHIR_CA_FILE=$dir/ca/ca.crt
    export RPM_TEST_FHIR_CERT=$dir/certs/fhir-server.crt RPM_TEST_FHIR_KEY=$dir/certs/fhir-server.key
    export RPM_TEST_FHIR_WRONG_HOST_CERT=$dir/certs/fhir-wrong-host.crt
    export RPM_TEST_FHIR_WRONG_HOST_KEY=$dir/certs/fhir-wrong-host.key
    export RPM_TEST_FHIR_EXPIRED_CERT=$dir/certs/fhir-expired.crt RPM_TEST_FHIR_EXPIRED_KEY=$dir/certs/fhir-expired.key
  fi
  if [ "$mode" = mtls ]; then
    svc_make_ca "$dir/client-ca" "rpm-test-fhir-client-ca" || return 1
    svc_make_cert "$dir/client-ca" "$dir/certs" gateway client || return 1
    svc_make_ca "$dir/rogue-ca" "rpm-test-fhir-rogue-ca" || return 1
    svc_make_cert "$dir/rogue-ca" "$dir/certs" rogue client || return 1
    tls_args+=(--tls-client-ca "$dir/client-ca/ca.crt")
    export RPM_TEST_FHIR_CLIENT_CERT=$dir/certs/gateway.crt RPM_TEST_FHIR_CLIENT_KEY=$dir/certs/gateway.key
    export RPM_TEST_FHIR_ROGUE_CERT=$dir/certs/rogue.crt RPM_TEST_FHIR_ROGUE_KEY=$dir/certs/rogue.key
  fi
  if [ "$mode" = smart ]; then tls_args+=(--auth smart); fi
  for attempt in 1 2 3; do
    port=$(svc_free_port)
    cport=$(svc_free_port)
    [ "$port" = "$cport" ] && continue
    svc_spawn "$dir" node "$SVC_FHIR_DIR/server.js" --port "$port" --control-port "$cport" "${tls_args[@]}"
    pid=$SVC_LAST_PID
    if svc_wait_listening "$pid" "$port" "FHIR server" "$dir/log" &&
      svc_wait_listening "$pid" "$cport" "FHIR server control" "$dir/log"; then
      printf '%s\n%s\n' "$port" "$cport" >"$dir/ports"
      export RPM_TEST_FHIR_MODE=$mode
      if [ "$mode" = tls ] || [ "$mode" = mtls ]; then
        export RPM_TEST_FHIR_BASE_URL=https://127.0.0.1:$port
      else
        export RPM_TEST_FHIR_BASE_URL=http://127.0.0.1:$port
      fi
      export RPM_TEST_FHIR_CONTROL_URL=http://127.0.0.1:$cport RPM_TEST_FHIR_PID=$pid RPM_TEST_FHIR_PORT=$port
      return 0
    fi
    svc_stop_pid "$pid"
    svc_log "FHIR server attempt $attempt failed; retrying on other ports"
  done
  return 1
}
