#!/usr/bin/env bash
# The README's first command: the gateway end to end on this machine.
#
# Starts a local mosquitto broker and the validating FHIR R4 test server on
# free loopback ports, the gateway (`rpm-gateway run`), and the device
# simulator publishing every reading kind in all three MQTT payload forms; then
# shows each Observation as the FHIR server accepts it. Ctrl-C stops
# everything it started. `--once` sends one round and exits when every reading
# is delivered (CI runs it that way).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash .ci/install-deps >/dev/null
if [ ! -d tests/fhir-server/node_modules ]; then
  (cd tests/fhir-server && npm ci --no-audit --no-fund --loglevel=error)
fi
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRPM_BUILD_TESTS=OFF >/dev/null
cmake --build build/demo -j "${JOBS:-2}" --target rpm-gateway
exec bash tests/services/with-services.sh --mosquitto --fhir -- \
  bash tests/demo/demo-session.sh "$(pwd)/build/demo/gateway/cli/rpm-gateway" "$@"
