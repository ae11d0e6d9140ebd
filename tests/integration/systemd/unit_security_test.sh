#!/usr/bin/env bash
# systemd-analyze gates: the gateway's unit scores 1.3 or better (--threshold=13), and the hub's local mosquitto
# with our hardening drop-in scores OK (4.9 or better) where Debian's own unit scores 9.6. The gate is shown to fail
# on a planted weakening.
set -u
UNIT=$1
DROPIN=$2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passed=0; failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

cp "$UNIT" "$WORK/rpm-gateway.service"
if systemd-analyze security --offline=true --threshold=13 "$WORK/rpm-gateway.service" >"$WORK/score" 2>&1; then ok
else bad "rpm-gateway.service exposure above 1.3: $(tail -1 "$WORK/score")"; fi
echo "rpm-gateway.service: $(tail -1 "$WORK/score")"

# The gate can fail: the same unit without its sandboxing scores far worse.
mkdir -p "$WORK/weak"
grep -vE '^(Protect|Private|Restrict|SystemCall|CapabilityBoundingSet|NoNewPrivileges|MemoryDeny)' \
  "$WORK/rpm-gateway.service" >"$WORK/weak/rpm-gateway.service"
if systemd-analyze security --offline=true --threshold=13 "$WORK/weak/rpm-gateway.service" >/dev/null 2>&1; then
  bad "a weakened unit passed the gate"; else ok; fi

# The mosquitto drop-in, merged into Debian's unit's [Service] section.
BASE=/lib/systemd/system/mosquitto.service
if [ -f "$BASE" ]; then
  awk -v dropin="$DROPIN" '
    /^\[Install\]/ { while ((getline line < dropin) > 0) if (line !~ /^\[Service\]/ && line !~ /^#/) print line; print ""; }
    { print }' "$BASE" >"$WORK/mosquitto.service"
  systemd-analyze security --offline=true "$BASE" 2>/dev/null | tail -1 | sed 's/^/debian mosquitto.service: /'
  if systemd-analyze security --offline=true --threshold=49 "$WORK/mosquitto.service" >"$WORK/mscore" 2>&1; then ok
  else bad "mosquitto with the drop-in above 4.9: $(tail -1 "$WORK/mscore")"; fi
  echo "mosquitto.service + drop-in: $(tail -1 "$WORK/mscore")"
  systemd-analyze verify --man=no "$WORK/mosquitto.service" >"$WORK/mverify" 2>&1
  if [ -s "$WORK/mverify" ]; then bad "verify of mosquitto + drop-in printed:"; cat "$WORK/mverify"; else ok; fi
else
  bad "Debian's mosquitto.service is not installed"
fi
echo "systemd units: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
