#!/usr/bin/env bash
# Builds the libFuzzer harnesses and runs each for SECONDS (default 60).
#
#   Fuzz/run.sh [SECONDS] [HARNESS ...]        e.g. Fuzz/run.sh 300   or   Fuzz/run.sh 60 fuzz-safetensors
#
# Per harness: the working corpus grows in Fuzz/corpus/<harness>/ (not committed), starting
# from the committed seeds in Fuzz/seeds/<harness>/. Any crash, timeout or out-of-memory input
# is copied to Tests/FeatureLensTests/Fixtures/fuzz-crashes/<parser>/ where
# FuzzCrashReplayTests replays it as a regression case (expects a thrown error, not a crash).
# Prints one summary line per harness (executions per second, corpus size) and exits 1 if
# any harness found a failing input.
#
# Build: a separate SwiftPM package (Fuzz/Package.swift) compiled with
#   swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld --product <harness>
# (lld: gold crashes in its error reporter on these links). Only the harness products are
# built; building everything would also try to link the main package's CLI with libFuzzer.
set -euo pipefail

SECONDS_PER=${1:-60}
shift || true
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
ALL=(fuzz-idx fuzz-idx-gzip fuzz-cifar fuzz-csv-features fuzz-safetensors fuzz-label-grouping fuzz-npy fuzz-labels-csv fuzz-config fuzz-image)
HARNESSES=("$@")
[ ${#HARNESSES[@]} -eq 0 ] && HARNESSES=("${ALL[@]}")

parser_of() {  # harness → fixture folder name used by FuzzCrashReplayTests
    case "$1" in
        fuzz-idx|fuzz-idx-gzip) echo idx ;;
        fuzz-cifar) echo cifar ;;
        fuzz-csv-features) echo csv-features ;;
        fuzz-safetensors) echo safetensors ;;
        fuzz-label-grouping) echo label-grouping ;;
        fuzz-npy) echo npy ;;
        fuzz-labels-csv) echo labels-csv ;;
        fuzz-config) echo config ;;
        fuzz-image) echo image ;;
        *) echo "${1#fuzz-}" ;;
    esac
}

extra_flags() {
    case "$1" in
        fuzz-safetensors) echo "-dict=$HERE/dicts/safetensors.dict -max_len=4096" ;;
        fuzz-label-grouping) echo "-dict=$HERE/dicts/json.dict -max_len=2048" ;;
        fuzz-cifar) echo "-max_len=8192" ;;
        fuzz-npy) echo "-dict=$HERE/dicts/npy.dict -max_len=4096" ;;
        fuzz-labels-csv) echo "-dict=$HERE/dicts/csv.dict -max_len=4096" ;;
        fuzz-config) echo "-dict=$HERE/dicts/config.dict -max_len=4096" ;;
        fuzz-image) echo "-max_len=4096" ;;
        *) echo "-max_len=4096" ;;
    esac
}

# -Xcc: the package's C targets (the SIMD kernels, the libpng/libjpeg shim) get address
# sanitizer checks and coverage too; the system libraries themselves are not instrumented.
BUILD_FLAGS=(-c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld -Xcc -fsanitize=address -Xcc -fsanitize=fuzzer-no-link)
for h in "${HARNESSES[@]}"; do
    echo "== building $h"
    swift build --package-path "$HERE" "${BUILD_FLAGS[@]}" --product "$h" 2>&1 \
        | grep -v "Cannot export local symbol" | grep -E "error|warning: unre|Compiling|Build" || true
done
BIN=$(swift build --package-path "$HERE" "${BUILD_FLAGS[@]}" --show-bin-path)

status=0
SUMMARY=()
for h in "${HARNESSES[@]}"; do
    corpus="$HERE/corpus/$h"; seeds="$HERE/seeds/$h"; artifacts="$HERE/artifacts/$h"
    mkdir -p "$corpus" "$artifacts" "$seeds"
    log="$HERE/artifacts/$h.log"
    echo "== fuzzing $h for ${SECONDS_PER}s (log: $log)"
    # -fork=0, single process; leaks are not reported (Swift runtime caches look like leaks).
    # shellcheck disable=SC2046
    "$BIN/$h" "$corpus" "$seeds" -max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=1024 -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$artifacts/" \
        $(extra_flags "$h") >"$log" 2>&1 || true
    execs=$(grep -m1 "stat::number_of_executed_units" "$log" | awk '{print $2}')
    rate=$(grep -m1 "stat::average_exec_per_sec" "$log" | awk '{print $2}')
    files=$(find "$corpus" -type f | wc -l)
    # Inputs of earlier runs were renamed *.reported once copied; count only new ones.
    found=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' -o -name 'slow-unit-*' \) ! -name '*.reported' | wc -l)
    if [ "$found" -gt 0 ]; then
        dest="$REPO/Tests/FeatureLensTests/Fixtures/fuzz-crashes/$(parser_of "$h")"
        mkdir -p "$dest"
        for f in "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/oom-* "$artifacts"/leak-* "$artifacts"/slow-unit-*; do
            [ -f "$f" ] || continue
            case "$f" in *.reported) continue ;; esac
            cp "$f" "$dest/$h-$(basename "$f")"
            mv "$f" "$f.reported"
        done
        echo "!! $h: $found failing input(s) copied to $dest (see $log)"
        status=1
    fi
    SUMMARY+=("$(printf '%-22s %6ss  %10s execs  %8s exec/s  corpus %5s files  failures %s' "$h" "$SECONDS_PER" "${execs:-?}" "${rate:-?}" "$files" "$found")")
done
echo
printf '%s\n' "${SUMMARY[@]}"
exit $status
