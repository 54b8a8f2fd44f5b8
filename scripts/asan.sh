#!/usr/bin/env bash
# The real-thread tests of the maps' protocols under AddressSanitizer (the
# stress and reclamation tests, HashMap growth and shrink with linking
# lookups, the directory's bit words, HopscotchMap's resizes and overflow
# mode, the session reviews; about 25 s of tests after the build):
#   bash scripts/asan.sh
# A use after free that a plain run survives (freed memory that still holds
# its old bytes) is a report and a failure here. Needs x86_64 Linux and a
# compiler that takes -Zsanitizer: a nightly toolchain, or stable with
# RUSTC_BOOTSTRAP=1 (what this script uses). Skips, saying why, elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
if [ "$(uname -sm)" != "Linux x86_64" ]; then
  echo "asan: skipped: AddressSanitizer here needs x86_64 Linux (this is $(uname -sm))"
  exit 0
fi
if ! RUSTC_BOOTSTRAP=1 rustc -Zsanitizer=address --print cfg >/dev/null 2>&1; then
  echo "asan: skipped: this rustc does not accept -Zsanitizer=address"
  exit 0
fi

# kovan keeps its per-thread slot pages for the life of the process by
# design, so leak detection is off; every other ASan check is on.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1"
RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=target/asan \
  cargo test --locked --release --target "$target" \
  --test stress --test reclamation \
  --test growth --test growth_review --test directory_review --test lookup_review \
  --test hopscotch --test session_review "$@"
