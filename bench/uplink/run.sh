#!/usr/bin/env bash
# Uplink benchmark, one command: bash bench/uplink/run.sh [readings] [batch] [rounds]
# Builds the uplink (Release) and the bench, then in one run measures
#  1. FhirUplink + CurlHttpTransport delivering to a fast sink (bench/uplink/sink.js:
#     well-formed batch-responses, no validation), against a plain libcurl client
#     posting the same Bundle bytes over one keep-alive connection (ratio printed);
#  2. the same uplink against the validating FHIR test server (tests/fhir-server,
#     under tests/services/with-services.sh), for comparison.
# Figures and ratios are printed; nothing is asserted.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build/bench}
READINGS=${1:-5000} BATCH=${2:-50} ROUNDS=${3:-3}
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$BUILD" -j "${JOBS:-2}" rpm_fhir_uplink rpm_fhir rpm_driver_thermometer rpm_drivers_common rpm_identity \
  rpm_log rpm_model >/dev/null
libs=(fhir/uplink/librpm_fhir_uplink.a fhir/librpm_fhir.a drivers/thermometer/librpm_driver_thermometer.a
  drivers/common/librpm_drivers_common.a gateway/identity/librpm_identity.a gateway/log/librpm_log.a
  gateway/model/librpm_model.a)
g++ -std=c++17 -O2 -I"$ROOT" "$ROOT/bench/uplink/uplink_bench.cpp" "${libs[@]/#/$BUILD/}" \
  $(pkg-config --libs libcurl zlib libjwt libcrypto) -pthread -o "$BUILD/uplink_bench"

echo "=== $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, $(curl --version | head -1 | cut -d' ' -f1-2), node $(node --version)"
SINK_DIR=$(mktemp -d)
trap 'kill "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null; rm -rf "$SINK_DIR"' EXIT
node "$ROOT/bench/uplink/sink.js" >"$SINK_DIR/out" 2>&1 &
SINK_PID=$!
for _ in $(seq 1 200); do grep -q '^sink ' "$SINK_DIR/out" && break; sleep 0.05; done
SINK_URL=$(sed -n 's/^sink //p' "$SINK_DIR/out")
[ -n "$SINK_URL" ] || { echo "the sink did not start:"; cat "$SINK_DIR/out"; exit 1; }

echo "--- fast sink ($SINK_URL): uplink vs plain client, same run"
"$BUILD/uplink_bench" "$SINK_URL" "$READINGS" "$BATCH" "$ROUNDS"
VALIDATING_READINGS=${VALIDATING_READINGS:-200}
echo "--- validating FHIR test server (Medplum, tests/fhir-server), $VALIDATING_READINGS readings"
bash "$ROOT/tests/services/with-services.sh" --fhir -- \
  bash -c '"$0" "$RPM_TEST_FHIR_BASE_URL" "$1" "$2" 1 --no-plain' "$BUILD/uplink_bench" "$VALIDATING_READINGS" "$BATCH"
