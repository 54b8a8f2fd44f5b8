/*
 * HashMap's growth protocol (commit 5a1c364 + c462da5): the split-ordered
 * list with bucket dummies in the directory (src/hash_map/directory.rs:
 * lookup_start (probe, with the floor-bucket absent shortcut, then
 * prepare for an unlinked bucket), writer_start,
 * prepare, link, grow; src/hash_map/list.rs: search with its insertion
 * point ipred/isucc, walk/lookup, help_unlink, item, target;
 * src/hash_map/mod.rs: insert, replace, delete, tidy).
 *
 * Split-order keys are small integers: dummy D0 (bucket 0, the list head)
 * = 0, bucket-0 key 1, dummy D1 (bucket 1) = 2, bucket-1 keys 3 and 5. Map
 * keys are their split-order keys (no hash collisions). Element ids:
 * D0 = 1, D1 = 2 (dummies, never retired), n1 = 3 (key 1, value 0),
 * n3 = 4 (key 3, value 0), nA = 5 (key 5, value 1, process 0's),
 * nB = 6 (key 3, value 2, process 1's). A link word is (pointer, DUMMY
 * flag, dead tag): pointer << 3 | DUMMY << 2 | DELETED/REPLACED.
 *
 * Default scenario: floor 1 growing to 2 buckets. Initially size 1, entry
 * D0 LINKED, entry D1 untouched (0, next null), list D0 -> n1 -> n3 -> null.
 *   process 0 (A): grow(1) (the size CAS 1 -> 2); insert(5, 1): its
 *                  writer_start reads size 2 and prepares bucket 1: claims
 *                  entry 1 (CAS 0 -> CLAIMED; see below), prepares the parent (D0,
 *                  linked), searches from D0 for key 2's place, links D1
 *                  (CAS on ipred expecting isucc, retried after a new
 *                  search), stores LINKED, then searches from D1 and pushes
 *                  nA; or, if B claimed entry 1 first, starts from D0.
 *   process 1 (B): remove(1) (n1, whose successor is D1 once A linked it:
 *                  its DELETED word must keep the DUMMY flag; a failed
 *                  unlink is tidied); insert(3, 2) (replaces n3 by nB):
 *                  its writer_start reads size 1 (D0) or 2 (then it races A
 *                  for the claim: the winner links D1; the loser, or anyone
 *                  who sees CLAIMED, starts from the parent D0)
 *   process 2 (C): get(3); get(5) (key 5 absent until A's push), each via
 *                  lookup_start (size 1: D0; size 2: D1 if LINKED; if
 *                  untouched, C claims and links D1 itself, as a writer
 *                  does, and races A and B for the claim; if CLAIMED, the
 *                  parent D0; the shortcut cannot fire with floor 1) and
 *                  lookup's walk
 * -DSCENARIO_FLOOR2: floor 2, size 2 from the start (no growth), entry D1
 * untouched, list D0 -> n1 -> null (key 3 absent: with floor 2 a key-3
 * node implies a claimed D1). A: insert(5, 1); B: remove(1); insert(3, 2)
 * (a push); C: get(3); get(5), where lookup_start answers absent at once
 * when it loads entry 1 untouched (the shortcut, c462da5).
 *
 * Checked in every state reached (kinds as in check.sh):
 *   lin: every result against the ghost map at its LP (present: inside the
 *        LP's atomic step; absent: the key was absent at some moment of
 *        the operation);
 *   inv: after every successful CAS (and the LINKED store, and grow) the
 *        abstraction function: walking every link from D0, tagged or not,
 *        the live nodes are exactly the ghost map, at most one live node
 *        per key; the list is sorted (non-strictly) by split-order key; no
 *        cycle; no retired node reachable; a LINKED entry is in the list;
 *   dummy: a word's DUMMY flag is set iff it points at a dummy (G3 of
 *        hash_map.md, on every reachable word after every successful CAS);
 *        no dummy tagged dead or unlinked (G2); `item` never takes a dummy
 *        for a node or a node for a dummy;
 *   uaf: no node used after its ghost retirement unless protected, every
 *        pointer a CAS expects protected (common.pml);
 *   progress (pan -l): no non-progress cycle.
 *
 * Abstractions and reductions (as in hash_map.pml): one atomic step per
 * shared load or CAS; node payloads and dummy keys are immutable ghost
 * arrays (a dummy's key is read in the step that reached the dummy: the
 * word names the bucket, whose key is its reversed index); an unlink and
 * its retirement are one step; addresses are never reused; a fresh node's
 * private `next` store is merged into its publishing CAS (nothing reads a
 * private node; the dummy's private store in `link` stays a step of its
 * own, since two mutants make it visible); the size load and bucket 1's
 * entry load are one step (exact: see LOADS). Not modelled: directory
 * segments and grow's segment CAS (entry D1 exists, zeroed, from the
 * start), shrink, clear, iteration outside -DSCENARIO_ITER (below), the
 * rayon split, the len counters (A's grow is the
 * growth decision's CAS, taken unconditionally), hash collisions (so
 * search's pred is always ipred), memory orderings (spin is SC).
 * Bucket states: the code keeps a bucket's two state bits in a 64-bit word
 * shared with 31 other buckets and changes them only by fetch_or (claim:
 * the RMW that finds the CLAIMED bit clear wins; link: set LINKED). For
 * one bucket that is an atomic test-and-set and an atomic set, the steps
 * modelled here as the CAS 0 -> CLAIMED and the LINKED store on the
 * bucket's own state; the other buckets' RMWs change none of its bits, and
 * the orderings they keep (release sequences) are loom's to check.
 *
 * Mutants (each caught, in check.sh, as the kind after the arrow):
 *   MUTANT_DELETE_DROPS_DUMMY_FLAG  delete writes DELETED without the
 *                                   successor's DUMMY flag (the bug the
 *                                   history check found before 5a1c364
 *                                   was committed)             -> dummy
 *   MUTANT_TARGET_DROPS_DUMMY_FLAG  list::target clears every tag, DUMMY
 *                                   too: a walk or an unlink past a dead
 *                                   node before a dummy loses it -> dummy
 *   MUTANT_LINK_WITHOUT_CLAIM       prepare skips the claim CAS (a plain
 *                                   store), so two writers may both link
 *                                   D1 (a cycle D1 -> D1)       -> inv
 *   MUTANT_STALE_DUMMY_NEXT         link stores the dummy's next once,
 *                                   before its retry loop, not before each
 *                                   CAS: D1 linked to a retired node -> inv
 *   MUTANT_READER_USES_CLAIMED      lookup_start starts from an entry that
 *                                   is CLAIMED, not LINKED: it follows the
 *                                   claimer's private next, a node since
 *                                   replaced and retired        -> uaf
 *                                   (-DSCENARIO_FLOOR2: -> lin)
 *   MUTANT_READER_STOPS_AT_DUMMY    lookup answers absent at the first
 *                                   dummy instead of passing dummies of
 *                                   smaller key (a start from an ancestor)
 *                                                               -> lin
 *   MUTANT_SHORTCUT_ABOVE_FLOOR     lookup_start's absent shortcut taken at
 *                                   an untouched entry above the floor
 *                                   (n3 was linked under size 1) -> lin
 *   MUTANT_SHORTCUT_ON_CLAIMED      (-DSCENARIO_FLOOR2) the shortcut taken
 *                                   at an entry not LINKED instead of
 *                                   untouched: a writer that saw it CLAIMED
 *                                   linked key 3 from the parent -> lin
 * Not a bug, so not in check.sh: MUTANT_NO_ISUCC_RESET (search keeps
 * isucc after its own unlink at ipred). The linking CAS then expects the
 * unlinked node, which ipred can never hold again (nodes are never
 * relinked; its address cannot be reused under the thread's guard), so
 * the CAS fails and the operation searches again: one wasted CAS and pass,
 * no wrong link. Safety and progress both pass with it.
 *
 * -DNO_FLAG_CHECK compiles out the G3 flag assertion of check_abs, to see
 * what a dropped flag does next: with MUTANT_DELETE_DROPS_DUMMY_FLAG, C's
 * walk follows n1's DELETED word and takes D1 for a node (dummy).
 */

