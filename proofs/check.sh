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
# function), dummy (split_order: a link word whose DUMMY flag disagrees with
# what it points at, a dummy dereferenced as a node or a node as a dummy, a
# dummy tagged dead or unlinked), iter (split_order's iteration: a key
# yielded twice, a key present throughout not yielded, or a value the key
# never held while the iteration ran), cycle (a non-progress cycle). An optional
# fifth column adds defines: -DSCENARIO_* pick one of a model's scenarios
# (always kept); any other define shrinks a scenario to keep the default
# run within a few minutes on 2 cores, and PROOFS_FULL=1 drops those (the
# full scenarios).
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
migration    -                               progress -     -DNO_REMOVE
migration    FORGET_FREEZE                   safety   inv
migration    SHARED_RESERVATION_WORD         safety   inv
migration_overflow -                         safety   -     -DWRITER_WAITS
migration_overflow -                         safety   -     -DONE_COPIER
migration_overflow -                         progress -     -DWRITER_WAITS
migration_overflow -                         progress -     -DONE_COPIER
migration_overflow CHECK_BEFORE_UNVERSIONED_CAS safety inv
split_order  -                               safety   -
split_order  -                               progress -
split_order  -                               safety   -     -DSCENARIO_FLOOR2
split_order  -                               progress -     -DSCENARIO_FLOOR2
split_order  DELETE_DROPS_DUMMY_FLAG         safety   dummy
split_order  TARGET_DROPS_DUMMY_FLAG         safety   dummy
split_order  LINK_WITHOUT_CLAIM              safety   inv
split_order  STALE_DUMMY_NEXT                safety   inv
split_order  READER_USES_CLAIMED             safety   uaf
split_order  READER_STOPS_AT_DUMMY           safety   lin
split_order  SHORTCUT_ABOVE_FLOOR            safety   lin
split_order  SHORTCUT_ON_CLAIMED             safety   lin   -DSCENARIO_FLOOR2
split_order  -                               safety   -     -DSCENARIO_ITER
split_order  -                               safety   -     -DSCENARIO_ITER_REPLACE_FIRST
split_order  -                               progress -     -DSCENARIO_ITER_REPLACE_FIRST
split_order  ITER_NO_LO_SKIP                 safety   iter  -DSCENARIO_ITER
split_order  ITER_NO_HI_STOP                 safety   iter  -DSCENARIO_ITER
split_order  ITER_NO_RECHECK                 safety   uaf   -DSCENARIO_ITER
split_order  ITER_KEEPS_ABANDONED            safety   iter  -DSCENARIO_ITER_REPLACE_FIRST
split_order  -                               safety   -     -DSCENARIO_FLOOR2 -DSCENARIO_ITER
split_order  -                               safety   -     -DSCENARIO_ITER_ADJACENT
split_order  -                               progress -     -DSCENARIO_ITER_ADJACENT
split_order  ITER_CHECK_FIRST_ONLY           safety   uaf   -DSCENARIO_ITER_ADJACENT
split_order  ITER_NO_RUN_START               progress cycle -DSCENARIO_ITER_ADJACENT
'

# The kind of the first violation in a pan log (see the RUNS comment).
kind_of() {
  local line
  line=$(grep -m1 -E 'assertion violated|non-progress cycle|acceptance cycle|invalid end state' "$1")
  case "$line" in
    *non-progress*|*acceptance*) echo cycle ;;
    *"invalid end state"*) echo deadlock ;;
    *"prot["*) echo uaf ;;
    *"is_dummy["*) echo dummy ;;
    *"it_count["*|*"it_gone["*|*"it_vals["*) echo iter ;;
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

# The defines of a row's fifth column that are reductions (not -DSCENARIO_*),
# and those that pick a scenario.
scenario_free() { local d out=; for d in $1; do case "$d" in -DSCENARIO_*) ;; *) out="$out $d" ;; esac; done; echo "${out# }"; }
scenario_only() { local d out=; for d in $1; do case "$d" in -DSCENARIO_*) out="$out $d" ;; esac; done; echo "${out# }"; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs_since() { local d=$(( $(now_ms) - $1 )); printf '%d.%d' $((d / 1000)) $(((d % 1000) / 100)); }

