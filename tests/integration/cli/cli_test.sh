#!/usr/bin/env bash
# Runs the real rpm-gateway binary: help, version, check-config on good and
# bad files, usage errors, and the log canary over everything it printed.
set -u
GW=$1
CANARY=$2
SRC=$3
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

check() {  # check "description" expected_exit actual_exit
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: $1 (exit $3, expected $2)"; fi
}
contains() {  # contains "description" file "text"
  if grep -qF -- "$3" "$2"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: $1: '$3' not in output:"; cat "$2"; fi
}
run() {  # run name args...: stdout -> $WORK/name.out, stderr -> $WORK/name.err, exit -> $rc
  local name=$1; shift
  "$GW" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
  rc=$?
  cat "$WORK/$name.out" "$WORK/$name.err" >>"$WORK/all-output"
}

run help --help
check "--help exits 0" 0 $rc
contains "--help lists subcommands" "$WORK/help.out" "check-config"

run version version
check "version exits 0" 0 $rc
contains "version prints the version" "$WORK/version.out" "rpm-gateway 0.1.0"

run drivers drivers
check "drivers exits 0" 0 $rc
contains "drivers lists the thermometer" "$WORK/drivers.out" "thermometer"

run nosub
check "no subcommand is a usage error" 2 $rc

run unknown frobnicate
check "unknown subcommand is a usage error" 2 $rc

run badflag check-config --no-such-flag
check "unknown flag is a usage error" 2 $rc

run checkhelp check-config --help
check "check-config --help exits 0" 0 $rc
contains "check-config --help lists config keys" "$WORK/checkhelp.out" "fhir.batch_size (integer, default 50, 1..500)"

run good check-config --config "$SRC/docs/examples/gateway.toml"
check "the example config is valid" 0 $rc
contains "check-config says valid" "$WORK/good.out" "configuration is valid"

# A broken file with canary values in it: every problem on its own line,
# naming the line and key, and no value echoed.
cat >"$WORK/bad.toml" <<TOML
[hub]
id = "hub-1"
timezone = "Nowhere/Atlantis"

[fhir]
base_url = "http://127.0.0.1:1/fhir"
batch_size = 0
client_id = "tok-canary-Zq8v3XwL"
token = "eyJhbGciOiJSUzM4NCJ9.eyJjYW5hcnkiOiJ5ZXMifQ.c2lnLWNhbmFyeS1zaWduYXR1cmU"

[[devices]]
key = "bt:CA:FE:5D:1F:00:42:99"
patient = "Patient/canary-pt-5d1f x"

[[devices]]
key = "bt:CA:FE:5D:1F:00:42"
patient = "Patient/canary-pt-5d1f"
serial = "SN-CANARY-88421"
TOML
run bad check-config --config "$WORK/bad.toml"
check "a bad config exits 2" 2 $rc
contains "unknown zone" "$WORK/bad.err" "bad.toml:3: hub.timezone: not a time zone known to the system tz database"
contains "out of range" "$WORK/bad.err" "bad.toml:7: fhir.batch_size: out of range: must be between 1 and 500"
contains "unknown key" "$WORK/bad.err" "bad.toml:9: fhir.token: unknown key"
contains "bad device key" "$WORK/bad.err" "bad.toml:12: devices[0].key: must be bt:<address>"
contains "bad patient" "$WORK/bad.err" "bad.toml:13: devices[0].patient: must be Patient/<id>"
contains "unknown key in an array entry" "$WORK/bad.err" "bad.toml:18: devices[1].serial: unknown key"
lines=$(wc -l <"$WORK/bad.err")
check "one line per problem (6)" 6 "$lines"

run runbad run --config "$WORK/bad.toml"
check "run refuses an invalid file with exit 2" 2 $rc
if cmp -s "$WORK/bad.err" "$WORK/runbad.err"; then passed=$((passed + 1)); else
  failed=$((failed + 1)); echo "FAIL: run and check-config print different problems"; fi

run missing check-config --config "$WORK/does-not-exist.toml"
check "a missing file exits 2" 2 $rc
contains "missing file named" "$WORK/missing.err" "does-not-exist.toml: cannot read the file"

printf '[hub\nid = 1\n' >"$WORK/syntax.toml"
run syntax check-config --config "$WORK/syntax.toml"
check "a TOML syntax error exits 2" 2 $rc
contains "syntax error named" "$WORK/syntax.err" "syntax.toml:1: TOML syntax error"

# A valid file full of canaries, run for real with a state directory that cannot be created: the daemon
# must say so and stop (exit 1), naming the problem, not the data.
cat >"$WORK/canary.toml" <<TOML
[hub]
id = "hub-1"
timezone = "UTC"
state_directory = "/proc/rpm-gateway-cannot-exist"
[fhir]
base_url = "http://127.0.0.1:1/fhir"
client_id = "tok-canary-Zq8v3XwL"
[[devices]]
key = "bt:CA:FE:5D:1F:00:42"
patient = "Patient/canary-pt-5d1f"
TOML
run canaryrun run --config "$WORK/canary.toml"
check "run stops with exit 1 when its state directory cannot be created" 1 $rc
contains "run logs the start-up failure with a priority prefix" "$WORK/canaryrun.err" "<3>daemon: start-up failed"

"$CANARY" "$WORK/all-output"
check "no planted marker in anything the gateway printed" 0 $?
# The harness can fail: a file with a planted marker is caught.
echo "leak: CAFE5D1F0042" >"$WORK/planted"
"$CANARY" "$WORK/planted" 2>/dev/null
check "the canary check catches a planted leak" 1 $?

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
