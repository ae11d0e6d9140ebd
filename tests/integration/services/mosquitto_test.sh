#!/usr/bin/env bash
# Runs under tests/services/with-services.sh --mosquitto=<mode>: a message
# round-trips through the broker with mosquitto_pub/mosquitto_sub, and in the
# password and TLS variants wrong credentials are refused and the per-client ACL
# stops a device from publishing into another device's topics.
set -uo pipefail
source "$(dirname "$0")/../../services/testlib.sh"
: "${RPM_TEST_MQTT_PORT:?run me under with-services.sh --mosquitto=...}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Connection arguments for a named client in the current mode.
client_args() {  # user
  local upper
  upper=$(echo "$1" | tr '[:lower:]' '[:upper:]')
  local args=(-h "$RPM_TEST_MQTT_HOST" -p "$RPM_TEST_MQTT_PORT" -i "test-$1-$$")
  case "$RPM_TEST_MQTT_MODE" in
    password) local pwvar="RPM_TEST_MQTT_PASSWORD_$upper"; args+=(-u "$1" -P "${!pwvar}") ;;
    tls)
      local certvar="RPM_TEST_MQTT_CERT_$upper" keyvar="RPM_TEST_MQTT_KEY_$upper"
      args+=(--cafile "$RPM_TEST_MQTT_CA_FILE" --cert "${!certvar}" --key "${!keyvar}") ;;
  esac
  printf '%s\n' "${args[@]}"
}

# Starts a subscriber for count messages and waits (bounded) until the broker
# acknowledged its subscription (SUBACK), so a publish after this is not lost.
start_subscriber() {  # out user topic count
  local out=$1 user=$2 topic=$3 count=$4
  mapfile -t args < <(client_args "$user")
  # stdbuf: mosquitto_sub block-buffers a redirected stdout, hiding the SUBACK line.
  stdbuf -oL mosquitto_sub "${args[@]}" -d -q 1 -t "$topic" -C "$count" -W 10 -F '%t %p' >"$out" 2>&1 &
  SUB_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    grep -q 'received SUBACK' "$out" 2>/dev/null && return 0
    kill -0 "$SUB_PID" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

publish() {  # user topic message
  mapfile -t args < <(client_args "$1")
  mosquitto_pub "${args[@]}" -q 1 -t "$2" -m "$3" 2>"$work/pub.err"
}

received() {  # out: the received "topic payload" lines (all test topics start with rpm/)
  grep '^rpm/' "$1"
}

echo "mosquitto mode: $RPM_TEST_MQTT_MODE on $RPM_TEST_MQTT_URI"

# 1. Round trip: the gateway subscribes to every device topic, device1 publishes.
if start_subscriber "$work/sub1" gateway 'rpm/#' 1; then
  expect_success "a device can publish to its own topic" publish device1 rpm/devices/device1/reading 'payload 2.00'
  wait "$SUB_PID"
  expect_equal "the gateway receives the message byte for byte" "rpm/devices/device1/reading payload 2.00" \
    "$(received "$work/sub1")"
else
  fail "the subscriber's subscription was acknowledged within 10 s"
fi

if [ "$RPM_TEST_MQTT_MODE" != anonymous ]; then
  # 2. Per-client ACL: device1 may not publish under device2's topics. The broker
  # drops such a message silently, so publish it first, then an allowed one, and
  # check that only the allowed one arrives.
  if start_subscriber "$work/sub2" gateway 'rpm/devices/#' 1; then
    publish device1 rpm/devices/device2/reading 'forged by device1'
    publish device2 rpm/devices/device2/reading 'genuine from device2'
    wait "$SUB_PID"
    expect_equal "the ACL drops device1's message to device2's topic; device2's own arrives" \
      "rpm/devices/device2/reading genuine from device2" "$(received "$work/sub2")"
  else
    fail "the subscriber's subscription was acknowledged within 10 s"
  fi

  # 3. Wrong credentials are refused at connect.
  base=(-h "$RPM_TEST_MQTT_HOST" -p "$RPM_TEST_MQTT_PORT" -q 1 -t rpm/devices/device1/x -m x)
  if [ "$RPM_TEST_MQTT_MODE" = password ]; then
    expect_failure "a wrong password is refused" mosquitto_pub "${base[@]}" -u device1 -P wrong-password
    expect_failure "an anonymous client is refused" mosquitto_pub "${base[@]}"
  else
    expect_failure "a client certificate from an untrusted CA is refused" mosquitto_pub "${base[@]}" \
      --cafile "$RPM_TEST_MQTT_CA_FILE" --cert "$RPM_TEST_MQTT_ROGUE_CERT" --key "$RPM_TEST_MQTT_ROGUE_KEY"
    expect_failure "a TLS client without a certificate is refused" mosquitto_pub "${base[@]}" \
      --cafile "$RPM_TEST_MQTT_CA_FILE"
    expect_failure "a plain-TCP client is refused by the TLS listener" mosquitto_pub "${base[@]}" -u device1
  fi
fi

# 4. The broker is our own process on the advertised port (never someone else's).
expect_success "the broker PID listens on the advertised loopback port" \
  bash -c "ss -Hltnp 'sport = :$RPM_TEST_MQTT_PORT' | grep -q 'pid=$RPM_TEST_MQTT_PID,'"
finish