#if defined(SCENARIO_ITER_ADJACENT) && \
    (defined(SCENARIO_FLOOR2) || defined(SCENARIO_ITER_REPLACE_FIRST))
#error "SCENARIO_ITER_ADJACENT is a scenario of its own (size 1, no growth)"
#endif
#if defined(SCENARIO_ITER_REPLACE_FIRST) || defined(SCENARIO_ITER_ADJACENT)
#define SCENARIO_ITER
#endif
#define NP 3
#define NN 7
#define NK 6
#include "common.pml"

#define DEL 1
#define REP 2
#define PTR(w) ((w) >> 3)
#define TAG(w) ((w) & 3)
#define FLAG(w) (((w) >> 2) & 1)
#define MK(p, f, t) (((p) << 3) | ((f) << 2) | (t))
#define DEAD(w) (TAG(w) != 0)
#ifndef MUTANT_TARGET_DROPS_DUMMY_FLAG
#define TARGET(w) ((w) - TAG(w))
#else
#define TARGET(w) MK(PTR(w), 0, 0)
#endif

#ifdef SCENARIO_FLOOR2
#define FLOOR 2
#else
#define FLOOR 1
#endif
/* probe's absent shortcut at bucket 1, given its entry word dw */
#if defined(MUTANT_SHORTCUT_ABOVE_FLOOR)
#define SHORTCUT(dw) ((dw) == 0)
#elif defined(MUTANT_SHORTCUT_ON_CLAIMED)
#define SHORTCUT(dw) ((dw) != LINKED && 1 < FLOOR)
#else
#define SHORTCUT(dw) ((dw) == 0 && 1 < FLOOR)
#endif

#define D0 1
#define D1 2
#define CLAIMED 1
#define LINKED 2
/* a key's bucket under table size sz: key 1 is bucket 0, keys 3, 5 bucket 1 */
#define BUCKET(k, sz) (((k) == 1) -> 0 : (sz) - 1)

byte gi;
byte size;
byte nw[NN];            /* next word of every element (dummies too) */
byte skey[NN];          /* split-order key */
byte val[NN];
bool is_dummy[NN];
byte dstate[NN];        /* a dummy's entry state: 0, CLAIMED, LINKED */

