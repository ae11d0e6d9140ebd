#!/usr/bin/python3
"""The Python baseline for bench/mqtt_e2e: the script an integrator might
write with Debian's python3-paho-mqtt, sqlite3 and python3-requests. It
subscribes at QoS 1, stores each reading in SQLite (committed before upload,
so a crash does not lose it), POSTs one FHIR Observation per reading over a
keep-alive requests.Session, and marks it delivered.

    integrator.py MQTT_HOST MQTT_PORT TOPIC_FILTER FHIR_BASE_URL DB_FILE
"""
import json
import sqlite3
import sys

import paho.mqtt.client as mqtt
import requests

host, port, topic, base_url, db_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
db = sqlite3.connect(db_file)
db.execute("CREATE TABLE IF NOT EXISTS readings (id TEXT PRIMARY KEY, device TEXT, body TEXT, delivered INTEGER)")
db.commit()
http = requests.Session()


def observation(device, r):
    c = r["components"][0]
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5", "display": "Body temperature"}]},
            "subject": {"reference": "Patient/bench-patient"},
            "identifier": [{"system": "urn:bench:reading", "value": f"{device}/{r['id']}"}],
            "effectiveDateTime": r["time"],
            "valueQuantity": {"value": c["value"], "unit": c["unit"], "system": "http://unitsofmeasure.org",
                              "code": c["unit"]}}


def on_message(client, userdata, msg):
    try:
        device = msg.topic.split("/")[2]
        data = json.loads(msg.payload)
        for r in data["readings"]:
            key = f"{device}/{r['id']}"
            db.execute("INSERT OR IGNORE INTO readings VALUES (?, ?, ?, 0)", (key, device, json.dumps(r)))
            db.commit()
            resp = http.post(base_url + "/Observation", json=observation(device, r),
                             headers={"Content-Type": "application/fhir+json"}, timeout=30)
            if resp.status_code in (200, 201):
                db.execute("UPDATE readings SET delivered = 1 WHERE id = ?", (key,))
                db.commit()
    except (ValueError, KeyError, IndexError, requests.RequestException) as e:
        print(f"integrator: {type(e).__name__}", file=sys.stderr, flush=True)


def on_connect(client, userdata, flags, rc):
    client.subscribe(topic, qos=1)


client = mqtt.Client(client_id="bench-python-integrator", clean_session=True)
client.on_connect = on_connect
client.on_message = on_message
client.connect(host, port, keepalive=60)
client.loop_forever()
