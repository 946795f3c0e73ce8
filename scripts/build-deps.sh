#!/usr/bin/env bash
# Installs what building the workspace needs from the system (not just its tests):
#   libssl-dev, pkg-config   aptsim-core hashes with OpenSSL's MD5 through the `openssl`
#                            crate (core/src/digest/hasher.rs), which links the system
#                            libcrypto (OpenSSL 3) and finds it with pkg-config.
# Called by .ci/run before the first cargo command, and by scripts/interop/install-deps.sh.
# Idempotent: when everything is there it prints one line and returns at once. Debian/Ubuntu
# only (apt-get); run as root.
set -euo pipefail

have_build_deps() {
    command -v pkg-config >/dev/null 2>&1 && pkg-config --atleast-version=3.0 openssl
}

if have_build_deps; then
    echo "build deps: libssl-dev $(pkg-config --modversion openssl) and pkg-config already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "build deps: run as root (needs apt-get install libssl-dev pkg-config)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo "build deps: installing libssl-dev pkg-config (apt-get)"
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends libssl-dev pkg-config; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "build deps: apt-get install libssl-dev pkg-config failed" >&2
    exit 1
fi
if ! have_build_deps; then
    echo "build deps: install finished but pkg-config does not find OpenSSL 3 (pkg-config --modversion openssl)" >&2
    exit 1
fi
