#!/usr/bin/env bash
# Buffer benchmark, one command: bash bench/buffer/run.sh [backlog readings]
# Builds the bench against the buffer library (Release) and runs it on a
# scratch directory on the same disk as the build (never a tmpfs: fsync must
# be real). Figures and ratios are printed; nothing is asserted.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build/bench}
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$BUILD" -j "${JOBS:-2}" rpm_buffer rpm_time rpm_log rpm_model >/dev/null
libs=(buffer/librpm_buffer.a gateway/time/librpm_time.a gateway/log/librpm_log.a gateway/model/librpm_model.a)
g++ -std=c++17 -O2 -I"$ROOT" "$ROOT/bench/buffer/buffer_bench.cpp" "${libs[@]/#/$BUILD/}" \
  $(pkg-config --libs sqlite3) -pthread -o "$BUILD/buffer_bench"
SCRATCH=${SCRATCH:-$BUILD/bench-scratch}
echo "=== $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, SQLite $(pkg-config --modversion sqlite3)"
"$BUILD/buffer_bench" "$SCRATCH" "${1:-1000000}" 2> >(grep -v 'schema migrated' >&2)