# Runs one row; writes its table line to $dir/row and 1 to $dir/failed on
# failure. Rows run JOBS at a time (default: the number of cores, at most 2).
run_row() {
  local model=$1 mutant=$2 check=$3 expect=$4 dir=$5 extra=$6
  local defs=() cflags pflags start secs log states errors truncated what result reduced
  mkdir -p "$dir"
  cp "$work"/*.pml "$dir/"
  # -O0: pan.c of these models is large, and on a busy 2-core machine
  # gcc -O1 took minutes; unoptimised, compile plus search is faster.
  [ "$mutant" != - ] && defs=(-DMUTANT_"$mutant")
  [ -n "$extra" ] && defs+=($extra)
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
    "$CC" -O0 -w "${cflags[@]}" -DVECTORSZ=2048 -o pan pan.c >cc.log 2>&1 &&
    ./pan "${pflags[@]}" >pan.log 2>&1
  )
  secs=$(secs_since "$start")
  log="$dir/pan.log"
  states=$(grep -oE '^ *[0-9.e+]+ states, stored' "$log" 2>/dev/null | awk '{print $1}' | head -1)
  errors=$(grep -oE 'errors: [0-9]+' "$log" 2>/dev/null | awk '{print $2}' | head -1)
  truncated=$(grep -cE 'max search depth too small|Search not completed' "$log" 2>/dev/null)
  what=$(kind_of "$log" 2>/dev/null)
  if [ ! -f "$log" ] || [ -z "$errors" ]; then
    result="BUILD/RUN FAILED"; echo 1 >"$dir/failed"
    sed -n 1,20p "$dir"/spin.log "$dir"/cc.log "$log" 2>/dev/null >"$dir/why"
  elif [ "$mutant" = - ]; then
    if [ "$errors" = 0 ] && [ "$truncated" = 0 ]; then
      result="pass"
    elif [ "$errors" = 0 ]; then
      result="FAIL: search incomplete"; echo 1 >"$dir/failed"
    else
      result="FAIL: $what"; echo 1 >"$dir/failed"
      grep -m3 -E 'violated|cycle|invalid' "$log" >"$dir/why"
    fi
  else
    if [ "$errors" != 0 ] && [ "$what" = "$expect" ]; then
      result="caught: $what"
    elif [ "$errors" != 0 ]; then
      result="WRONG VIOLATION: $what"; echo 1 >"$dir/failed"
    else
      result="NOT CAUGHT"; echo 1 >"$dir/failed"
    fi
  fi
  reduced=$(scenario_free "$extra")
  [ -n "$reduced" ] && check="$check*"
  [ -n "$extra" ] && mutant="$mutant $extra"
  printf '%-18s %-29s %-9s %12s  %-26s %8s\n' "$model" "$mutant" "$check" "${states:--}" "$result" "$secs" >"$dir/row"
}

cores=$(nproc 2>/dev/null || echo 1)
JOBS=${JOBS:-$(( cores < 2 ? cores : 2 ))}
failed=0
rows=0
dirs=()
total_start=$(now_ms)
while read -r model mutant check expect extra; do
  [ -z "$model" ] && continue
  [ -n "$only" ] && [ "$model" != "$only" ] && continue
  if [ ! -f "$model.pml" ]; then
    echo "proofs: missing model promela/$model.pml" >&2; failed=1; continue
  fi
  rows=$((rows + 1))
  dir="$work/$rows-$model-$mutant-$check"
  dirs+=("$dir")
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  [ "${PROOFS_FULL:-0}" = 1 ] && extra=$(scenario_only "${extra:-}")
  run_row "$model" "$mutant" "$check" "$expect" "$dir" "${extra:-}" &
done <<<"$RUNS"
wait
printf '%-18s %-29s %-9s %12s  %-26s %8s\n' model mutant check states result seconds
printf '%-18s %-29s %-9s %12s  %-26s %8s\n' ------------------ ----------------------------- --------- ------------ -------------------------- --------
for dir in "${dirs[@]}"; do
  cat "$dir/row" 2>/dev/null || { echo "proofs: a run left no result ($dir)"; failed=1; }
  [ -f "$dir/why" ] && sed 's/^/    /' "$dir/why"
  [ -f "$dir/failed" ] && failed=1
done
printf '(* a reduced scenario: see the define in RUNS and the model header; PROOFS_FULL=1 runs the full one)\n'
printf 'total: %d runs in %s s\n' "$rows" "$(secs_since "$total_start")"
if [ "$failed" != 0 ]; then
  echo "proofs: FAILED (a model did not pass, or a mutant was not caught)" >&2
  exit 1
fi
echo "proofs: every model passed; every mutant was caught"
