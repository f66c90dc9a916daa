#!/usr/bin/env bash
# The project's test command (the README names it; .ci/run calls it).
# Every crate's unit, integration and doc tests, on a 2-core machine. --no-fail-fast:
# a failing test binary does not hide the results of the ones after it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-features --no-fail-fast "$@"
