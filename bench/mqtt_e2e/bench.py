#!/usr/bin/python3
"""MQTT end-to-end benchmark driver (run by bench/mqtt_e2e/run.sh inside
tests/services/with-services.sh --mosquitto --fhir).

Every system under test gets the same traffic from the same publisher
(mqtt_load pub: one rpm-reading/1 body-temperature reading per QoS 1 message,
unique reading id and unique effectiveDateTime) on its own topic prefix, and
delivers to the same fast FHIR sink (fhir_sink), which time-stamps each
accepted Observation. Throughput is readings accepted by the sink divided by
the time from the first publish to the last acceptance; latency is publish to
acceptance per reading. Nothing is asserted: figures and ratios are printed.

    bench.py BUILD_DIR NODE_RED_DIR WORK_DIR
"""
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

BUILD, NODE_RED_DIR, WORK = sys.argv[1:4]
HERE = os.path.dirname(os.path.abspath(__file__))
MQTT_URI = os.environ["RPM_TEST_MQTT_URI"]
MQTT_HOST, MQTT_PORT = os.environ["RPM_TEST_MQTT_HOST"], os.environ["RPM_TEST_MQTT_PORT"]
MEDPLUM_URL = os.environ["RPM_TEST_FHIR_BASE_URL"]
MEDPLUM_CONTROL = os.environ["RPM_TEST_FHIR_CONTROL_URL"]
BROKER_N = int(os.environ.get("BROKER_READINGS", "20000"))
MAX_N = int(os.environ.get("MAX_READINGS", "10000"))
RATE_N = int(os.environ.get("RATE_READINGS", "5000"))
LAT_N = int(os.environ.get("LATENCY_READINGS", "200"))
PYTHON_N = int(os.environ.get("PYTHON_READINGS", "2000"))  # the Python script drains slowly (two fsyncs a reading)
MEDPLUM_N = int(os.environ.get("MEDPLUM_READINGS", "300"))
DEVICE = "bench-dev"
# Reading times lie in the past (a week ago), one second apart, unique per phase.
BASE_EPOCH = int(time.time()) - 7 * 86400
phase_offset = [0]
procs = []


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def http(url, data=None, timeout=10):
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode()


