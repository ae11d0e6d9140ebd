#!/usr/bin/python3
"""Exactly-once oracle for the end-to-end daemon tests (tests/integration/daemon_e2e).

Reads what the device simulator produced (rpm-sim --record files, one per device) and what the FHIR test
server accepted (GET <control>/resources/Observation), and checks that every produced reading is at the
server exactly once:

- each non-stream reading becomes a known set of Observations (by MDC code: a blood pressure is the panel
  150020 plus the cuff pulse 149546, ...), keyed (device, MDC code, effective start). The device is read from
  the conditional-create identifier (decision 0005: 32 hex digits of UUIDv5(URL, urn:rpm-gateway:device:mqtt:<id>)),
  so the key names the simulator's device and time, never a value the gateway computed by itself;
- stream samples (heart rate without endTime, and GATT heart rate with RR intervals) are aggregated into
  windows (decision 0023): each window that got samples must be one heart-rate Observation whose mean, min and
  max are those of exactly the produced samples, and one RR Observation with exactly that many intervals;
- no key may have zero Observations (lost) or more than one (duplicate), and the server may hold no
  Observation of these devices that no produced reading explains (unexpected);
- simple values are compared with what the device sent (a reading landing under the wrong key).

--plant drop|duplicate doctors the server list first (removes one Observation, or adds a copy under a new
logical id): the tests run it to show this oracle fails when a reading is lost or duplicated.

Usage: oracle.py --observations FILE --patient ID --window S --record DEVICE=FILE... [--plant drop|duplicate]
Prints one line per problem (reading ids, never values) and a JSON summary; exit 0 when exactly once, 1 otherwise.
"""
import argparse
import base64
import copy
import json
import struct
import sys
import uuid
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

# MDC codes of the Observations each non-stream reading becomes (docs/fhir-mapping.md).
NATIVE_CODES = {
    "blood-pressure": [150020, 149546], "rr-intervals": [147240], "pulse-oximetry": [150456, 149530],
    "glucose": [160364], "glucose-context": [8417764], "body-temperature": [150364], "body-weight": [188736],
    "body-height": [188740], "cgm-glucose": [160212], "ecg": [131329],
}
GATT_CODES = {"2A1C": [150364], "2A35": [150020, 149546], "2A9D": [188736]}
VENDOR_CODES = {"acme/scale": [188736], "omnicuff/v2": [150020, 149546]}
# A native single-value kind: (MDC code, measure) whose Observation value must equal the device's value.
NATIVE_VALUES = {"body-temperature": (150364, "body-temperature"), "body-weight": (188736, "body-weight"),
                 "body-height": (188740, "body-height"), "glucose": (160364, "glucose-concentration"),
                 "cgm-glucose": (160212, "glucose-concentration"), "glucose-context": (8417764, "carbohydrate")}
HEART_RATE, RR = 147842, 147240


