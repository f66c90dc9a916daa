#!/usr/bin/env bash
# Runs the workspace's unit and integration tests under ThreadSanitizer (data races,
# including races between atomics and plain accesses that loom's models do not cover).
#
# Nightly: -Zsanitizer=thread needs the standard library rebuilt with the same flag
# (-Zbuild-std, from the rust-src component, installed here if missing), otherwise TSan
# cannot see std's own synchronisation (Arc, Mutex) and reports false races. The target
# is explicit so the flag reaches only the code under test, not build scripts or proc
# macros. Doctests are not run (covered by ci/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup +nightly component list --installed 2>/dev/null | grep -q '^rust-src'; then
  rustup +nightly component add rust-src
fi
target="$(rustc +nightly -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Zsanitizer=thread ${RUSTFLAGS:-}"
export CORIO_SANITIZER=thread
# halt_on_error: the first report fails its test binary (and so the run). The
# suppressions (ci/tsan.supp) cover only crossbeam's fence-based code, each explained.
# allocator_may_return_null: a failed allocation returns null as with the system
# allocator (the process pool's try_reserve under an address-space limit), as in ci/asan.sh.
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1 allocator_may_return_null=1 suppressions=$PWD/ci/tsan.supp}"
# No backtraces for panics: symbolizing one under TSan took 7 s, and tests that
# panic on purpose time the panic (a runtime dropped inside async code must panic
# within 4 s). A TSan report carries its own stacks.
export RUST_BACKTRACE=0
# Its own target dir: a sanitized std and different flags; sharing would rebuild everything.
export CARGO_TARGET_DIR="${TSAN_TARGET_DIR:-${CARGO_TARGET_DIR:-target}/tsan}"
# Left out as in ci/asan.sh: the benches (corio-benches) and the trybuild compile-fail
# test (its rustc runs would inherit the flags); CORIO_SANITIZER makes the
# stack-painting test skip itself.
cargo +nightly test -Zbuild-std --target "$target" --workspace --exclude corio-benches \
  --all-features --no-fail-fast --tests "$@" -- \
  --skip attribute_misuse_is_a_clear_compile_error
