#!/usr/bin/env bash
# The include checker passes on the tree and fails on planted violations.
set -u
SRC=$1
CHECK="$SRC/.ci/check-includes"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passed=0; failed=0
expect() {  # expect description expected_exit tree
  python3 "$CHECK" "$3" >"$WORK/out" 2>&1
  local rc=$?
  if [ "$rc" = "$2" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1 (exit $rc)"; cat "$WORK/out"; fi
}
expect "the project tree follows the rules" 0 "$SRC"

plant() {  # plant relative-path include-line
  rm -rf "$WORK/tree"; mkdir -p "$WORK/tree/$(dirname "$1")"
  printf '%s\n' "$2" >"$WORK/tree/$1"
}
plant drivers/glucose/GlucoseParser.cpp '#include "buffer/SqliteReadingStore.h"'
expect "a driver including the buffer is refused" 1 "$WORK/tree"
plant drivers/glucose/GlucoseParser.cpp '#include "drivers/blood_pressure/BpParser.h"'
expect "a driver including another driver is refused" 1 "$WORK/tree"
plant drivers/glucose/GlucoseParser.cpp '#include "drivers/glucose/GlucoseParser.h"'
expect "a driver including its own folder is fine" 0 "$WORK/tree"
plant gateway/model/Reading.h '#include <nlohmann/json.hpp>'
expect "the model including a third-party header is refused" 1 "$WORK/tree"
plant fhir/Mapper.cpp '#include <sqlite3.h>'
expect "sqlite outside buffer/ is refused" 1 "$WORK/tree"
plant gateway/engine/Engine.cpp '#include "fhir/CurlUplink.h"'
expect "the engine naming a concrete adapter is refused" 1 "$WORK/tree"
plant buffer/Store.cpp '#include <mystery/lib.h>'
expect "an unknown library is refused" 1 "$WORK/tree"
echo "dependency rules: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
