#!/usr/bin/env bash
# Runs the whole test suite under ThreadSanitizer and AddressSanitizer (each in its own build folder).
#   scripts/sanitizers.sh [thread|address]...     default: both
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
sanitizers=("$@")
[ ${#sanitizers[@]} -gt 0 ] || sanitizers=(thread address)
for sanitizer in "${sanitizers[@]}"; do
    scratch=".build-$sanitizer"
    flags=(--sanitize="$sanitizer" --scratch-path "$scratch")
    # Under ThreadSanitizer the library marks where tasks take over values from the event loop; see
    # handOffFromEventLoop() in Sources/Paddington/Transport/HandOff.swift and docs/security.md.
    if [ "$sanitizer" = thread ]; then flags+=(-Xswiftc -DPADDINGTON_TSAN); fi
    echo "== $sanitizer sanitizer: build" >&2
    swift build --build-tests "${flags[@]}" >&2
    echo "== $sanitizer sanitizer: tests" >&2
    # halt_on_error makes any report fail the run; the Swift backtracer is off so reports stay readable.
    # Tests run one at a time: instrumented code is several times slower, and the timing margins of the
    # network tests are meant for one test's load, not the whole suite's at once.
    SWIFT_BACKTRACE=enable=no TSAN_OPTIONS="halt_on_error=1" ASAN_OPTIONS="halt_on_error=1:detect_leaks=0" \
        swift test --skip-build --disable-xctest --no-parallel "${flags[@]}"
done
