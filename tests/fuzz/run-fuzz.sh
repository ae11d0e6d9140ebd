#!/usr/bin/env bash
# Builds the decoder fuzzer (clang + libFuzzer, separate project in
# harness/) and runs it. Used by the ctest tests labelled "fuzz".
#
#   run-fuzz.sh build <source-root> <work-dir>
#   run-fuzz.sh run <source-root> <work-dir>      fuzz for RPM_FUZZ_SECONDS (default 120)
#   run-fuzz.sh planted <source-root> <work-dir>  the harness must find the planted bug
set -euo pipefail
MODE=$1
ROOT=$2
WORK=$3
BUILD=$WORK/build
CXX_CLANG=${RPM_FUZZ_CXX:-$(command -v clang++-14 || command -v clang++)}

case $MODE in
  build)
    cmake -S "$ROOT/tests/fuzz/harness" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_COMPILER="$CXX_CLANG" >"$WORK/configure.log" ||
      { cat "$WORK/configure.log"; exit 1; }
    cmake --build "$BUILD" -j "${JOBS:-2}"
    ;;
  run)
    SECONDS_BUDGET=${RPM_FUZZ_SECONDS:-120}
    # Fuzz a scratch copy: the committed seed corpus stays as reviewed.
    rm -rf "$WORK/corpus" && mkdir -p "$WORK/corpus" "$WORK/artifacts"
    cp "$ROOT"/tests/fuzz/corpus/* "$WORK/corpus/"
    echo "fuzzing every registered decoder for $SECONDS_BUDGET s (RPM_FUZZ_SECONDS)"
    "$BUILD/decoder_fuzzer" -max_total_time="$SECONDS_BUDGET" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$WORK/artifacts/" "$WORK/corpus" 2>"$WORK/fuzz.log" ||
      { tail -60 "$WORK/fuzz.log"; echo "the fuzzer found a failure; reproducer in $WORK/artifacts/"; exit 1; }
    grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added)" "$WORK/fuzz.log" || true
    ;;
  planted)
    # Starts from an empty corpus so the find is the fuzzer's own work.
    rm -rf "$WORK/planted-corpus" "$WORK/planted-artifacts"
    mkdir -p "$WORK/planted-corpus" "$WORK/planted-artifacts"
    if "$BUILD/decoder_fuzzer_planted_bug" -max_total_time="${RPM_FUZZ_PLANTED_SECONDS:-60}" \
        -artifact_prefix="$WORK/planted-artifacts/" "$WORK/planted-corpus" 2>"$WORK/planted.log"; then
      echo "FAIL: the fuzzer did not find the planted out-of-bounds read"; exit 1
    fi
    if ! grep -q "heap-buffer-overflow" "$WORK/planted.log" || ! grep -q "ByteReader::u16" "$WORK/planted.log"; then
      tail -40 "$WORK/planted.log"; echo "FAIL: the fuzzer stopped, but not on the planted bug"; exit 1
    fi
    grep -m1 -E "^#[0-9]+" "$WORK/planted.log" || true
    echo "ok: the harness found the planted out-of-bounds read in ByteReader::u16"
    ;;
  *) echo "usage: $0 build|run|planted <source-root> <work-dir>" >&2; exit 2 ;;
esac