def spawn(args, out, **kw):
    p = subprocess.Popen(args, stdout=open(out, "w"), stderr=subprocess.STDOUT, **kw)
    procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def wait_line(path, prefix, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    if line.startswith(prefix):
                        return line.strip()
        time.sleep(0.05)
    raise SystemExit(f"bench: no '{prefix}' in {path}: {open(path).read() if os.path.exists(path) else ''}")


def epoch_of(text):
    return int(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


class Sink:
    def __init__(self):
        self.proc = spawn([f"{BUILD}/fhir_sink"], f"{WORK}/sink.out")
        self.url = wait_line(f"{WORK}/sink.out", "sink ").split()[1]

    def accepted(self):
        return json.loads(http(self.url + "/_stats"))["accepted"]

    def reset(self):
        http(self.url + "/_reset", b"")

    def times(self):
        out = {}
        for line in http(self.url + "/_times", timeout=60).splitlines():
            when, us = line.rsplit(" ", 1)
            out.setdefault(epoch_of(when), int(us))
        return out


def publish(prefix, n, rate, run):
    """Publishes n readings; returns {reading epoch: publish us}."""
    base = BASE_EPOCH + phase_offset[0]
    phase_offset[0] += n + 10
    times_file = f"{WORK}/pub-{run}.txt"
    topic = f"{prefix}/devices/{DEVICE}/readings/native"
    subprocess.run([f"{BUILD}/mqtt_load", "pub", MQTT_URI, topic, str(n), str(rate), run, str(base), times_file],
                   check=True, stdout=subprocess.DEVNULL)
    out = {}
    with open(times_file) as f:
        for line in f:
            when, us = line.split()
            out[epoch_of(when)] = int(us)
    return out


def wait_accepted(count_fn, n, stall_s=60):
    """Waits until count_fn() >= n, or no progress for stall_s. Returns the count."""
    last, last_change = -1, time.time()
    while True:
        c = count_fn()
        if c >= n:
            return c
        if c != last:
            last, last_change = c, time.time()
        elif time.time() - last_change > stall_s:
            return c
        time.sleep(0.05)


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def run_phase(sink, prefix, n, rate, run):
    sink.reset()
    pub = publish(prefix, n, rate, run)
    got = wait_accepted(sink.accepted, n)
    acc = sink.times()
    lat = [(acc[k] - v) / 1000 for k, v in pub.items() if k in acc]
    start = min(pub.values())
    end = max(acc.values()) if acc else start
    rate_out = len(lat) / ((end - start) / 1e6) if end > start else 0.0
    return {"n": n, "delivered": got, "rate": rate_out, "p50": pct(lat, 50), "p99": pct(lat, 99)}


def warm_up(sink, prefix, proc, what):
    """Readiness: publish single readings until the sink accepts one (the consumer is
    subscribed and its HTTP path works), then clear the sink."""
    sink.reset()
    deadline = time.time() + 60
    i = 0
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench: {what} exited")
        publish(prefix, 1, 0, f"warm{i}")
        i += 1
        t = time.time() + 2
        while time.time() < t:
            if sink.accepted() > 0:
                sink.reset()
                return
            time.sleep(0.05)
    raise SystemExit(f"bench: {what} never delivered a warm-up reading")


def measure_system(name, sink, prefix, proc, phases):
    warm_up(sink, prefix, proc, name)
    time.sleep(2)  # idle: nothing published, let start-up work settle
    res = {"idle_rss": rss_kib(proc.pid, "VmRSS")}
    for key, n, rate in phases:
        log(f"bench: {name}: {key} ({n} readings, offered {'max' if rate == 0 else rate}/s)")
        res[key] = run_phase(sink, prefix, n, rate, f"{prefix}-{key}-{int(time.time())}")
    res["peak_rss"] = rss_kib(proc.pid, "VmHWM")
    stop(proc)
    return res


def gateway_config(path, base_url, prefix, state, durability):
    with open(path, "w") as f:
        f.write(f"""[hub]
id = "bench-hub-{prefix}"
timezone = "UTC"
state_directory = "{state}/state"
runtime_directory = "{state}/run"

[fhir]
base_url = "{base_url}"

[buffer]
durability = "{durability}"

[mqtt]
enabled = true
uri = "{MQTT_URI}"
client_id = "rpm-gateway-bench-{prefix}"
topic_prefix = "{prefix}"

[[devices]]
key = "mqtt:{DEVICE}"
patient = "Patient/bench-patient"
""")


def start_gateway(base_url, prefix, durability="power-loss"):
    state = f"{WORK}/gw-{prefix}"
    os.makedirs(state, exist_ok=True)
    gateway_config(f"{state}/gateway.toml", base_url, prefix, state, durability)
    return spawn([f"{BUILD}/gateway/cli/rpm-gateway", "run", "--config", f"{state}/gateway.toml"], f"{state}/gateway.log")


def broker_baseline(n):
    topic = "base/devices/bench-dev/readings/native"
    out = f"{WORK}/sub.out"
    sub = spawn([f"{BUILD}/mqtt_load", "sub", MQTT_URI, topic, str(n), "120"], out)
    wait_line(out, "ready")
    pub = publish("base", n, 0, f"base-{int(time.time())}")
    sub.wait(150)
    line = wait_line(out, "received")
    got = int(line.split()[1])
    last = int(line.split("last_us=")[1])
    return {"n": n, "delivered": got, "rate": got / ((last - min(pub.values())) / 1e6)}


def wrk_rate(url, body_file, readings_per_request, seconds=5):
    script = f"{WORK}/wrk-{os.path.basename(body_file)}.lua"
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\n'
                f'wrk.body = io.open("{body_file}"):read("*a")\n'
                'wrk.headers["Content-Type"] = "application/fhir+json"\n')
    out = subprocess.run(["wrk", "-t1", "-c1", f"-d{seconds}s", "-s", script, url], capture_output=True, text=True,
                         check=True).stdout
    rps = float(next(l for l in out.splitlines() if l.startswith("Requests/sec:")).split()[1])
    return rps * readings_per_request


def gateway_delivered(prefix):
    """Readings the gateway saw accepted by the server (batch-response 201/200), from
    its control socket: polling the Medplum server's own list grows too slow."""
    out = subprocess.run([f"{BUILD}/gateway/cli/rpm-gateway", "status", "--json", "--config",
                          f"{WORK}/gw-{prefix}/gateway.toml"], capture_output=True, text=True)
    if out.returncode != 0:
        return 0
    return json.loads(out.stdout)["delivery"]["delivered"]


def main():
    sink = Sink()
    results = {}
    # Ceilings, with mosquitto, the sink and the Medplum server running.
    log("bench: broker baseline (QoS 1 to a do-nothing subscriber)")
    results["broker"] = broker_baseline(BROKER_N)
    obs = {"resourceType": "Observation", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
           "subject": {"reference": "Patient/bench-patient"}, "effectiveDateTime": "2026-01-01T00:00:00Z",
           "valueQuantity": {"value": 36.6, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"}}
    with open(f"{WORK}/observation.json", "w") as f:
        json.dump(obs, f)
    log("bench: sink baseline (wrk, one keep-alive connection, one Observation per POST)")
    results["sink_single"] = wrk_rate(sink.url + "/Observation", f"{WORK}/observation.json", 1)

    phases = [("lat10", LAT_N, 10), ("r1000", RATE_N, 1000), ("max", MAX_N, 0)]
    log("bench: rpm-gateway -> fast sink (defaults: buffer.durability = power-loss)")
    gw = start_gateway(sink.url, "gw")
    results["gateway"] = measure_system("rpm-gateway", sink, "gw", gw, phases)
    log("bench: rpm-gateway -> fast sink (buffer.durability = process-crash)")
    gwc = start_gateway(sink.url, "gwc", "process-crash")
    results["gateway_pc"] = measure_system("rpm-gateway (process-crash)", sink, "gwc", gwc, phases)

    # The sink's ceiling for the uplink's own request shape: a batch Bundle as the
    # gateway sends it (50 conditional creates), built like the uplink's.
    entries = []
    for i in range(50):
        o = dict(obs, effectiveDateTime=f"2026-01-01T00:00:{i:02d}Z",
                 identifier=[{"system": "urn:bench", "value": f"r-{i}"}])
        entries.append({"fullUrl": f"urn:uuid:00000000-0000-0000-0000-{i:012d}", "resource": o,
                        "request": {"method": "POST", "url": "Observation", "ifNoneExist": f"identifier=urn:bench|r-{i}"}})
    with open(f"{WORK}/bundle.json", "w") as f:
        json.dump({"resourceType": "Bundle", "type": "batch", "entry": entries}, f)
    log("bench: sink baseline (wrk, one keep-alive connection, 50-entry batch Bundles)")
    results["sink_batch"] = wrk_rate(sink.url + "/", f"{WORK}/bundle.json", 50)

    log("bench: rpm-gateway -> validating Medplum server")
    gwv = start_gateway(MEDPLUM_URL, "gwv")
    before = 0
    deadline = time.time() + 120
    while time.time() < deadline and gwv.poll() is None:  # readiness: a warm-up reading reaches Medplum
        publish("gwv", 1, 0, f"gwv-warm-{int(time.time() * 1000)}")
        t = time.time() + 5
        while time.time() < t and gateway_delivered("gwv") == 0:
            time.sleep(0.2)
        before = gateway_delivered("gwv")
        if before > 0:
            break
    pub = publish("gwv", MEDPLUM_N, 0, f"gwv-{int(time.time())}")
    got = wait_accepted(lambda: gateway_delivered("gwv") - before, MEDPLUM_N, stall_s=60)
    done = time.time()
    results["medplum"] = {"n": MEDPLUM_N, "delivered": got,
                          "rate": got / (done - min(pub.values()) / 1e6)}
    stop(gwv)

    log("bench: Node-RED flow -> fast sink")
    nr_user = f"{WORK}/node-red"
    os.makedirs(nr_user, exist_ok=True)
    shutil.copy(f"{HERE}/node-red/flows.json", nr_user)
    env = dict(os.environ, MQTT_HOST=MQTT_HOST, MQTT_PORT=MQTT_PORT, SINK_URL=sink.url, NODE_RED_USER_DIR=nr_user)
    nr = spawn(["node", f"{NODE_RED_DIR}/node_modules/node-red/red.js", "--settings", f"{HERE}/node-red/settings.js",
                "--userDir", nr_user, "flows.json"], f"{WORK}/node-red.log", env=env)
    results["node_red"] = measure_system("Node-RED", sink, "nr", nr, phases)

    log("bench: Python integrator script -> fast sink")
    py = spawn(["/usr/bin/python3", f"{HERE}/integrator.py", MQTT_HOST, MQTT_PORT, "py/devices/+/readings/#",
                sink.url, f"{WORK}/integrator.db"], f"{WORK}/integrator.log")
    py_phases = [("lat10", LAT_N, 10), ("r1000", PYTHON_N, 1000), ("max", PYTHON_N, 0)]
    results["python"] = measure_system("Python script", sink, "py", py, py_phases)
    stop(sink.proc)
    with open("/proc/loadavg") as f:
        results["load_end"] = " ".join(f.read().split()[:3])
    with open(f"{WORK}/results.json", "w") as f:
        json.dump(results, f, indent=1)
    report(results)


def ratio(a, b):
    return a / b if b else float("nan")


def report(r):
    gw, nr, py = r["gateway"], r["node_red"], r["python"]

    def rate(x):
        return f"{x['rate']:8.0f}" + ("" if x["delivered"] >= x["n"] else f" ({x['delivered']}/{x['n']} delivered)")

    print(f"\nload average at the end: {r['load_end']} (2 shared cores: figures vary with the other work on the machine)")
    print("ceilings (all services running), readings/s:")
    print(f"  mosquitto QoS 1, do-nothing subscriber   {rate(r['broker'])}")
    print(f"  fast sink, wrk 1 conn, 1 Observation/POST {r['sink_single']:8.0f}")
    print(f"  fast sink, wrk 1 conn, 50-entry Bundles  {r['sink_batch']:8.0f}")
    print(f"  rpm-gateway -> validating Medplum server {rate(r['medplum'])}")
    print("\nsame traffic, same fast sink:")
    print(f"  {'system':<16}{'max/s':>10}{'@1000/s':>10}{'p50@1000':>10}{'p99@1000':>10}{'p50@10':>9}{'p99@10':>9}"
          f"{'idle RSS':>10}{'peak RSS':>10}")
    for name, x in (("rpm-gateway", gw), ("  process-crash", r["gateway_pc"]), ("Node-RED", nr), ("Python", py)):
        print(f"  {name:<16}{x['max']['rate']:10.0f}{x['r1000']['rate']:10.0f}{x['r1000']['p50']:8.1f}ms"
              f"{x['r1000']['p99']:8.1f}ms{x['lat10']['p50']:7.1f}ms{x['lat10']['p99']:7.1f}ms"
              f"{x['idle_rss'] / 1024:8.1f}MB{x['peak_rss'] / 1024:8.1f}MB")
        for key in ("lat10", "r1000", "max"):
            if x[key]["delivered"] < x[key]["n"]:
                print(f"    {name} {key}: only {x[key]['delivered']} of {x[key]['n']} readings delivered")
    ceiling = min(r["broker"]["rate"], r["sink_batch"])
    print("\ntargets (reported, not asserted):")
    print(f"  gateway max / Node-RED max          {ratio(gw['max']['rate'], nr['max']['rate']):6.1f}x   (target >= 10x)")
    print(f"  gateway max / Python max            {ratio(gw['max']['rate'], py['max']['rate']):6.1f}x   (target >= 10x)")
    print(f"  gateway peak RSS / Python peak RSS  {ratio(gw['peak_rss'], py['peak_rss']):6.2f}    (target < 1)")
    print(f"  gateway peak RSS / Node-RED idle    {ratio(gw['peak_rss'], nr['idle_rss']):6.2f}    (target < 0.20)")
    print(f"  gateway p99 at 10/s                 {gw['lat10']['p99']:6.1f} ms (target < 50 ms)")
    print(f"  gateway max / min(broker, sink)     {ratio(gw['max']['rate'], ceiling):6.2f}    (stretch >= 0.80)")
    pc = r["gateway_pc"]
    print(f"  with buffer.durability = process-crash: max / Node-RED {ratio(pc['max']['rate'], nr['max']['rate']):.1f}x,"
          f" / Python {ratio(pc['max']['rate'], py['max']['rate']):.1f}x, / min(broker, sink) {ratio(pc['max']['rate'], ceiling):.2f},"
          f" p99 at 10/s {pc['lat10']['p99']:.1f} ms, peak RSS {pc['peak_rss'] / 1024:.1f} MB")


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
