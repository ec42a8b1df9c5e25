#!/usr/bin/env bash
# The main job: two services on loopback count down from 1000 over an encrypted link.
# Extra arguments go to `paddington demo` (e.g. --start 200).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build --product paddington
exec .build/debug/paddington demo "$@"
