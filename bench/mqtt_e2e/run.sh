#!/usr/bin/env bash
# MQTT end-to-end benchmark, one command: bash bench/mqtt_e2e/run.sh
# Builds rpm-gateway (Release), the fast FHIR sink (fhir_sink.cpp, libmicrohttpd)
# and the MQTT load tool (mqtt_load.cpp, Paho), installs Node-RED 4.1.15 with
# `npm ci` (bench/mqtt_e2e/node-red), then starts mosquitto and the validating
# FHIR test server on free ports (tests/services/with-services.sh) and measures,
# in this one run:
#   ceilings: mosquitto QoS 1 to a do-nothing subscriber; the sink with wrk over
#             one keep-alive connection; the gateway against the Medplum server;
#   rpm-gateway, a Node-RED flow and a Python integrator script, each fed the
#   same readings and delivering to the same sink: readings/s at max and offered
#   at 1,000/s, publish-to-accept latency p50/p99 at 10/s and 1,000/s, idle and
#   peak RSS. Figures and ratios are printed; nothing is asserted.
# Environment (readings per phase): BROKER_READINGS (20000), MAX_READINGS (10000),
# RATE_READINGS (5000, offered at 1,000/s), LATENCY_READINGS (200, at 10/s),
# PYTHON_READINGS (2000, the Python script's 1,000/s and max phases),
# MEDPLUM_READINGS (300); JOBS (2, build parallelism).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/bench/mqtt_e2e
BUILD=${BUILD:-$ROOT/build/bench}
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$BUILD" -j "${JOBS:-2}" rpm-gateway >/dev/null
# shellcheck disable=SC2046  # pkg-config prints several words on purpose
g++ -std=c++17 -O2 "$HERE/fhir_sink.cpp" $(pkg-config --cflags --libs libmicrohttpd) -pthread -o "$BUILD/fhir_sink"
g++ -std=c++17 -O2 "$HERE/mqtt_load.cpp" -lpaho-mqttpp3 -lpaho-mqtt3as -pthread -o "$BUILD/mqtt_load"
(cd "$HERE/node-red" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
[ -d "$ROOT/tests/fhir-server/node_modules" ] ||
  (cd "$ROOT/tests/fhir-server" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

echo "=== $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, mosquitto $(dpkg-query -W -f='${Version}' mosquitto)," \
  "node $(node --version), Node-RED $(node -p "require('$HERE/node-red/node_modules/node-red/package.json').version")," \
  "python $(/usr/bin/python3 -c 'import platform; print(platform.python_version())'), load $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$BUILD"/mqtt-e2e.*  # the previous run's logs
WORK=$(mktemp -d "$BUILD/mqtt-e2e.XXXXXX")  # on the build's disk, never a tmpfs: fsync must be real
echo "logs and databases of this run: $WORK"
# mosquitto drops QoS 1 messages beyond 1,000 queued for a slow subscriber; a
# max-rate run must measure the consumer, not that limit.
echo "max_queued_messages 0" >"$WORK/mosquitto-extra.conf"
export RPM_TEST_MQTT_EXTRA_CONFIG=$WORK/mosquitto-extra.conf
bash "$ROOT/tests/services/with-services.sh" --mosquitto --fhir -- \
  /usr/bin/python3 "$HERE/bench.py" "$BUILD" "$HERE/node-red" "$WORK"