/* The abstraction function and the invariants, after every successful CAS */
byte ca_c, ca_n, ca_k, ca_w, ca_d1, ca_f1, ca_f3, ca_f5;
inline check_abs() {
    ca_c = D0; ca_n = 0; ca_k = 0; ca_d1 = 0;
    ca_f1 = NONE; ca_f3 = NONE; ca_f5 = NONE;
    do
    :: ca_c == 0 -> break
    :: else ->
        assert(!retired[ca_c]);          /* a retired node is unreachable */
        assert(ca_n < NN);               /* no cycle */
        if
        :: ca_n >= NN -> break           /* (ends a replay's walk, too) */
        :: else -> skip
        fi;
        assert(skey[ca_c] >= ca_k);      /* sorted by split-order key */
        ca_k = skey[ca_c];
        ca_w = nw[ca_c];
        if
        :: is_dummy[ca_c] ->
            assert(!is_dummy[ca_c] || TAG(ca_w) == 0);  /* dummies never die */
            if
            :: ca_c == D1 -> ca_d1 = 1
            :: else -> skip
            fi
        :: !is_dummy[ca_c] && TAG(ca_w) == 0 && skey[ca_c] == 1 ->
            assert(ca_f1 == NONE); ca_f1 = val[ca_c]
        :: !is_dummy[ca_c] && TAG(ca_w) == 0 && skey[ca_c] == 3 ->
            assert(ca_f3 == NONE); ca_f3 = val[ca_c]
        :: !is_dummy[ca_c] && TAG(ca_w) == 0 && skey[ca_c] == 5 ->
            assert(ca_f5 == NONE); ca_f5 = val[ca_c]
        :: else -> skip
        fi;
#ifndef NO_FLAG_CHECK
        /* G3: the DUMMY flag says what the word points at */
        assert(PTR(ca_w) == 0 && FLAG(ca_w) == 0 ||
               PTR(ca_w) != 0 && is_dummy[PTR(ca_w)] == FLAG(ca_w));
#endif
        ca_c = PTR(ca_w); ca_n++
    od;
    assert(ca_f1 == amap[1] && ca_f3 == amap[3] && ca_f5 == amap[5]);
    assert(dstate[D1] != LINKED || ca_d1);   /* a LINKED entry is in the list */
    ca_c = 0; ca_n = 0; ca_k = 0; ca_w = 0; ca_d1 = 0;
    ca_f1 = 0; ca_f3 = 0; ca_f5 = 0
}

/* ---- -DSCENARIO_ITER: HashMap iteration in lanes (src/hash_map/lanes.rs) ----
 * Process C runs one iteration instead of its two gets, racing A's growth
 * and insert(5) and B's remove(1) and replace of 3. Lanes::new reads the
 * size: size 1 gives one lane (the whole list from D0); size 2 gives two,
 * the stretches of split-order keys [0, 2) (from D0) and [2, ..) (from
 * reader_start(1): D1 if LINKED, else the parent D0, whose nodes before the
 * stretch the lane skips). Each lane reads batches: Walk::step per element
 * (a dummy at or past the stretch's end, or a node at or past it, ends the
 * lane; at a dummy after LANE_BATCH elements the batch ends there and the
 * lane resumes from it in the next round, under a new guard; a node of the
 * stretch is collected; a dead run is followed only while it still hangs
 * off the last live predecessor, else the batch restarts from its dummy and
 * forgets what it collected). A round steps the lanes in turn, one element
 * each, until every lane's batch ended; its batches are then yielded.
 * Checked at the end (kind iter): no key yielded twice; a key present for
 * the whole iteration yielded once; a yielded value one the key held during
 * the iteration. Checked at each collection (kind lin), in the step of the
 * load that found the node live (LINEARIZATION(iter) in lanes.rs, as get's
 * untagged load): the value read is the key's ghost value at that instant.
 * Checked at each batch start and restart (kind dummy): the position the
 * pass begins at is a dummy. -DSCENARIO_ITER_REPLACE_FIRST: B replaces 3
 * before it removes 1, so a lane can collect n1, meet n3 replaced and
 * unlinked, and restart its batch with n1 still live (the case for
 * forgetting the abandoned pass).
 * -DSCENARIO_ITER_ADJACENT: no growth (size 1: one lane, from D0), the list
 * D0 -> n1 -> n3 -> nA (keys 1, 3, 5: no dummy between them), A: remove(3);
 * remove(5), B: remove(1). n1 and n3 can both be dead and still linked
 * when the lane meets them: a dead run of two, whose second node is
 * re-checked against the run's first (n1) at pred (D0). nA is there so
 * that the frozen link out of the run can name a node retired meanwhile
 * (A's remove(5), after n1 and n3 were unlinked); with n3 last, that link
 * is null and a lane that skips the second re-check ends harmlessly (tried:
 * MUTANT_ITER_CHECK_FIRST_ONLY then passes).
 * Mutants (-DSCENARIO_ITER unless another scenario is named):
 *   MUTANT_ITER_NO_LO_SKIP        a lane yields the nodes before its stretch
 *                                 (lane 1 started at D0)            -> iter
 *   MUTANT_ITER_NO_HI_STOP        a lane does not stop at a node past its
 *                                 stretch (D1 not linked yet)       -> iter
 *   MUTANT_ITER_NO_RECHECK        a lane follows a dead run without checking
 *                                 it still hangs off its predecessor -> uaf
 *   MUTANT_ITER_KEEPS_ABANDONED   a restarted batch keeps what the abandoned
 *                                 pass collected (-DSCENARIO_ITER_REPLACE_
 *                                 FIRST)                             -> iter
 *   MUTANT_ITER_CHECK_FIRST_ONLY  (-DSCENARIO_ITER_ADJACENT) only a dead
 *                                 run's first node is re-checked: the lane
 *                                 follows n3's frozen link to nA, retired
 *                                 after n1 and n3 were unlinked      -> uaf
 *   MUTANT_ITER_NO_RUN_START      (-DSCENARIO_ITER_ADJACENT, progress) the
 *                                 re-check expects curr, not the run's
 *                                 first node: at n3 (run n1, n3, n1 still
 *                                 linked) D0 never holds n3, so the lane
 *                                 restarts until a writer unlinks n1:
 *                                 with the writers stalled it never ends
 *                                 (not lock-free)                  -> cycle
 */
