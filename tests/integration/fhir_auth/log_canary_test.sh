#!/usr/bin/env bash
# Log canary over the uplink's authorization paths: runs the "[canary]" test
# case with stdout and stderr captured, then checks the capture for the
# planted markers (log-canary-check) and for every real token and client
# assertion the server saw (written by the test to secrets-seen).
#   log_canary_test.sh FHIR_AUTH_TEST LOG_CANARY_CHECK   (under with-services.sh --fhir=smart)
set -uo pipefail
test_bin=$1 checker=$2
out=$RPM_TEST_SERVICES_DIR/canary
mkdir -p "$out"
failed=0 passed=0
ok() { echo "ok   - $1"; passed=$((passed + 1)); }
fail() { echo "FAIL - $1"; failed=$((failed + 1)); }

# The checker can fail: a planted token is found.
echo "token tok-canary-Zq8v3XwL" >"$out/planted"
if "$checker" "$out/planted" 2>/dev/null; then fail "log-canary-check finds a planted token"; else ok "log-canary-check finds a planted token"; fi

"$test_bin" "[canary]" >"$out/stdout" 2>"$out/stderr"
rc=$?
if [ $rc -eq 0 ]; then ok "the canary scenarios ran"; else fail "the canary scenarios ran (exit $rc)"; cat "$out/stdout"; fi
if [ -s "$out/stderr" ]; then ok "the uplink logged something to check ($(wc -l <"$out/stderr") lines)"; else fail "the uplink logged nothing"; fi
if "$checker" "$out/stderr" "$out/stdout"; then ok "no planted marker in stderr or the reported reasons"; else fail "a planted marker leaked"; fi
if [ -s "$RPM_TEST_SERVICES_DIR/secrets-seen" ] &&
  ! grep -F -f "$RPM_TEST_SERVICES_DIR/secrets-seen" "$out/stderr" "$out/stdout" >/dev/null; then
  ok "no real access token or client assertion in stderr or the reported reasons"
else
  fail "a real access token or client assertion leaked (or none was recorded)"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
