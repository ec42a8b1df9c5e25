#!/usr/bin/env bash
# Installs what swift-paddington needs beyond Swift itself: libsodium (Debian: libsodium-dev) and
# pkg-config, which SwiftPM uses to find it. Does nothing when both are present.
set -euo pipefail

if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libsodium; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: libsodium and pkg-config are missing and this is not a Debian-like system;" >&2
    echo "setup: install them with your package manager (e.g. 'brew install libsodium pkg-config')." >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "setup: need root (or sudo) to install libsodium-dev" >&2
        exit 1
    fi
fi

echo "setup: installing libsodium-dev and pkg-config with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libsodium-dev pkg-config >/dev/null
pkg-config --exists libsodium
