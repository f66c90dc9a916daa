#!/usr/bin/env bash
# Runs corio-core's tests under Miri (undefined behaviour, leaks, data races).
# Installs the nightly miri component if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup +nightly component list --installed 2>/dev/null | grep -q '^miri'; then
  rustup +nightly component add miri rust-src
fi
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-strict-provenance}"
cargo +nightly miri test -p corio-core "$@"
