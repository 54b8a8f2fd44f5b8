#!/usr/bin/env bash
# Runs every Promela model of proofs/promela with spin, exhaustively, then
# every mutant. Fails unless every model passes every check and every mutant
# is reported as a violation. Prints one table row per run:
#   model, mutant, check (safety: assertions and invalid end states;
#   progress: non-progress cycles, `pan -l`), states stored, result, seconds.
#
#   bash proofs/check.sh            everything
#   bash proofs/check.sh hash_map   one model and its mutants
#
# Needs spin and a C compiler. Where spin is missing it tries
# `apt-get install -y spin` (as root, or through passwordless sudo), and
# skips with a message only if that is impossible.
set -uo pipefail
cd "$(dirname "$0")/promela"

# model, mutant (- for none), check, and for a mutant the violation it must
# produce: uaf (a node used after its ghost retirement, or a CAS expecting
# an unprotected pointer), lin (a result that is not the ghost map's at the
# linearization point), inv (a representation invariant or the abstraction
# function), cycle (a non-progress cycle).
RUNS='
hash_map     -                               safety   -
hash_map     -                               progress -
hash_map     SKIP_DEAD_RUN_RECHECK           safety   uaf
hash_map     READ_OWN_AFTER_PUBLISH          safety   uaf
hash_map     PUSH_NO_RESCAN                  safety   lin
hash_map     RETIRE_AT_TAG                   safety   inv
hash_map     READER_RESTARTS_AT_DEAD         progress cycle
displacement -                               safety   -
displacement -                               progress -
displacement SKIP_COUNTER_RECHECK            safety   lin
displacement NONATOMIC_HOP_BITS              safety   inv
displacement SKIP_DESCRIPTOR_RECHECK         safety   uaf
displacement DEREF_OWN_DESCRIPTOR            safety   uaf
migration    -                               safety   -
migration    -                               progress -
migration    FORGET_FREEZE                   safety   inv
migration    SHARED_RESERVATION_WORD         safety   inv
'

# The kind of the first violation in a pan log (see the RUNS comment).
kind_of() {
  local line
  line=$(grep -m1 -E 'assertion violated|non-progress cycle|acceptance cycle|invalid end state' "$1")
  case "$line" in
    *non-progress*|*acceptance*) echo cycle ;;
    *"invalid end state"*) echo deadlock ;;
    *"prot["*) echo uaf ;;
    *ca_*) echo inv ;;
    *amap*|*"seen["*) echo lin ;;
    *"assertion violated"*) echo inv ;;
    *) echo none ;;
  esac
}

if ! command -v spin >/dev/null 2>&1; then
  echo "proofs: spin not found; trying apt-get install -y spin" >&2
  if [ "$(id -u)" = 0 ]; then
    (apt-get install -y -qq spin || (apt-get update -qq && apt-get install -y -qq spin)) >&2 || true
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    (sudo apt-get install -y -qq spin || (sudo apt-get update -qq && sudo apt-get install -y -qq spin)) >&2 || true
  fi
fi
if ! command -v spin >/dev/null 2>&1; then
  echo "proofs: SKIPPED: spin is not installed and cannot be installed here" >&2
  echo "proofs: (install it with: apt-get install -y spin)" >&2
  exit 0
fi
CC=${CC:-cc}
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "proofs: a C compiler ($CC) is needed to build spin's verifier" >&2
  exit 1
fi

only=${1:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp ./*.pml "$work/"

failed=0
rows=0
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs_since() { local d=$(( $(now_ms) - $1 )); printf '%d.%d' $((d / 1000)) $(((d % 1000) / 100)); }
total_start=$(now_ms)
printf '%-13s %-29s %-9s %12s  %-26s %8s\n' model mutant check states result seconds
printf '%-13s %-29s %-9s %12s  %-26s %8s\n' ------------- ----------------------------- --------- ------------ -------------------------- --------
while read -r model mutant check expect; do
  [ -z "$model" ] && continue
  [ -n "$only" ] && [ "$model" != "$only" ] && continue
  [ -f "$model.pml" ] || { printf '%-13s %-29s %-9s %12s  %-26s %8s\n' "$model" "$mutant" "$check" - "MISSING MODEL FILE" -; failed=1; continue; }
  dir="$work/$model-$mutant-$check"
  mkdir -p "$dir"
  cp "$work"/*.pml "$dir/"
  # -O0: pan.c of these models is large, and on a busy 2-core machine
  # gcc -O1 took minutes; unoptimised, compile plus search is faster.
  defs=(); opt=-O0
  [ "$mutant" != - ] && defs=(-DMUTANT_"$mutant")
  start=$(now_ms)
  if [ "$check" = progress ]; then
    cflags=(-DNP -DCOLLAPSE)
    pflags=(-l -m1000000)
  else
    cflags=(-DSAFETY -DCOLLAPSE)
    pflags=(-m1000000)
  fi
  (
    cd "$dir" &&
    spin -a "${defs[@]}" "$model.pml" >spin.log 2>&1 &&
    "$CC" "$opt" -w "${cflags[@]}" -DVECTORSZ=2048 -o pan pan.c >cc.log 2>&1 &&
    ./pan "${pflags[@]}" >pan.log 2>&1
  )
  built=$?
  secs=$(secs_since "$start")
  log="$dir/pan.log"
  states=$(grep -oE '^ *[0-9.e+]+ states, stored' "$log" 2>/dev/null | awk '{print $1}' | head -1)
  errors=$(grep -oE 'errors: [0-9]+' "$log" 2>/dev/null | awk '{print $2}' | head -1)
  truncated=$(grep -cE 'max search depth too small|Search not completed' "$log" 2>/dev/null)
  what=$(kind_of "$log" 2>/dev/null)
  if [ ! -f "$log" ] || [ -z "$errors" ]; then
    result="BUILD/RUN FAILED"; failed=1
    sed -n 1,20p "$dir"/spin.log "$dir"/cc.log "$log" 2>/dev/null >&2
  elif [ "$mutant" = - ]; then
    if [ "$errors" = 0 ] && [ "$truncated" = 0 ]; then
      result="pass"
    elif [ "$errors" = 0 ]; then
      result="FAIL: search incomplete"; failed=1
    else
      result="FAIL: $what"; failed=1
      grep -m3 -E 'violated|cycle|invalid' "$log" >&2
    fi
  else
    if [ "$errors" != 0 ] && [ "$what" = "$expect" ]; then
      result="caught: $what"
    elif [ "$errors" != 0 ]; then
      result="WRONG VIOLATION: $what"; failed=1
    else
      result="NOT CAUGHT"; failed=1
    fi
  fi
  : "$built"
  rows=$((rows + 1))
  printf '%-13s %-29s %-9s %12s  %-26s %8s\n' "$model" "$mutant" "$check" "${states:--}" "$result" "$secs"
done <<<"$RUNS"
printf 'total: %d runs in %s s\n' "$rows" "$(secs_since "$total_start")"
if [ "$failed" != 0 ]; then
  echo "proofs: FAILED (a model did not pass, or a mutant was not caught)" >&2
  exit 1
fi
echo "proofs: every model passed; every mutant was caught"
