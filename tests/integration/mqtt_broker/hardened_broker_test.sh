#!/usr/bin/env bash
# The hardened local broker config (systemd/mosquitto/rpm-gateway.conf + acl)
# started for real on a free port, with paths adapted to a temp dir: TLS only,
# no anonymous or foreign-CA clients, and the per-device ACL on readings and
# acks. A planted permissive variant shows the refusal checks can fail.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
source "$root/tests/services/lib.sh"
source "$root/tests/services/testlib.sh"
svc_init
dir=$RPM_TEST_SERVICES_DIR/hardened
mkdir -p "$dir/data" && chmod 755 "$dir" && chmod 777 "$dir/data"
svc_make_ca "$dir/ca" rpm-device-ca || exit 3
svc_make_cert "$dir/ca" "$dir/certs" broker server || exit 3
for u in gateway device1 device2; do svc_make_cert "$dir/ca" "$dir/certs" "$u" client || exit 3; done
svc_make_ca "$dir/rogue-ca" rogue-ca || exit 3
svc_make_cert "$dir/rogue-ca" "$dir/certs" rogue client || exit 3
cp "$root/systemd/mosquitto/acl" "$dir/acl" && chmod 644 "$dir/acl"

# start_broker conf-name extra-lines: the shipped config with test paths and port.
start_broker() {  # name extra
  local conf=$dir/$1.conf port
  port=$(svc_free_port)
  sed -e "s|^listener 8883$|listener $port 127.0.0.1|" \
      -e "s|^persistence_location .*|persistence_location $dir/data/|" \
      -e "s|/etc/mosquitto/rpm-gateway/device-ca.crt|$dir/ca/ca.crt|" \
      -e "s|/etc/mosquitto/rpm-gateway/broker.crt|$dir/certs/broker.crt|" \
      -e "s|/etc/mosquitto/rpm-gateway/broker.key|$dir/certs/broker.key|" \
      -e "s|/etc/mosquitto/rpm-gateway/acl|$dir/acl|" \
      "$root/systemd/mosquitto/rpm-gateway.conf" >"$conf"
  printf 'log_dest stderr\n%s\n' "$2" >>"$conf"
  grep -q "listener $port 127.0.0.1" "$conf" || { echo "config did not adapt"; exit 3; }
  chmod 644 "$conf"
  mkdir -p "$dir/$1"
  svc_spawn "$dir/$1" mosquitto -c "$conf"
  svc_wait_listening "$SVC_LAST_PID" "$port" mosquitto "$dir/$1/log" || exit 3
  PORT=$port
}

tls_args() {  # user|none|rogue
  local a=(-h 127.0.0.1 -p "$PORT" --cafile "$dir/ca/ca.crt" -i "t-$1-$RANDOM")
  [ "$1" != none ] && a+=(--cert "$dir/certs/$1.crt" --key "$dir/certs/$1.key")
  printf '%s\n' "${a[@]}"
}
pub() {  # user topic message
  mapfile -t a < <(tls_args "$1")
  mosquitto_pub "${a[@]}" -q 1 -t "$2" -m "$3" 2>/dev/null
}
plain_pub() { mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t rpm/devices/x/readings/native -m x 2>/dev/null; }
sub_start() {  # out user topic count
  mapfile -t a < <(tls_args "$2")
  stdbuf -oL mosquitto_sub "${a[@]}" -d -q 1 -t "$3" -C "$4" -W 10 -F '%t %p' >"$1" 2>&1 &
  SUB=$!
  for ((i = 0; i < 200; i++)); do grep -q 'received SUBACK' "$1" && return 0; sleep 0.05; done
  return 1
}
lines() { grep '^rpm/' "$1"; }

start_broker hardened ""
expect_failure "a client without a certificate is refused" pub none rpm/devices/device1/readings/native x
expect_failure "a client with a certificate from another CA is refused" pub rogue rpm/devices/rogue/readings/native x
expect_failure "there is no plain-text listener" plain_pub

sub_start "$dir/gw" gateway 'rpm/devices/+/readings/#' 2 || fail "gateway subscription"
pub device1 rpm/devices/device2/readings/native spoofed
pub device1 rpm/devices/device1/readings/native genuine-1
pub device2 rpm/devices/device2/readings/native genuine-2
wait "$SUB"
expect_equal "the gateway reads each device's own readings, never one published under another device's topic" \
  "rpm/devices/device1/readings/native genuine-1
rpm/devices/device2/readings/native genuine-2" "$(lines "$dir/gw")"

sub_start "$dir/d2" device2 'rpm/devices/+/acks' 1 || fail "device2 subscription"
SUB2=$SUB
sub_start "$dir/d1" device1 'rpm/devices/device1/acks' 1 || fail "device1 subscription"
SUB1=$SUB
pub device2 rpm/devices/device1/acks forged-ack
pub gateway rpm/devices/device1/acks ack-1
pub gateway rpm/devices/device2/acks ack-2
wait "$SUB1" "$SUB2"
expect_equal "a device reads its own acks from the gateway only" "rpm/devices/device1/acks ack-1" "$(lines "$dir/d1")"
expect_equal "a device cannot read another device's acks" "rpm/devices/device2/acks ack-2" "$(lines "$dir/d2")"

# Planted: the same config made permissive; the refusal checks must notice.
start_broker permissive "require_certificate false
use_identity_as_username false
allow_anonymous true"
expect_success "planted: a permissive broker lets a client without a certificate in (the check can fail)" \
  pub none rpm/devices/device1/readings/native x
finish
