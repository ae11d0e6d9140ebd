#!/usr/bin/env bash
# `rpm-gateway decommission` for real: the daemon with a real mosquitto and the
# FHIR test server. One patient's readings are delivered, some are stuck (the
# server answers 503) or held (unenrolled device); decommission refuses without
# --yes, refuses to erase what is undelivered without --export or
# --discard-undelivered, refuses while [[devices]] seeds are configured,
# exports to a 0600 file, erases, and leaves no byte of the patient id or a
# planted value in the database files; the daemon keeps running and the next
# patient's readings flow, while the previous patient's re-sent reading is
# recognised and never bound to the next patient.
set -u
GW=$1
SRC=$2
. "$SRC/tests/services/testlib.sh"
W=$(mktemp -d)
DAEMON=""
cleanup() {
  [ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  curl -s -X DELETE "$RPM_TEST_FHIR_CONTROL_URL/faults" >/dev/null
  rm -rf "$W"
}
trap cleanup EXIT

PATIENT=Patient/decom-pt-7c3e91
NEXT=Patient/next-pt-2b04
DEVICE=decom-cuff-1
PLANTED=187.375   # a systolic value nobody else sends: its text is in the stored raw payload

cat >"$W/gw.toml" <<T
[hub]
id = "hub-decom"
timezone = "Europe/Berlin"
state_directory = "$W/state"
runtime_directory = "$W/run"
[fhir]
base_url = "$RPM_TEST_FHIR_BASE_URL"
backoff_base_ms = 100
backoff_cap_ms = 500
[mqtt]
enabled = true
uri = "$RPM_TEST_MQTT_URI"
client_id = "rpm-gateway-decom-test"
T

reading() {  # id systolic user-slot second -> one rpm-reading/1 reading
  echo "{\"id\":\"$1\",\"userSlot\":$3,\"kind\":\"blood-pressure\",\"time\":\"2026-05-06T08:09:$4+02:00\",\"components\":[{\"measure\":\"systolic\",\"value\":$2,\"unit\":\"mm[Hg]\"},{\"measure\":\"diastolic\",\"value\":79,\"unit\":\"mm[Hg]\"}]}"
}
publish() {  # message-id readings-json...  (on the cuff's topic)
  local id=$1; shift
  local list; list=$(IFS=,; echo "$*")
  mosquitto_pub -h "$RPM_TEST_MQTT_HOST" -p "$RPM_TEST_MQTT_PORT" -q 1 -t "rpm/devices/$DEVICE/readings/native" \
    -m "{\"format\":\"rpm-reading/1\",\"messageId\":\"$id\",\"readings\":[$list]}"
}
status_field() {  # section field
  "$GW" status --config "$W/gw.toml" --json 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['$1']['$2'])"
}
export GW W
export -f status_field
observations_for() {  # patient -> count at the server
  curl -s "$RPM_TEST_FHIR_CONTROL_URL/resources/Observation" |
    python3 -c "import json,sys; print(sum(1 for o in json.load(sys.stdin) if o.get('subject',{}).get('reference')=='$1'))"
}
planted_bytes_in_db() {  # exit 0 when any planted string is in the database or its WAL
  cat "$W/state/buffer.db" "$W/state/buffer.db-wal" 2>/dev/null | grep -a -q -e "${PATIENT#Patient/}" -e "$PLANTED" -e "$DEVICE"
}

"$GW" run --config "$W/gw.toml" 2>"$W/daemon.err" &
DAEMON=$!
wait_for "the control socket" 20 "$GW" status --config "$W/gw.toml"
wait_for "the MQTT connection" 20 sh -c "[ \"\$('$GW' status --config '$W/gw.toml' --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"mqtt\"][\"connected\"])')\" = True ]"
# User slot 1 of the two-user cuff is the patient's; slot 2 is nobody's, so its readings are held.
"$GW" devices enrol --config "$W/gw.toml" --key "mqtt:$DEVICE" --user-slot 1 --patient "$PATIENT" >/dev/null
expect_equal "the first patient's cuff is enrolled" 0 $?

publish m-1 "$(reading r-delivered-1 121 1 01)"
wait_for "the first reading at the server" 30 sh -c "[ \$(curl -s '$RPM_TEST_FHIR_CONTROL_URL/resources/Observation' | grep -c '${PATIENT}') -ge 1 ]"
expect_equal "the first reading is delivered for the first patient" 1 "$(observations_for "$PATIENT")"

# The server refuses every upload for now: the next reading stays queued.
curl -s -X POST -H 'Content-Type: application/json' -d '{"action":"status","status":503,"match":{"method":"POST"}}' \
  "$RPM_TEST_FHIR_CONTROL_URL/faults" >/dev/null
publish m-2 "$(reading r-stuck-2 "$PLANTED" 1 02)" "$(reading r-held-3 118 2 03)"
wait_for "a queued and a held reading" 30 bash -c '[ "$(status_field buffer backlog)" = 1 ] && [ "$(status_field buffer held)" = 1 ]'
expect_success "the byte scan sees the patient and the planted value while they are stored" planted_bytes_in_db

"$GW" decommission --config "$W/gw.toml" >"$W/noyes.out" 2>"$W/noyes.err"
expect_equal "decommission without --yes is refused with exit 2" 2 $?
expect_success "and explains what it would erase" grep -q "ERASE every enrolment" "$W/noyes.err"