#ifdef SCENARIO_ITER
#define LANE_BATCH 2
#define L_MORE 0
#define L_BATCH 1
#define L_FIN 2
/* a key's index in the ghost arrays below: keys 1, 3, 5 */
#define KI(k) ((k) / 2)
bool it_on;
bool it_gone[3];        /* absent at some moment of the iteration */
byte it_vals[3];        /* bitmask of the values held during it */
byte it_count[3];       /* times yielded */
byte it_val[3];         /* the value yielded */
#endif

/* after every change of amap, inside the LP's atomic step */
inline note_iter() {
#ifdef SCENARIO_ITER
    if
    :: it_on ->
        gi = 0;
        do
        :: gi < 3 ->
            if
            :: amap[2 * gi + 1] == NONE -> it_gone[gi] = 1
            :: else -> it_vals[gi] = it_vals[gi] | (1 << amap[2 * gi + 1])
            fi;
            gi++
        :: else -> break
        od;
        gi = 0
    :: else -> skip
    fi
#else
    skip
#endif
}

/* protect what a word points at, if a node (dummies need no protection) */
#define NPROTECT(x) if :: !FLAG(x) -> PROTECT(PTR(x)) :: else -> skip fi

/* the holder of a link: a dummy (never retired) or a node to dereference */
#define HOLDER(h) if :: !is_dummy[h] -> DEREF(h) :: else -> skip fi

/* list::help_unlink(pred, node, target) */
inline help_unlink(pr, nd, tg) {
    d_step {
        assert(!is_dummy[nd]);           /* dummies are never unlinked (G2) */
        HOLDER(pr);
        EXPECT(nd);
        if
        :: nw[pr] == MK(nd, 0, 0) ->
            nw[pr] = tg; ok = 1;
            RETIRE(nd);
            check_abs()
        :: else -> ok = 0
        fi
    }
}

/* list::search(start, k): a writer's pass from the dummy st. Ends with
   s_found and (s_pred, s_node, s_next), or !s_found and (ipred, isucc). */
inline search(k) {
    s_done = 0;
    do
    :: s_done -> break
    :: else ->
        d_step { curr = nw[st]; NPROTECT(curr); s_pred = st; ipred = st; isucc = curr }
        do
        :: curr == 0 -> s_found = 0; s_done = 1; break
        :: curr != 0 && FLAG(curr) ->
            /* item(): a dummy; its key, then its next */
            d_step {
                assert(is_dummy[PTR(curr)]);
                if
                :: skey[PTR(curr)] > k -> s_found = 0; s_done = 1
                :: else ->
                    s_pred = PTR(curr); curr = nw[s_pred]; NPROTECT(curr);
                    ipred = s_pred; isucc = curr
                fi
            }
            if
            :: s_done -> break
            :: else -> skip
            fi
        :: curr != 0 && !FLAG(curr) ->
            d_step {
                assert(!is_dummy[PTR(curr)]);   /* item(): a node */
                DEREF(PTR(curr)); w = nw[PTR(curr)]; NPROTECT(w);
                kk = skey[PTR(curr)];
                if
                :: DEAD(w) -> tg = TARGET(w)
                :: !DEAD(w) && kk > k -> s_found = 0; s_done = 1
                :: !DEAD(w) && kk == k ->
                    s_found = 1; s_node = PTR(curr); s_next = w; s_done = 1
                :: !DEAD(w) && kk < k ->
                    s_pred = PTR(curr); curr = w; ipred = s_pred; isucc = curr
                fi;
                kk = 0
            }
            if
            :: s_done -> break
            :: !s_done && DEAD(w) ->
                help_unlink(s_pred, PTR(curr), tg);
                d_step {
                    if
                    :: ok ->
#ifndef MUTANT_NO_ISUCC_RESET
                        if
                        :: s_pred == ipred -> isucc = tg
                        :: else -> skip
                        fi;
#endif
                        curr = tg
                    :: else -> skip
                    fi;
                    tg = 0; w = 0
                }
                if
                :: !ok -> break                 /* restart the pass */
                :: else -> skip
                fi
            :: else -> w = 0
            fi
        od
    od;
    curr = 0; w = 0; kk = 0
}

