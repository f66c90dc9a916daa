#!/usr/bin/env bash
# Every publishable crate packages cleanly: `cargo package --list` (what would
# be uploaded) must print no warning (missing metadata, license, readme...).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for crate in corio-core corio-scheduler corio-reactor corio-blocking corio-macros corio; do
  log=$(cargo package --list --allow-dirty -p "$crate" 2>&1) || { echo "$log"; status=1; continue; }
  if grep -q '^warning' <<<"$log"; then
    echo "== $crate:"; grep '^warning' <<<"$log"; status=1
  fi
  for f in README.md LICENSE-MIT LICENSE-APACHE; do
    grep -qx "$f" <<<"$log" || { echo "== $crate: $f is not packaged"; status=1; }
  done
done
[ "$status" = 0 ] && echo "package: 6 crates list cleanly"
exit "$status"
