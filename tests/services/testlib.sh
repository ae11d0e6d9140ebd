# shellcheck shell=bash
# Tiny assertion helpers for bash service tests: each check prints "ok"/"FAIL"
# with a sentence, and finish prints "N passed, N failed" and sets the exit code.
TEST_PASSED=0
TEST_FAILED=0

pass() { TEST_PASSED=$((TEST_PASSED + 1)); echo "ok   - $*"; }
fail() { TEST_FAILED=$((TEST_FAILED + 1)); echo "FAIL - $*"; }

# expect_success "sentence" command...: passes when the command exits 0.
expect_success() {
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what (command failed: $*)"; fi
}

# expect_failure "sentence" command...: passes when the command exits non-zero.
expect_failure() {
  local what=$1; shift
  if "$@"; then fail "$what (command unexpectedly succeeded: $*)"; else pass "$what"; fi
}

# expect_equal "sentence" expected actual
expect_equal() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (expected '$2', got '$3')"; fi
}

finish() {
  echo "$TEST_PASSED passed, $TEST_FAILED failed"
  [ "$TEST_FAILED" -eq 0 ] && [ "$TEST_PASSED" -gt 0 ]
}

# wait_for "what" seconds command...: polls the command until it succeeds,
# for at most that many seconds (a readiness wait, never a fixed sleep).
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$(( $(date +%s) + seconds ))
  while [ "$(date +%s)" -le "$deadline" ]; do "$@" && return 0; sleep 0.1; done
  echo "timed out waiting for: $what"; return 1
}