/* directory.rs link(D1, 2, &D0.next): position, store_private, CAS, LINKED */
inline link() {
    lk_first = 1;
    do
    :: k0 = k; k = 2; s_st = st; st = D0;
        search(k);                       /* position(): never found */
        assert(!s_found);
        k = k0; st = s_st; k0 = 0; s_st = 0;
#ifdef MUTANT_STALE_DUMMY_NEXT
        if
        :: lk_first -> nw[D1] = isucc; lk_first = 0
        :: else -> skip
        fi;
#else
        nw[D1] = isucc;                  /* private until the CAS */
#endif
        d_step {
            HOLDER(ipred);
            if
            :: !FLAG(isucc) -> EXPECT(PTR(isucc))
            :: else -> skip
            fi;
            if
            :: nw[ipred] == isucc ->
                nw[ipred] = MK(D1, 1, 0); ok = 1; check_abs()
            :: else -> ok = 0
            fi
        }
        if
        :: ok -> break
        :: else -> skip
        fi
    od;
    skip;                                /* (spin: no break into a d_step) */
    d_step { dstate[D1] = LINKED; check_abs() }
    lk_first = 0; ipred = 0; isucc = 0; s_pred = 0
}

/* LOADS: the size load and the entry load of bucket 1 are one step. Exact,
   not a reduction: the entry is loaded only after a size of 2 was read,
   and the size never goes back to 1 (no shrink), so any state in which the
   separate entry load could run is one in which the merged step reads the
   same size. */

/* directory.rs prepare(1) at an entry loaded untouched: the claim (the
   fetch_or that finds CLAIMED clear), then link from the parent D0; a
   thread that loses the claim starts from the parent */
inline prepare1() {
#ifndef MUTANT_LINK_WITHOUT_CLAIM
    d_step {
        if
        :: dstate[D1] == 0 -> dstate[D1] = CLAIMED; ok = 1
        :: else -> ok = 0
        fi
    }
#else
    dstate[D1] = CLAIMED; ok = 1;
#endif
    if
    :: ok -> st = D0; link(); st = D1   /* prepare(parent) = D0 */
    :: else -> st = D0                 /* claimed by another */
    fi
}

/* directory.rs writer_start(hash) = prepare(hash & (size - 1)) */
inline writer_start(k) {
    d_step {
        b = BUCKET(k, size);
        if
        :: b != 0 -> dw = dstate[D1]        /* see LOADS below */
        :: else -> skip
        fi
    }
    if
    :: b == 0 -> st = D0
    :: else ->
        if
        :: dw == LINKED -> st = D1
        :: dw == 0 -> prepare1()
        :: else -> st = D0                     /* CLAIMED: the parent serves */
        fi
    fi;
    b = 0; dw = 0; ok = 0
}

/* directory.rs lookup_start(hash): probe (one load of the entry, with
   the absent shortcut); an entry found untouched above the floor is
   prepared as a writer's (`Probe::Unlinked => prepare(b)`) */
inline lookup_start(k) {
    d_step {
        b = BUCKET(k, size);
        if
        :: b != 0 -> dw = dstate[D1]        /* see LOADS below */
        :: else -> skip
        fi
    }
    if
    :: b == 0 -> st = D0
    :: else ->
        if
        :: dw == LINKED -> st = D1
#ifdef MUTANT_READER_USES_CLAIMED
        :: dw == CLAIMED -> st = D1
#endif
        :: dw != LINKED && SHORTCUT(dw) ->
            st = 0          /* absent for certain: the floor bucket untouched */
        :: dw == 0 && !SHORTCUT(dw) -> prepare1()
        :: else -> st = D0                     /* the parent */
        fi
    fi;
    b = 0; dw = 0; ok = 0
}

/* HashMap::get: lookup_start, then list::lookup (walk) */
inline get(k) {
    begin_op(k);
    pin();
    lookup_start(k);
    g_done = 0;
    if
    :: st == 0 ->
        /* LINEARIZATION(get): the entry load of the shortcut (probe) */
        assert(seen[me]); res = NONE; g_done = 1
    :: else -> skip
    fi;
    do
    :: g_done -> break
    :: else ->
        d_step { curr = nw[st]; NPROTECT(curr); pred = st; runs = 0 }
        do
        :: curr == 0 -> assert(seen[me]); res = NONE; g_done = 1; break
        :: curr != 0 && FLAG(curr) ->
            d_step {
                assert(is_dummy[PTR(curr)]);
#ifndef MUTANT_READER_STOPS_AT_DUMMY
                if
                :: skey[PTR(curr)] > k -> g_done = 1
                :: else ->
                    pred = PTR(curr); curr = nw[pred]; NPROTECT(curr); runs = 0
                fi
#else
                g_done = 1
#endif
            }
            if
            :: g_done -> assert(seen[me]); res = NONE; break
            :: else -> skip
            fi
        :: curr != 0 && !FLAG(curr) ->
            d_step {
                assert(!is_dummy[PTR(curr)]);   /* item(): a node */
                DEREF(PTR(curr)); w = nw[PTR(curr)]; NPROTECT(w);
                kk = skey[PTR(curr)];
                if
                :: !DEAD(w) && kk == k ->
                    /* LINEARIZATION(get): the untagged load */
                    assert(amap[k] == val[PTR(curr)]); res = val[PTR(curr)];
                    g_done = 1
                :: !DEAD(w) && kk > k ->
                    assert(seen[me]); res = NONE; g_done = 1
                :: !DEAD(w) && kk < k -> pred = PTR(curr); curr = w; runs = 0
                :: DEAD(w) -> skip
                fi;
                kk = 0;
                if
                :: !DEAD(w) -> w = 0
                :: else -> skip
                fi
            }
            if
            :: g_done -> break
            :: !g_done && DEAD(w) ->
                /* the dead run must still hang off pred (else restart) */
                d_step {
                    if
                    :: runs != 0 -> first = runs
                    :: else -> first = curr
                    fi;
                    HOLDER(pred); pw = nw[pred];
                    if
                    :: pw != first -> pw = 1
                    :: else -> pw = 0; runs = first; curr = TARGET(w)
                    fi;
                    first = 0; w = 0
                }
                if
                :: pw -> pw = 0; break           /* restart the pass */
                :: else -> skip
                fi
            :: else -> skip
            fi
        od
    od;
    curr = 0; w = 0; kk = 0; pred = 0; runs = 0; first = 0; pw = 0; st = 0;
    end_op()
}

