#!/usr/bin/env bash
# Runs the workspace's unit and integration tests under AddressSanitizer (with
# LeakSanitizer): use after free, out-of-bounds access, double free, leaks.
#
# Stable toolchain: RUSTC_BOOTSTRAP=1 unlocks -Zsanitizer. The target is given
# explicitly so the sanitizer flags reach only the code under test, not build
# scripts or proc macros. Doctests are not run (rustdoc would need its own
# instrumented build of every crate; they are covered by ci/test.sh).
# Two tests in crates/core/tests/local.rs leak a task on purpose (a local task
# polled on the wrong thread can be neither run nor dropped); they are skipped
# here as Miri skips them. Anything else LeakSanitizer reports fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Zsanitizer=address ${RUSTFLAGS:-}"
export CORIO_SANITIZER=address
# allocator_may_return_null: a failed allocation returns null, as the system
# allocator does, instead of aborting the process. The process pool grows a reply
# buffer with try_reserve and turns a failure into an error; its test checks that
# under an address-space limit, which ASan's default would abort.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1:allocator_may_return_null=1}"
# Its own target dir: flags differ from a normal build, so sharing would rebuild everything.
export CARGO_TARGET_DIR="${ASAN_TARGET_DIR:-${CARGO_TARGET_DIR:-target}/asan}"
cargo test --workspace --exclude corio-benches --all-features --no-fail-fast --target "$target" --tests "$@" -- \
  --skip running_on_another_thread_panics \
  --skip dropping_an_unrun_runnable_on_another_thread_panics \
  --skip attribute_misuse_is_a_clear_compile_error
