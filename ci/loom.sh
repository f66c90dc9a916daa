#!/usr/bin/env bash
# Model-checks corio's concurrency protocols with loom.
#
# Each crate that has a `tests/loom.rs` is built with `--cfg loom` (its `sync`
# module then swaps std atomics for loom's) and that test target is run.
# Only crates whose dev-dependencies compile under `--cfg loom` can have one
# (tokio and event-listener do not).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}"
export RUSTDOCFLAGS="--cfg loom ${RUSTDOCFLAGS:-}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
ran=0
for crate in crates/*/; do
  if [ -f "$crate/tests/loom.rs" ]; then
    name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$crate/Cargo.toml" | head -n 1)
    echo "== loom: $name"
    cargo test --release --target-dir target/loom -p "$name" --test loom "$@"
    ran=$((ran + 1))
  fi
done
echo "loom: $ran crate(s) model-checked"
