#!/usr/bin/env bash
# The project's test command (the README names it; .ci/run calls it).
# Every crate's unit, integration and doc tests, on a 2-core machine. --no-fail-fast:
# a failing test binary does not hide the results of the ones after it.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
# The benches (corio-benches: criterion, tokio, smol) are left out; `cargo bench
# -p corio-benches` runs them and .ci/run's clippy keeps them compiling.
cargo test --workspace --exclude corio-benches --all-features --no-fail-fast "$@" || status=$?
# The facade without its optional parts (process pool, macros, hyper) builds and passes.
# Run even when the first command failed, so one report shows both; the exit code is the
# first failure's.
cargo test -p corio --no-default-features --no-fail-fast "$@" || { rc=$?; [ "$status" -ne 0 ] || status=$rc; }
exit "$status"
