#!/usr/bin/env bash
# Builds everything and runs the whole test suite (unit, loopback and multi-process tests).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build --build-tests
swift test --skip-build --disable-xctest "$@"
