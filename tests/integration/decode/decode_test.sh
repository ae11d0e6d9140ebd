#!/usr/bin/env bash
# Runs the real rpm-gateway decode: hex formats, determinism, exact decimals
# in the printed bytes, empty collections for nothing-to-upload payloads and
# exit 2 with one stderr line for malformed input. Uses the thermometer
# (0x2A1C / 0x2A1E); nothing in decode is specific to it.
set -u
GW=$1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

check() {  # check "description" expected actual
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: $1 (got '$3', expected '$2')"; fi
}
contains() {  # contains "description" file "text"
  if grep -qF -- "$3" "$2"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: $1: '$3' not in:"; cat "$2"; fi
}
lacks() {  # lacks "description" file "text"
  if grep -qF -- "$3" "$2"; then failed=$((failed + 1)); echo "FAIL: $1: '$3' found"; else
    passed=$((passed + 1)); fi
}
run() {  # run name args...
  local name=$1; shift
  "$GW" decode "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
  rc=$?
}

# Temperature Measurement: flags 06 (time stamp, type), 37.60 Cel (FLOAT FE000EB0),
# 2024-05-06 08:09:10, type 6 (mouth).
HEX="06 B0 0E 00 FE E8 07 05 06 08 09 0A 06"
run spaces --characteristic 2A1C --hex "$HEX" --patient Patient/123 --utc-offset +02:00
check "a valid payload exits 0" 0 $rc
check "nothing on stderr for an uploadable payload" 0 "$(wc -c <"$WORK/spaces.err")"
contains "a collection bundle" "$WORK/spaces.out" '"type": "collection"'
contains "37.60 keeps its two decimals" "$WORK/spaces.out" '"value": 37.60,'
contains "oral temperature code" "$WORK/spaces.out" '"code": "188424"'
contains "8310-5 always" "$WORK/spaces.out" '"code": "8310-5"'
contains "device time with the hub offset" "$WORK/spaces.out" '"effectiveDateTime": "2024-05-06T08:09:10+02:00"'
contains "conditional-create identifier" "$WORK/spaces.out" '"value": "B0495F001071-123-188424-768298150"'
contains "the hub's Device" "$WORK/spaces.out" 'PhgDevice'
contains "the thermometer's Device" "$WORK/spaces.out" '"value": "B0-49-5F-00-10-71"'
# The byte check can fail: a planted precision loss (37.6) is not what was printed.
lacks "the printed value is not a rounded 37.6" "$WORK/spaces.out" '"value": 37.6,'

run colons --characteristic 0x2a1c --hex "06:b0:0e:00:fe:e8:07:05:06:08:09:0a:06" --patient Patient/123 --utc-offset +02:00
check "colons exit 0" 0 $rc
run packed --characteristic 2A1C --hex "06B00E00FEE8070506080 90A06" --patient Patient/123 --utc-offset +02:00
check "an odd group of hex digits is malformed" 2 $rc
run packed --characteristic 2A1C --hex "06B00E00FEE807050608090A06" --patient Patient/123 --utc-offset +02:00
check "no separators exit 0" 0 $rc
if cmp -s "$WORK/spaces.out" "$WORK/colons.out" && cmp -s "$WORK/spaces.out" "$WORK/packed.out"; then
  passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: hex formats give different output"; fi
run again --characteristic 2A1C --hex "$HEX" --patient Patient/123 --utc-offset +02:00
if cmp -s "$WORK/spaces.out" "$WORK/again.out"; then passed=$((passed + 1)); else
  failed=$((failed + 1)); echo "FAIL: two runs differ"; fi

# Fahrenheit with trailing zeros: 36.00 (FE000E10) and 98.6 degF (FF0003DA).
run c36 --characteristic 2A1C --hex "00 10 0E 00 FE"
contains "36.00 stays 36.00" "$WORK/c36.out" '"value": 36.00,'
run f986 --characteristic 2A1C --hex "01 DA 03 00 FF"
contains "98.6 degF" "$WORK/f986.out" '"value": 98.6,'
contains "degF unit" "$WORK/f986.out" '"code": "[degF]"'
contains "defaults: Patient/example" "$WORK/f986.out" '"reference": "Patient/example"'
# No time stamp: the receive time on the given offset.
run recv --characteristic 2A1C --hex "00 72 01 00 FF" --received-at 2026-01-02T03:04:05Z --utc-offset +01:00
contains "receive time used when the device sends none" "$WORK/recv.out" '"effectiveDateTime": "2026-01-02T04:04:05+01:00"'
contains "37.0" "$WORK/recv.out" '"value": 37.0,'

# Intermediate temperature: valid, nothing to upload.
run inter --characteristic 2A1E --hex "00 72 01 00 FF"
check "intermediate temperature exits 0" 0 $rc
check "an empty collection" '{  "resourceType": "Bundle",  "type": "collection"}' "$(tr -d '\n' <"$WORK/inter.out")"
check "one note line" 1 "$(wc -l <"$WORK/inter.err")"
contains "the note says why" "$WORK/inter.err" "nothing to upload"

# Malformed input: exit 2, one line naming the problem.
run short --characteristic 2A1C --hex "06 B0 0E"
check "truncated payload exits 2" 2 $rc
check "one error line" 1 "$(wc -l <"$WORK/short.err")"
contains "names the characteristic" "$WORK/short.err" "Temperature Measurement (0x2A1C)"
check "nothing on stdout" 0 "$(wc -c <"$WORK/short.out")"
run badhex --characteristic 2A1C --hex "06 zz"
check "non-hex exits 2" 2 $rc
contains "names --hex" "$WORK/badhex.err" "--hex"
run nodriver --characteristic FFFF --hex "00"
check "an unknown characteristic exits 2" 2 $rc
contains "names the characteristic" "$WORK/nodriver.err" "0xFFFF"
run badchar --characteristic 2A1C5 --hex "00"
check "a 20-bit characteristic exits 2" 2 $rc
run badpatient --characteristic 2A1C --hex "00 72 01 00 FF" --patient 123
check "a bad patient exits 2" 2 $rc
run badaddr --characteristic 2A1C --hex "00 72 01 00 FF" --device-address nope
check "a bad address exits 2" 2 $rc
run badfmt --characteristic 2A1C --hex "00 72 01 00 FF" --format xml
check "a bad format exits 2" 2 $rc
run ctx --characteristic 2A1C --hex "00 72 01 00 FF" --context "00 01 00"
check "a --context with a non-glucose characteristic exits 2" 2 $rc
contains "names the context characteristic" "$WORK/ctx.err" "0x2A34"
run missing --hex "00"
check "a missing --characteristic is a usage error" 2 $rc

# --format reading: the decoded fields.
run fields --characteristic 2A1C --hex "$HEX" --format reading
check "reading format exits 0" 0 $rc
contains "field temperature" "$WORK/fields.out" '"value": "37.60"'
contains "field type" "$WORK/fields.out" '"value": "mouth"'
run fieldsInter --characteristic 2A1E --hex "00 72 01 00 FF" --format reading
contains "intermediate fields decode too" "$WORK/fieldsInter.out" '"readings": 0'

echo "decode: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
