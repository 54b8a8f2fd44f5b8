#!/usr/bin/env bash
# Every suite that needs only stable Rust, in one command:
#   bash scripts/test.sh
# Fails on the first red suite. Each suite builds in its own target folder,
# because the loom build (a cfg in RUSTFLAGS) and the shuttle build (a
# feature that makes kovan usable only inside shuttle) cannot share one.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "facade rule: only src/sync.rs and src/reclaim.rs (with its model, src/reclaim/) name atomics, loom, shuttle or kovan"
if grep -rnE '(core|std)::sync::atomic|\bloom::|\bshuttle::|\bkovan::' src --include='*.rs' \
    | grep -vE '^src/(sync\.rs|reclaim\.rs|reclaim/)' | grep -vE ':[0-9]+:\s*(//|\*)'; then
  echo "facade rule broken (lines above)" >&2
  exit 1
fi

step "unit, API, quickcheck, integration and doc tests; the checker's tests (debug)"
cargo test --workspace --locked

step "real-thread stress tests, histories checked for linearizability (release)"
cargo test --release --locked --test stress
cargo test --release --locked -p kovan-map-models --test 'stress_*'

step "real-thread stress, reclamation, growth, lookup, directory, hopscotch and session-review tests under AddressSanitizer (skips where -Zsanitizer is unavailable)"
bash scripts/asan.sh

step "no_std + alloc build"
cargo build --locked --no-default-features

step "optional features: serde and rayon (off by default)"
cargo test --locked --features serde,rayon --test features --test session_review_par --test directory_review
cargo test --locked --features serde,rayon --lib par::

step "loom: exhaustive interleavings (bounded) of the production code"
RUSTFLAGS="--cfg kovan_map_loom" CARGO_TARGET_DIR=target/loom \
  cargo test --locked -p kovan-map --release --lib reclaim::model
RUSTFLAGS="--cfg kovan_map_loom" CARGO_TARGET_DIR=target/loom \
  cargo test --locked -p kovan-map-models --release --test 'loom_*'

step "shuttle: random and PCT schedules of the production code"
CARGO_TARGET_DIR=target/shuttle \
  cargo test --locked -p kovan-map-models --features shuttle --release --test 'shuttle_*'

step "shuttle again, over the model reclaimer (use-after-reclamation becomes a failure)"
CARGO_TARGET_DIR=target/shuttle-model \
  cargo test --locked -p kovan-map-models --features shuttle-model --release --test 'shuttle_*'

step "benchmark against the peers: a smoke run with tiny counts, so it cannot rot (docs/benchmarks.md has the real command)"
cargo run --release --locked -q -p kovan-map-peers -- --threads 1,2 --reps 1 --ops 4096 --capacity 4096 \
  --get-keys 1000 --lookups 4096 --mem-entries 1000 --iter-keys 1000 --out target/peers-smoke.json >/dev/null
python3 benches/peers/plot.py target/peers-smoke.json target/peers-smoke.svg

if [ -x proofs/check.sh ]; then
  step "proofs: spin on the Promela models"
  proofs/check.sh
fi

printf '\nall suites passed in %d s\n' $((SECONDS - started))