def epoch(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def device_hex(device):
    return uuid.uuid5(uuid.NAMESPACE_URL, f"urn:rpm-gateway:device:mqtt:{device}").hex.upper()


class Expectation:
    def __init__(self, window):
        self.window = window
        self.keys = {}      # (device hex, mdc, epoch) -> (reading id, expected value or None)
        self.hr = {}        # (device hex, window start) -> [heart rates as Decimal]
        self.rr = {}        # (device hex, window start) -> number of RR intervals
        self.readings = 0
        self.stream_samples = 0

    def expect(self, dev, mdc, t, rid, value=None):
        self.keys[(dev, mdc, t)] = (rid, value)

    def sample(self, dev, t, rate, rr_count):
        start = t - t % self.window
        self.hr.setdefault((dev, start), []).append(Decimal(rate))
        if rr_count:
            self.rr[(dev, start)] = self.rr.get((dev, start), 0) + rr_count
        self.stream_samples += 1

    def add_message(self, device, topic, payload):
        dev = device_hex(device)
        body = json.loads(payload, parse_float=Decimal, parse_int=Decimal)
        if topic == "native":
            for r in body["readings"]:
                self.readings += 1
                rid = r.get("id") or f"{body['messageId']}/sequence {r.get('sequence')}"
                t = epoch(r["time"])
                if r["kind"] == "heart-rate" and "endTime" not in r:
                    self.sample(dev, t, r["components"][0]["value"], 0)
                    continue
                for mdc in NATIVE_CODES[r["kind"]]:
                    self.expect(dev, mdc, t, rid)
                if r["kind"] in NATIVE_VALUES:
                    mdc, measure = NATIVE_VALUES[r["kind"]]
                    value = next(c["value"] for c in r["components"] if c["measure"] == measure)
                    self.expect(dev, mdc, t, rid, value)
                if r["kind"] == "blood-pressure":
                    pulse = next(c["value"] for c in r["components"] if c["measure"] == "pulse-rate")
                    self.expect(dev, 149546, t, rid, pulse)
        elif topic == "gatt":
            self.readings += 1
            t = epoch(body["receivedAt"])
            data = bytes.fromhex(body["hex"]) if "hex" in body else base64.b64decode(body["base64"])
            if body["characteristic"] == "2A37":  # flags 0x10: uint8 heart rate, then RR intervals
                self.sample(dev, t, data[1], (len(data) - 2) // 2)
                return
            for mdc in GATT_CODES[body["characteristic"]]:
                self.expect(dev, mdc, t, body["id"])
        else:
            self.readings += 1
            if topic == "acme/scale":
                self.expect(dev, 188736, int(body["ts"]), body["uid"])
            else:
                self.expect(dev, 150020, epoch(body["data"]["measuredAt"]), body["data"]["id"])
                self.expect(dev, 149546, epoch(body["data"]["measuredAt"]), body["data"]["id"], body["data"]["pul"])


def observation_key(o, patient, devices):
    ident = o["identifier"][0]["value"]
    dev = ident.split("-", 1)[0]
    if dev not in devices:
        return None
    rest = ident[len(dev) + 1:]
    if not rest.startswith(patient + "-"):
        return ("foreign-patient", ident)
    mdc = int(rest[len(patient) + 1:].split("-", 1)[0])
    start = o.get("effectiveDateTime") or o["effectivePeriod"]["start"]
    return (dev, mdc, epoch(start))


def mean_rule(samples):
    """Decision 0023: the exact mean rounded to one decimal more than the samples (integers), half away from zero."""
    return (sum(samples) / len(samples)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--observations", required=True)
    p.add_argument("--patient", required=True)
    p.add_argument("--window", type=int, required=True)
    p.add_argument("--record", action="append", required=True, help="DEVICE=FILE (an rpm-sim --record file)")
    p.add_argument("--plant", choices=["drop", "duplicate"])
    args = p.parse_args()

    exp = Expectation(args.window)
    devices = set()
    for item in args.record:
        device, path = item.split("=", 1)
        devices.add(device_hex(device))
        with open(path) as f:
            for line in f:
                if line.strip():
                    m = json.loads(line)
                    exp.add_message(device, m["topic"], m["payload"])

    with open(args.observations) as f:
        observations = json.load(f, parse_float=Decimal, parse_int=Decimal)
    if args.plant == "drop":
        observations = observations[1:]
    elif args.plant == "duplicate":
        twin = copy.deepcopy(observations[0])
        twin["id"] = "planted-duplicate"
        observations.append(twin)

    problems = []
    found = {}
    for o in observations:
        key = observation_key(o, args.patient, devices)
        if key is None:
            continue
        found.setdefault(key, []).append(o)

    def expected_window(key):
        dev, mdc, start = key
        return mdc in (HEART_RATE, RR) and (dev, start) in (exp.hr if mdc == HEART_RATE else exp.rr)

    lost = duplicates = wrong = unexpected = 0
    for key, (rid, value) in sorted(exp.keys.items()):
        obs = found.get(key, [])
        if not obs:
            lost += 1
            problems.append(f"lost: reading {rid} has no Observation with MDC code {key[1]}")
        elif len(obs) > 1:
            duplicates += 1
            problems.append(f"duplicate: reading {rid} is {len(obs)} Observations with MDC code {key[1]}")
        elif value is not None and Decimal(obs[0]["valueQuantity"]["value"]) != value:
            wrong += 1
            problems.append(f"wrong value: the Observation of reading {rid} with MDC code {key[1]} differs from the device's")
    for (dev, start), samples in sorted(exp.hr.items()):
        obs = found.get((dev, HEART_RATE, start), [])
        if len(obs) != 1:
            (problems.append(f"{'lost' if not obs else 'duplicate'}: heart-rate window {start} of device {dev[:8]} "
                             f"is {len(obs)} Observations"))
            lost, duplicates = lost + (not obs), duplicates + (len(obs) > 1)
            continue
        o = obs[0]
        stats = {c["code"]["coding"][0]["code"]: Decimal(c["valueQuantity"]["value"]) for c in o.get("component", [])
                 if "valueQuantity" in c}
        got = (Decimal(o["valueQuantity"]["value"]), sorted(stats.values()))
        want = (mean_rule(samples), sorted([min(samples), max(samples)]))
        if got != want:
            wrong += 1
            problems.append(f"wrong window: heart-rate window {start} of device {dev[:8]} does not summarize exactly "
                            f"the {len(samples)} produced samples (a sample lost or counted twice)")
    for (dev, start), count in sorted(exp.rr.items()):
        obs = found.get((dev, RR, start), [])
        if len(obs) != 1:
            problems.append(f"{'lost' if not obs else 'duplicate'}: RR window {start} of device {dev[:8]} "
                            f"is {len(obs)} Observations")
            lost, duplicates = lost + (not obs), duplicates + (len(obs) > 1)
            continue
        got = sum(1 for c in obs[0].get("component", []) if "valueQuantity" in c)
        if got != count:
            wrong += 1
            problems.append(f"wrong window: RR window {start} of device {dev[:8]} has {got} intervals, {count} produced")
    for key, obs in sorted(found.items(), key=lambda kv: str(kv[0])):
        if key not in exp.keys and not expected_window(key):
            unexpected += len(obs)
            problems.append(f"unexpected: {len(obs)} Observation(s) {key} explained by no produced reading")

    for line in problems[:40]:
        print("oracle: " + line)
    if len(problems) > 40:
        print(f"oracle: ... and {len(problems) - 40} more problems")
    summary = {"readings": exp.readings, "stream_samples": exp.stream_samples, "expected_observations": len(exp.keys),
               "heart_rate_windows": len(exp.hr), "rr_windows": len(exp.rr),
               "server_observations": sum(len(v) for v in found.values()),
               "lost": lost, "duplicates": duplicates, "wrong": wrong, "unexpected": unexpected,
               "planted": args.plant}
    print("oracle: " + json.dumps(summary))
    return 0 if not problems and exp.readings > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
