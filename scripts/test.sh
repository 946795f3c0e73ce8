#!/usr/bin/env bash
# Runs every test of the workspace: installs what the interop tests need (real mail
# software: swaks, Postfix's smtp-sink, Python), then the whole suite with cargo-nextest
# (or cargo test where nextest is not installed).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x scripts/interop/install-deps.sh ] || [ -f scripts/interop/install-deps.sh ]; then
  bash scripts/interop/install-deps.sh
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  echo "cargo-nextest not found; running cargo test (install it with: cargo install cargo-nextest)" >&2
  cargo test --workspace --no-fail-fast "$@"
fi
