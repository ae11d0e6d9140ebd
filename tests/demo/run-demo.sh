#!/usr/bin/env bash
# The README's first command: run the gateway end to end on this machine.
#
# What exists today (grown by each issue): build rpm-gateway, validate the
# example configuration, list the built-in drivers. The full pipeline demo
# (simulated devices -> MQTT/BLE -> buffer -> local FHIR server) is added by
# the MQTT/daemon issue; until then this script says so.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash .ci/install-deps
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRPM_BUILD_TESTS=OFF >/dev/null
cmake --build build/demo -j "${JOBS:-2}"
GW=build/demo/gateway/cli/rpm-gateway
echo
echo "== rpm-gateway version"
"$GW" version
echo
echo "== rpm-gateway check-config (the example configuration)"
"$GW" check-config --config docs/examples/gateway.toml
echo
echo "== rpm-gateway drivers"
"$GW" drivers
echo
echo "Not yet built: the delivery pipeline (buffer, FHIR uplink, MQTT and BLE intake)."
echo "See README.md, 'Status', for what each open issue adds to this demo."