"$GW" decommission --config "$W/gw.toml" --yes --deliver-timeout 1 >"$W/refused.out" 2>"$W/refused.err"
expect_equal "decommission with undelivered readings and neither --export nor --discard-undelivered exits 1" 1 $?
expect_success "the refusal counts what is not delivered and says nothing was erased" \
  grep -q "2 readings are not delivered (queued 1, held 1, dead letters 0); nothing was erased" "$W/refused.err"
expect_success "the enrolment is still there after the refusal" sh -c "'$GW' devices list --config '$W/gw.toml' | grep -q 'mqtt:$DEVICE'"
publish m-4 "$(reading r-after-refusal-4 122 1 04)"
wait_for "intake resumed after the refusal" 30 bash -c '[ "$(status_field buffer backlog)" = 2 ]'
expect_equal "intake resumed after the refusal (the new reading is queued)" 2 "$(status_field buffer backlog)"

# Configuration seeds would come back at the next start: refused until removed.
cp "$W/gw.toml" "$W/gw.toml.orig"
printf '[[devices]]\nkey = "mqtt:seeded-1"\npatient = "Patient/seeded"\n' >>"$W/gw.toml"
"$GW" decommission --config "$W/gw.toml" --yes --discard-undelivered --deliver-timeout 0 2>"$W/seeds.err"
expect_equal "decommission while [[devices]] are configured exits 1" 1 $?
expect_success "the refusal names the [[devices]] entries" grep -q "1 \[\[devices\]\] enrolments in" "$W/seeds.err"
mv "$W/gw.toml.orig" "$W/gw.toml"

"$GW" decommission --config "$W/gw.toml" --yes --deliver-timeout 1 --export "$W/export.jsonl" >"$W/decom.out" 2>"$W/decom.err"
expect_equal "decommission with --export exits 0" 0 $?
expect_success "it reports counts" grep -q "erased 1 enrolments, 2 queued, 1 held, 1 delivered readings" "$W/decom.out"
expect_success "it reports the export" grep -q "exported 3 undelivered readings" "$W/decom.out"
expect_equal "the export file is 0600" 600 "$(stat -c %a "$W/export.jsonl")"
expect_equal "the export has a header, three readings and an end line" 5 "$(wc -l <"$W/export.jsonl")"
expect_success "the export header names its format" grep -q '"format":"rpm-gateway-undelivered-export".*"hub":"hub-decom"' "$W/export.jsonl"
expect_success "the export keeps the stuck reading's value and patient" sh -c "grep '\"r-stuck-2\"' '$W/export.jsonl' | grep -q '\"value\":\"$PLANTED\".*' && grep '\"r-stuck-2\"' '$W/export.jsonl' | grep -q '$PATIENT'"
expect_success "the held reading is exported without a patient" sh -c "grep '\"r-held-3\"' '$W/export.jsonl' | grep -q '\"state\":\"held\".*\"subject\":null'"
expect_success "the command's output carries no patient data" sh -c "! grep -q -e decom-pt -e '$PLANTED' '$W/decom.out' '$W/decom.err'"
expect_failure "no byte of the patient id, the device or the planted value is left in the database files" planted_bytes_in_db
expect_success "no enrolment is left" sh -c "[ -z \"\$('$GW' devices list --config '$W/gw.toml')\" ]"
expect_equal "nothing is queued" 0 "$(status_field buffer backlog)"
expect_equal "nothing is held" 0 "$(status_field buffer held)"
expect_success "the daemon is still running" kill -0 "$DAEMON"

"$GW" decommission --config "$W/gw.toml" --yes --export "$W/export.jsonl" 2>"$W/exists.err"
expect_equal "an existing export file is never overwritten" 1 $?
expect_success "the refusal says the file exists" grep -q "it exists" "$W/exists.err"

# The next patient.
curl -s -X DELETE "$RPM_TEST_FHIR_CONTROL_URL/faults" >/dev/null
"$GW" devices enrol --config "$W/gw.toml" --key "mqtt:$DEVICE" --user-slot 1 --patient "$NEXT" >/dev/null
publish m-2 "$(reading r-stuck-2 "$PLANTED" 1 02)"   # the cuff re-sends the previous patient's reading
publish m-5 "$(reading r-next-5 119 1 05)"
wait_for "the next patient's reading at the server" 30 sh -c "[ \$(curl -s '$RPM_TEST_FHIR_CONTROL_URL/resources/Observation' | grep -c '$NEXT') -ge 1 ]"
expect_equal "the next patient's reading is delivered for the next patient" 1 "$(observations_for "$NEXT")"
expect_success "the previous patient's re-sent reading was recognised, never bound to the next patient" \
  sh -c "[ \"\$('$GW' status --config '$W/gw.toml' --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"buffer\"][\"backlog\"])')\" = 0 ] && ! curl -s '$RPM_TEST_FHIR_CONTROL_URL/resources/Observation' | grep -q '$PLANTED'"
expect_equal "the first patient still has exactly the one delivered reading" 1 "$(observations_for "$PATIENT")"
expect_success "the daemon log carries no patient id or value" sh -c "! grep -q -e decom-pt -e next-pt -e '$PLANTED' '$W/daemon.err'"
finish
