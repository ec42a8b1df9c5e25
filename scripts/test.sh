#!/usr/bin/env bash
# The whole check, as CI runs it:
#   1. build everything, run the test suite (unit, loopback, multi-process) and build the DocC catalogue
#      (every public symbol documented, every link resolved: scripts/docs.sh);
#   2. a fuzzing smoke: 20 s per libFuzzer target from the committed corpus (scripts/fuzz.sh);
#   3. the test suite again under AddressSanitizer, then under ThreadSanitizer (scripts/sanitizers.sh).
# `scripts/test.sh --quick` stops after step 1 (about 1 minute).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build --build-tests
swift test --skip-build --disable-xctest
./scripts/docs.sh >/dev/null
if [ "${1:-}" = "--quick" ]; then
    exit 0
fi
./scripts/fuzz.sh "${PADDINGTON_FUZZ_SECONDS:-20}"
./scripts/sanitizers.sh address thread
