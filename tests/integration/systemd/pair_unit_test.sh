#!/usr/bin/env bash
# The pairing-button unit: a oneshot that verifies cleanly and is as sandboxed
# as the service (exposure 1.3 or better); the gate fails on a planted weakening.
set -u
UNIT=$1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passed=0; failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

cp "$UNIT" "$WORK/rpm-gateway-pair.service"
if grep -q '^Type=oneshot' "$WORK/rpm-gateway-pair.service"; then ok; else bad "not a oneshot unit"; fi
if grep -q '^ExecStart=.* pair .*--no-prompt' "$WORK/rpm-gateway-pair.service"; then ok; else bad "does not run pair --no-prompt"; fi
if systemd-analyze security --offline=true --threshold=13 "$WORK/rpm-gateway-pair.service" >"$WORK/score" 2>&1; then ok
else bad "rpm-gateway-pair.service exposure above 1.3: $(tail -1 "$WORK/score")"; fi
echo "rpm-gateway-pair.service: $(tail -1 "$WORK/score")"
mkdir -p "$WORK/weak"
grep -vE '^(Protect|Private|Restrict|SystemCall|CapabilityBoundingSet|NoNewPrivileges|MemoryDeny|IPAddress)' \
  "$WORK/rpm-gateway-pair.service" >"$WORK/weak/rpm-gateway-pair.service"
if systemd-analyze security --offline=true --threshold=13 "$WORK/weak/rpm-gateway-pair.service" >/dev/null 2>&1; then
  bad "a weakened unit passed the gate"; else ok; fi
# verify complains about the missing rpm-gateway.service/binary on a build machine only through those names.
systemd-analyze verify --man=no "$WORK/rpm-gateway-pair.service" 2>&1 |
  grep -vE 'rpm-gateway\.service|rpm-gateway: No such file|is not executable|Command .* is not executable' >"$WORK/verify"
if [ -s "$WORK/verify" ]; then bad "verify printed:"; cat "$WORK/verify"; else ok; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
