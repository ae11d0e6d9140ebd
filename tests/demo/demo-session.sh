#!/usr/bin/env bash
# One demo session inside tests/services/with-services.sh (mosquitto + FHIR
# server running): gateway + simulator + a live view of accepted Observations.
# Usage: demo-session.sh <rpm-gateway binary> [--once] [--rounds N]
set -u
GW=$1; shift
ONCE=0
ROUNDS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --once) ONCE=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    *) echo "usage: demo-session.sh <rpm-gateway> [--once] [--rounds N]" >&2; exit 2 ;;
  esac
  shift
done
SRC=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d)
GATEWAY=""
SIM=""
cleanup() {
  [ -n "$SIM" ] && kill "$SIM" 2>/dev/null
  [ -n "$GATEWAY" ] && kill -TERM "$GATEWAY" 2>/dev/null && wait "$GATEWAY" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
trap 'echo; echo "stopping"; exit 0' INT TERM

DEVICE=demo-bridge
cat >"$W/gateway.toml" <<T
[hub]
id = "demo-hub"
timezone = "Europe/Berlin"
state_directory = "$W/state"
runtime_directory = "$W/run"

[fhir]
base_url = "$RPM_TEST_FHIR_BASE_URL"
batch_max_wait_ms = 50

[mqtt]
enabled = true
uri = "$RPM_TEST_MQTT_URI"
client_id = "rpm-gateway-demo"

[aggregation]
window_seconds = 5

[[devices]]
key = "mqtt:$DEVICE"
patient = "Patient/demo-patient-1"
T
# The example vendor templates (an ACME scale in pounds, an OmniCuff monitor).
cat "$SRC/docs/examples/mqtt-templates.toml" >>"$W/gateway.toml"

"$GW" run --config "$W/gateway.toml" 2>"$W/gateway.log" &
GATEWAY=$!
for _ in $(seq 100); do "$GW" status --config "$W/gateway.toml" >/dev/null 2>&1 && break; sleep 0.1; done
echo "gateway running (log: stderr of rpm-gateway run, no patient data); FHIR server at $RPM_TEST_FHIR_BASE_URL"

COUNT=$ROUNDS
[ "$ONCE" = 1 ] || COUNT=100000
/usr/bin/python3 "$SRC/tests/sim/rpm-sim" --uri "$RPM_TEST_MQTT_URI" --device "$DEVICE" --count "$COUNT" --rate 4 \
  --deadline 600 >"$W/sim.out" 2>"$W/sim.err" &
SIM=$!

# Show each Observation as the server accepts it.
python3 - "$RPM_TEST_FHIR_CONTROL_URL" "$ONCE" "$SIM" <<'PY'
import json, os, sys, time, urllib.request
control, once, sim = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
seen = set()
def alive(pid):
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False
quiet = 0
while True:
    with urllib.request.urlopen(control + "/resources/Observation") as r:
        obs = json.load(r)
    new = [o for o in obs if o["id"] not in seen]
    for o in new:
        seen.add(o["id"])
        name = next((c.get("display") or c["code"] for c in o["code"]["coding"]), "?")
        loinc = next((c["code"] for c in o["code"]["coding"] if c["system"] == "http://loinc.org"), "")
        if "valueQuantity" in o:
            q = o["valueQuantity"]; value = f'{q.get("value")} {q.get("code")}'
        elif "component" in o:
            value = ", ".join(f'{c["valueQuantity"]["value"]}' for c in o["component"] if "valueQuantity" in c) or "components"
        elif "valueSampledData" in o:
            value = f'{len(o["valueSampledData"]["data"].split())} samples'
        else:
            value = "coded"
        when = o.get("effectiveDateTime") or o.get("effectivePeriod", {}).get("start", "")
        print(f"accepted Observation/{o['id'][:8]}  {name:<32} {loinc:<8} {value:<24} {when}", flush=True)
    if once and not alive(sim):
        quiet = quiet + 1 if not new else 0
        if quiet >= 5:
            break
    time.sleep(1)
print(f"{len(seen)} Observations accepted by the FHIR server", flush=True)
PY
if [ "$ONCE" = 1 ]; then
  wait "$SIM"; rc=$?; SIM=""
  tail -1 "$W/sim.out"
  [ $rc -eq 0 ] || { echo "simulator failed:"; tail -5 "$W/sim.err"; tail -20 "$W/gateway.log"; }
  "$GW" status --config "$W/gateway.toml"
  "$GW" deadletter list --config "$W/gateway.toml"
  # The hub's retained health summary (no PHI) on the broker.
  mosquitto_sub -h "$RPM_TEST_MQTT_HOST" -p "$RPM_TEST_MQTT_PORT" -t "rpm/gateway/demo-hub/health" -C 1 -W 30 \
    >"$W/health.json" 2>/dev/null || rc=1
  echo "health topic: $(cat "$W/health.json")"
  grep -q '"backlog"' "$W/health.json" || { echo "demo: no health summary on the broker"; rc=1; }
  # --once is also the demo's test: every reading acknowledged and delivered, nothing dead-lettered.
  "$GW" status --config "$W/gateway.toml" --json | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
ok = s["buffer"]["backlog"] == 0 and s["buffer"]["dead_letters"] == 0 and s["delivery"]["delivered"] > 0
print("demo: every simulated reading delivered" if ok else "demo: readings left undelivered or dead-lettered")
sys.exit(0 if ok else 1)' || rc=1
  exit $rc
fi
