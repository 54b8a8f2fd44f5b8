#!/usr/bin/env bash
# Optional: a subset of the tests under Miri (undefined behaviour, data races,
# use after free). Needs a nightly toolchain with the miri component; skips
# cleanly without one. Slow (kovan's reclamation under the interpreter): the
# subset below took about 200 s on a 2-core machine.
#   bash scripts/miri.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  echo "miri: no nightly toolchain with miri here; skipped"
  echo "      (rustup toolchain install nightly --component miri)"
  exit 0
fi
# kovan needs 128-bit CAS; tell Miri the CPU has it. kovan keeps pointers in
# integers, so Miri runs with permissive provenance (its warnings are kovan's).
export RUSTFLAGS="-C target-feature=+cmpxchg16b"
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation -Zmiri-permissive-provenance}"
CARGO_TARGET_DIR=target/miri cargo +nightly miri test --test api -- \
  insert_then_get remove_then_get colliding get_ref compute_inserts conditional