#ifdef SCENARIO_ITER
/* a lane's batch forgets what it collected (a restart, a new batch) */
#define FORGET(L) ln_bufc[L * 3] = 0; ln_bufc[L * 3 + 1] = 0; ln_bufc[L * 3 + 2] = 0

/* Walk::step of lane L: one element (see the scenario's comment) */
inline lane_step(L) {
    if
    :: ln_curr[L] == 0 -> ln_end[L] = L_FIN      /* the end of the list */
    :: ln_curr[L] != 0 && FLAG(ln_curr[L]) ->
        d_step {
            assert(is_dummy[PTR(ln_curr[L])]);
            ln_read[L]++;
            if
            :: skey[PTR(ln_curr[L])] >= ln_hi[L] -> ln_end[L] = L_FIN
            :: skey[PTR(ln_curr[L])] < ln_hi[L] && ln_read[L] >= LANE_BATCH ->
                ln_end[L] = L_BATCH; ln_at[L] = PTR(ln_curr[L])
            :: else ->
                ln_pred[L] = PTR(ln_curr[L]); ln_curr[L] = nw[ln_pred[L]];
                NPROTECT(ln_curr[L]); ln_runs[L] = 0
            fi
        }
    :: ln_curr[L] != 0 && !FLAG(ln_curr[L]) ->
        d_step {
            assert(!is_dummy[PTR(ln_curr[L])]);   /* item(): a node */
            DEREF(PTR(ln_curr[L])); w = nw[PTR(ln_curr[L])]; NPROTECT(w);
            kk = skey[PTR(ln_curr[L])];
            if
            :: !DEAD(w) ->
                ln_read[L]++;
#ifndef MUTANT_ITER_NO_HI_STOP
                if
                :: kk >= ln_hi[L] -> ln_end[L] = L_FIN
                :: else ->
#endif
#ifndef MUTANT_ITER_NO_LO_SKIP
                    if
                    :: kk >= ln_lo[L] ->
#endif
                        assert(amap[kk] == val[PTR(ln_curr[L])]);
                        ln_bufc[L * 3 + KI(kk)]++;
                        ln_bufv[L * 3 + KI(kk)] = val[PTR(ln_curr[L])]
#ifndef MUTANT_ITER_NO_LO_SKIP
                    :: else -> skip
                    fi
#endif
                    ;
                    ln_pred[L] = PTR(ln_curr[L]); ln_curr[L] = w; ln_runs[L] = 0
#ifndef MUTANT_ITER_NO_HI_STOP
                fi
#endif
            :: DEAD(w) -> skip
            fi;
            kk = 0;
            if
            :: !DEAD(w) -> w = 0
            :: else -> skip
            fi
        }
        if
        :: DEAD(w) ->
            /* the dead run must still hang off pred (else restart) */
            d_step {
#ifndef MUTANT_ITER_NO_RUN_START
                if
                :: ln_runs[L] != 0 -> first = ln_runs[L]
                :: else -> first = ln_curr[L]
                fi;
#else
                first = ln_curr[L];                 /* not the run's first */
#endif
                HOLDER(ln_pred[L]); pw = nw[ln_pred[L]];
#ifdef MUTANT_ITER_NO_RECHECK
                pw = first;
#endif
#ifdef MUTANT_ITER_CHECK_FIRST_ONLY
                if
                :: ln_runs[L] != 0 -> pw = first   /* a later node: unchecked */
                :: else -> skip
                fi;
#endif
                if
                :: pw != first ->
                    /* restart the batch from its dummy */
#ifndef MUTANT_ITER_KEEPS_ABANDONED
                    FORGET(L);
#endif
                    assert(is_dummy[ln_at[L]]);
                    ln_pred[L] = ln_at[L]; ln_curr[L] = nw[ln_at[L]];
                    NPROTECT(ln_curr[L]); ln_runs[L] = 0; ln_read[L] = 0
                :: else -> ln_runs[L] = first; ln_curr[L] = TARGET(w)
                fi;
                first = 0; pw = 0; w = 0
            }
        :: else -> skip
        fi
    fi
}

