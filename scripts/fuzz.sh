#!/usr/bin/env bash
# Runs the libFuzzer targets (with AddressSanitizer) for SECONDS each, starting from the committed
# seed corpus. Fails on the first crash, leak, timeout or sanitizer report.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     targets: envelope handshake files addresses v2frame v2handshake v2session negotiation agentframe (default: all)
#
# Prints, per target, the executions run without a crash. New inputs go to .build-fuzz/corpus/TARGET
# (not committed); a crashing input is left as .build-fuzz/crash-* for `paddington-fuzz TARGET FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(envelope handshake files addresses v2frame v2handshake v2session negotiation agentframe)

scratch=.build-fuzz
swift build --product paddington-fuzz --scratch-path "$scratch" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DPADDINGTON_FUZZING >&2
binary="$(swift build --product paddington-fuzz --scratch-path "$scratch" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DPADDINGTON_FUZZING --show-bin-path)/paddington-fuzz"

status=0
for target in "${targets[@]}"; do
    work="$scratch/corpus/$target"
    mkdir -p "$work"
    log="$scratch/fuzz-$target.log"
    leaks=1
    set +e
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="detect_leaks=$leaks" PADDINGTON_FUZZ_TARGET="$target" "$binary" "$work" "Fuzz/corpus/$target" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 -detect_leaks="$leaks" \
        -print_final_stats=1 -artifact_prefix="$scratch/crash-$target-" >"$log" 2>&1
    code=$?
    set -e
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    if [ "$code" -ne 0 ]; then
        echo "fuzz $target: FAILED after ${runs:-?} executions (exit $code); see $log" >&2
        grep -E 'ERROR|panic|Fatal|SUMMARY|crash-' "$log" | head -20 >&2 || true
        status=1
    else
        echo "fuzz $target: ${runs:-?} executions in ${seconds}s, no crash"
    fi
done
exit $status
