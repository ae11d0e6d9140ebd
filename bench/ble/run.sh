#!/usr/bin/env bash
# Bluetooth LE benchmark, one command: bash bench/ble/run.sh [records]
# Builds the gateway libraries and the BlueZ emulator in the regular build
# directory (RelWithDebInfo, -O2), links the bench against them, and runs it
# on a private dbus-daemon with the emulator. Figures and ratios are printed;
# nothing is asserted. Method: docs/performance.md "Bluetooth LE".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
cmake -S "$ROOT" -B "$BUILD" -G Ninja >/dev/null
ninja -C "$BUILD" -j "${JOBS:-2}" bluez-emulator rpm_ble_intake rpm_bluez rpm_buffer rpm_engine rpm_time >/dev/null
libs=$(find "$BUILD" -name 'librpm_*.a' -not -path '*/bench/*' | sort)
g++ -std=c++17 -O2 -I"$ROOT" -DRPM_BLUEZ_EMULATOR="\"$BUILD/tests/bluez-emulator/bluez-emulator\"" \
  "$ROOT/bench/ble/ble_bench.cpp" "$ROOT/tests/integration/bluez/BusFixture.cpp" \
  -Wl,--start-group $libs -Wl,--end-group \
  $(pkg-config --libs sdbus-c++ sqlite3 libsystemd) -lssl -lcrypto -pthread -o "$BUILD/ble_bench"
echo "=== $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, sdbus-c++ $(pkg-config --modversion sdbus-c++)"
"$BUILD/ble_bench" "${1:-1000}"