/* a batch's start at its dummy, under the round's guard */
inline lane_begin(L) {
    d_step {
        assert(is_dummy[ln_at[L]]);
        ln_pred[L] = ln_at[L]; ln_curr[L] = nw[ln_at[L]]; NPROTECT(ln_curr[L]);
        ln_runs[L] = 0; ln_read[L] = 0; FORGET(L); ln_end[L] = L_MORE
    }
}

/* the round's end: lane L's batch is yielded */
inline lane_yield(L) {
    d_step {
        gi = 0;
        do
        :: gi < 3 ->
            if
            :: ln_bufc[L * 3 + gi] != 0 ->
                it_count[gi] = it_count[gi] + ln_bufc[L * 3 + gi];
                it_val[gi] = ln_bufv[L * 3 + gi]
            :: else -> skip
            fi;
            gi++
        :: else -> break
        od;
        gi = 0; FORGET(L);
        if
        :: ln_end[L] == L_FIN -> ln_live[L] = 0
        :: else -> skip
        fi
    }
}

/* HashMap::iter to the end (Iter::next, Lanes::new, Lanes::read_round) */
inline iterate() {
    d_step {
        it_on = 1;
        gi = 0;
        do
        :: gi < 3 ->
            if
            :: amap[2 * gi + 1] == NONE -> it_gone[gi] = 1
            :: else -> it_vals[gi] = 1 << amap[2 * gi + 1]
            fi;
            gi++
        :: else -> break
        od;
        gi = 0;
        /* Lanes::new: the size */
        ln_lo[0] = 0; ln_at[0] = D0; ln_live[0] = 1;
        if
        :: size == 1 -> ln_hi[0] = 255; ln_live[1] = 0
        :: else -> ln_hi[0] = 2; ln_lo[1] = 2; ln_hi[1] = 255; ln_live[1] = 1
        fi
    }
    /* lane 1's start: reader_start(1), one load of the entry */
    d_step {
        if
        :: ln_live[1] && dstate[D1] == LINKED -> ln_at[1] = D1
        :: ln_live[1] && dstate[D1] == 0 && 1 < FLOOR -> ln_live[1] = 0
        :: ln_live[1] && !(dstate[D1] == LINKED) && !(dstate[D1] == 0 && 1 < FLOOR) ->
            ln_at[1] = D0
        :: else -> skip
        fi
    }
    do
    :: !ln_live[0] && !ln_live[1] -> break
    :: else ->
        skip;                            /* (spin: no jump into a d_step) */
        pin();
        if
        :: ln_live[0] -> lane_begin(0)
        :: else -> ln_end[0] = L_FIN
        fi;
        if
        :: ln_live[1] -> lane_begin(1)
        :: else -> ln_end[1] = L_FIN
        fi;
        do
        :: ln_end[0] != L_MORE && ln_end[1] != L_MORE -> break
        :: else ->
            if
            :: ln_end[0] == L_MORE -> lane_step(0)
            :: else -> skip
            fi;
            if
            :: ln_end[1] == L_MORE -> lane_step(1)
            :: else -> skip
            fi
        od;
        if
        :: ln_live[0] -> lane_yield(0)
        :: else -> skip
        fi;
        if
        :: ln_live[1] -> lane_yield(1)
        :: else -> skip
        fi
    od;
    skip;
    d_step {
        gi = 0;
        do
        :: gi < 3 ->
            assert(it_count[gi] <= 1);                      /* no key twice */
            assert(it_gone[gi] || it_count[gi] == 1);       /* none lost */
            assert(it_count[gi] == 0 || (it_vals[gi] & (1 << it_val[gi])));
            gi++
        :: else -> break
        od;
        gi = 0; it_on = 0
    }
}
#endif

/* HashMap::tidy: one more writer's search of the key */
inline tidy(k) {
    writer_start(k);
    search(k)
}

/* HashMap::remove (remove_if accepting): search, delete */
inline remove(k) {
    begin_op(k);
    do
    :: pin();
        writer_start(k);
        search(k);
        if
        :: !s_found -> assert(seen[me]); res = NONE; break
        :: else ->
            d_step {
                DEREF(s_node);
                if
                :: !FLAG(s_next) -> EXPECT(PTR(s_next))
                :: else -> skip
                fi;
                if
                :: nw[s_node] == s_next ->
                    /* LINEARIZATION(remove): the DELETED tag */
#ifndef MUTANT_DELETE_DROPS_DUMMY_FLAG
                    nw[s_node] = s_next | DEL;
#else
                    nw[s_node] = MK(PTR(s_next), 0, DEL);
#endif
                    ok = 1;
                    assert(amap[k] == val[s_node]); res = val[s_node];
                    amap[k] = NONE; note_absent(); note_iter();
                    check_abs()
                :: else -> ok = 0
                fi
            }
            if
            :: ok ->
                help_unlink(s_pred, s_node, s_next);
                if
                :: !ok -> tidy(k)
                :: else -> skip
                fi;
                break
            :: else -> skip
            fi
        fi
    od;
    end_op()
}

