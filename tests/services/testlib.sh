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
