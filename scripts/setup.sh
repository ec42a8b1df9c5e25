#!/usr/bin/env bash
# Installs what swift-paddington needs beyond Swift itself: libsodium (Debian: libsodium-dev) and
# pkg-config, which SwiftPM uses to find it, iproute2 (`ip`), which the multi-host test bed uses
# (scripts/hosts.sh), and openssl, with which the TLS tests make a throw-away CA. Does nothing when all
# are present.
set -euo pipefail

missing=()
if ! command -v pkg-config >/dev/null 2>&1; then
    missing+=(pkg-config libsodium-dev)
elif ! pkg-config --exists libsodium; then
    missing+=(libsodium-dev)
fi
if ! command -v ip >/dev/null 2>&1 && [ ! -x /usr/sbin/ip ] && [ ! -x /sbin/ip ]; then
    missing+=(iproute2)
fi
if ! command -v openssl >/dev/null 2>&1; then
    missing+=(openssl)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: missing ${missing[*]} and this is not a Debian-like system;" >&2
    echo "setup: install them with your package manager (e.g. 'brew install libsodium pkg-config')." >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "setup: need root (or sudo) to install ${missing[*]}" >&2
        exit 1
    fi
fi

echo "setup: installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
pkg-config --exists libsodium