/* HashMap::insert(k, v) with the pending node n: push or replace */
inline insert(k, v, n) {
    begin_op(k);
    do
    :: pin();
        writer_start(k);
        search(k);
        if
        :: !s_found ->
            d_step {
                nw[n] = isucc;              /* private until this CAS */
                HOLDER(ipred);
                if
                :: !FLAG(isucc) -> EXPECT(PTR(isucc))
                :: else -> skip
                fi;
                if
                :: nw[ipred] == isucc ->
                    /* LINEARIZATION(insert): the push of a new key */
                    nw[ipred] = MK(n, 0, 0); published[n] = 1; ok = 1;
                    assert(amap[k] == NONE); res = NONE;
                    amap[k] = v; note_absent(); note_iter(); check_abs()
                :: else -> ok = 0
                fi
            }
            if
            :: ok -> break
            :: else -> skip
            fi
        :: else ->
            d_step {
                nw[n] = s_next;             /* private until this CAS */
                DEREF(s_node);
                if
                :: !FLAG(s_next) -> EXPECT(PTR(s_next))
                :: else -> skip
                fi;
                if
                :: nw[s_node] == s_next ->
                    /* LINEARIZATION(insert): the REPLACED tag */
                    nw[s_node] = MK(n, 0, REP); published[n] = 1; ok = 1;
                    assert(amap[k] == val[s_node]); res = val[s_node];
                    amap[k] = v; note_absent(); note_iter(); check_abs()
                :: else -> ok = 0
                fi
            }
            if
            :: ok ->
                help_unlink(s_pred, s_node, MK(n, 0, 0));
                if
                :: !ok -> tidy(k)
                :: else -> skip
                fi;
                break
            :: else -> skip
            fi
        fi
    od;
    end_op()
}

/* Directory::grow(1): the size CAS (the segment is not modelled) */
inline grow() {
    d_step {
        if
        :: size == 1 -> size = 2; check_abs()
        :: else -> skip
        fi
    }
}

proctype Thread(byte me) {
    byte op, res, ok, w, kk, curr, pred, runs, first, pw, g_done;
    byte s_done, s_found, s_pred, s_node, s_next, ipred, isucc, tg;
    byte st, s_st, b, dw, k, k0, lk_first;
#ifdef SCENARIO_ITER
    /* the iterator's lanes (process C) */
    byte ln_lo[2], ln_hi[2], ln_at[2], ln_pred[2], ln_curr[2], ln_runs[2];
    byte ln_read[2], ln_end[2], ln_bufc[6], ln_bufv[6];
    bool ln_live[2];
#endif
    do
    :: op == 2 -> break
    :: else ->
        if
#if defined(SCENARIO_ITER_ADJACENT)
        :: me == 0 && op == 0 -> k = 3; remove(k)
        :: me == 0 && op == 1 -> k = 5; remove(k)
        :: me == 1 && op == 0 -> k = 1; remove(k)
        :: me == 1 && op == 1 -> skip
#else
#ifndef SCENARIO_FLOOR2
        :: me == 0 && op == 0 -> grow()
#else
        :: me == 0 && op == 0 -> skip
#endif
        :: me == 0 && op == 1 -> k = 5; insert(k, 1, 5)
#ifndef SCENARIO_ITER_REPLACE_FIRST
        :: me == 1 && op == 0 -> k = 1; remove(k)
        :: me == 1 && op == 1 -> k = 3; insert(k, 2, 6)
#else
        :: me == 1 && op == 0 -> k = 3; insert(k, 2, 6)
        :: me == 1 && op == 1 -> k = 1; remove(k)
#endif
#endif
#ifndef SCENARIO_ITER
        :: me == 2 && op == 0 -> k = 3; get(k)
        :: me == 2 && op == 1 -> k = 5; get(k)
#else
        :: me == 2 && op == 0 -> iterate()
        :: me == 2 && op == 1 -> skip
#endif
        fi;
        d_step {
            res = 0; ok = 0; g_done = 0; k = 0; st = 0;
            s_done = 0; s_found = 0; s_pred = 0; s_node = 0; s_next = 0;
            ipred = 0; isucc = 0; tg = 0;
            op++
        }
progress:
        skip
    od
}

init {
    d_step {
        is_dummy[D0] = 1; is_dummy[D1] = 1;
        skey[D0] = 0; skey[D1] = 2;
        dstate[D0] = LINKED; dstate[D1] = 0;
        owner[D0] = NP; owner[D1] = NP; published[D0] = 1; published[D1] = 1;
        skey[3] = 1; val[3] = 0; owner[3] = NP; published[3] = 1;
        skey[4] = 3; val[4] = 0; owner[4] = NP; published[4] = 1;
        skey[5] = 5; val[5] = 1; owner[5] = 0;
        skey[6] = 3; val[6] = 2; owner[6] = 1;
        amap[0] = NONE; amap[1] = 0; amap[2] = NONE; amap[3] = 0;
        amap[4] = NONE; amap[5] = NONE;
        nw[D0] = MK(3, 0, 0); nw[3] = MK(4, 0, 0); nw[4] = 0;
#ifdef SCENARIO_ITER_ADJACENT
        /* D0 -> n1 -> n3 -> nA: key 5 present from the start */
        nw[4] = MK(5, 0, 0); owner[5] = NP; published[5] = 1; amap[5] = 1;
#endif
#ifndef SCENARIO_FLOOR2
        size = 1
#else
        size = 2; nw[3] = 0; published[4] = 0; amap[3] = NONE
#endif
    }
    atomic {
        run Thread(0); run Thread(1); run Thread(2)
    }
}
