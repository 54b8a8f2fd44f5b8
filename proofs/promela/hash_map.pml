/*
 * HashMap's bucket list (src/hash_map/list.rs, src/hash_map/mod.rs):
 * a Harris-Michael list with DELETED / REPLACED tags on `next`, helping
 * unlinks that restart from the head on failure, copy-on-write replacement,
 * and the reader's `walk` that follows dead runs after re-checking that the
 * run is still attached to its live predecessor.
 *
 * One bucket (every key collides), keys {0, 1}, values {0, 1, 2}.
 * Initial chain: head -> n1(k1, v0) -> n2(k0, v0).
 *   process 0: get(0); get(1)                       (list::walk)
 *   process 1: remove(1); get_or_insert(1, v1)      (mod.rs claim, node n3)
 *   process 2: remove(0); insert(1, v2)             (push or replace, node n4)
 *
 * Checked in every state reached: every operation's result against the
 * ghost abstract map at its linearization point (present: an assertion in
 * the LP's atomic step; absent: the map lacked the key at some moment of
 * the operation); the abstraction function (every reachable live node's
 * value equals the ghost map, at most one live node per key) after every
 * successful CAS; retired nodes unreachable; no node used after its
 * retirement unless protected (common.pml). Progress: `pan -l` finds no
 * cycle (with finitely many operations, any cycle would be a retry loop
 * that makes no operation complete).
 *
 * Mutants (each must fail):
 *   MUTANT_SKIP_DEAD_RUN_RECHECK   walk follows a dead node's frozen next
 *                                  without re-checking its predecessor
 *   MUTANT_READ_OWN_AFTER_PUBLISH  claim clones its node's value after the
 *                                  push (issue 7 bug 1)
 *   MUTANT_PUSH_NO_RESCAN          a failed push retries against the new
 *                                  head without searching again
 *   MUTANT_RETIRE_AT_TAG           remove retires its node at the DELETED
 *                                  tag instead of after the unlink
 *   MUTANT_READER_RESTARTS_AT_DEAD walk restarts at every dead node instead
 *                                  of following it, so it waits for the
 *                                  remover's unlink (progress: a cycle)
 */

#define NP 3
#define NN 5
#define NK 2
#include "common.pml"

#define DEL 1
#define REP 2
#define PTR(w) ((w) >> 2)
#define TAG(w) ((w) & 3)
#define MK(p, t) (((p) << 2) | (t))

byte gi;
byte head;
byte nw[NN];            /* each node's next word: pointer << 2 | tag */
byte key[NN];
byte val[NN];
byte done_ops;

/* The abstraction function, checked after every successful CAS: walk the
   chain from the head through every link, tagged or not. */
byte ca_c, ca_n, ca_f0, ca_f1;
inline check_abs() {
    ca_c = head; ca_n = 0; ca_f0 = NONE; ca_f1 = NONE;
    do
    :: ca_c == 0 -> break
    :: else ->
        assert(!retired[ca_c]);          /* a retired node is unreachable */
        assert(ca_n < NN);               /* no cycle */
        if
        :: TAG(nw[ca_c]) == 0 && key[ca_c] == 0 ->
            assert(ca_f0 == NONE); ca_f0 = val[ca_c]
        :: TAG(nw[ca_c]) == 0 && key[ca_c] == 1 ->
            assert(ca_f1 == NONE); ca_f1 = val[ca_c]
        :: else -> skip
        fi;
        ca_c = PTR(nw[ca_c]); ca_n++
    od;
    assert(ca_f0 == amap[0] && ca_f1 == amap[1]);
    ca_c = 0; ca_n = 0; ca_f0 = 0; ca_f1 = 0
}

/* help_unlink(pred, node, target): CAS pred's link node -> target. */
inline help_unlink(pr, nd, tg) {
    d_step {
        if
        :: pr != 0 -> DEREF(pr)
        :: else -> skip
        fi;
        EXPECT(nd);
        if
        :: pr == 0 && head == nd -> head = tg; ok = 1
        :: pr != 0 && nw[pr] == MK(nd, 0) -> nw[pr] = MK(tg, 0); ok = 1
        :: else -> ok = 0
        fi;
        if
        :: ok ->
#ifndef MUTANT_RETIRE_AT_TAG
            RETIRE(nd);
#else
            if
            :: TAG(nw[nd]) == REP -> RETIRE(nd)
            :: else -> skip   /* a removed node was retired at its tag */
            fi;
#endif
            check_abs()
        :: else -> skip
        fi
    }
}

/* list::search: a writer's pass; unlinks every dead node it meets,
   restarts from the head when an unlink fails. */
inline search(k) {
    s_done = 0;
    do
    :: s_done -> break
    :: else ->
        d_step { s_head = head; PROTECT(s_head) }
        s_pred = 0; curr = s_head;
        do
        :: curr == 0 -> s_found = 0; s_done = 1; break
        :: else ->
            d_step {
                DEREF(curr); w = nw[curr]; PROTECT(PTR(w)); kk = key[curr];
                lp_ok = (TAG(w) == 0 && kk == k && amap[k] == val[curr])
            }
            if
            :: TAG(w) != 0 ->
                help_unlink(s_pred, curr, PTR(w));
                if
                :: ok ->
                    if
                    :: s_pred == 0 -> s_head = PTR(w)
                    :: else -> skip
                    fi;
                    curr = PTR(w)
                :: else -> break        /* restart the pass */
                fi
            :: TAG(w) == 0 && kk == k ->
                s_found = 1; s_node = curr; s_next = w; s_done = 1; break
            :: else -> s_pred = curr; curr = PTR(w)
            fi
        od
    od;
    curr = 0; w = 0; kk = 0
}

/* list::walk, as lookup: writes nothing. */
inline get(k) {
    begin_op(k);
    pin();
    g_done = 0;
    do
    :: g_done -> break
    :: else ->
        d_step { curr = head; PROTECT(curr) }
        pred = 0; runs = 0;
        do
        :: curr == 0 -> assert(seen[me]); res = NONE; g_done = 1; break
        :: else ->
            d_step {
                DEREF(curr); w = nw[curr]; PROTECT(PTR(w)); kk = key[curr];
                if
                :: TAG(w) == 0 && kk == k ->
                    /* LINEARIZATION(get): the untagged load */
                    assert(amap[k] == val[curr]); res = val[curr]
                :: else -> skip
                fi
            }
            if
            :: TAG(w) == 0 && kk == k -> g_done = 1; break
            :: TAG(w) == 0 && kk != k -> pred = curr; curr = PTR(w); runs = 0
#ifdef MUTANT_READER_RESTARTS_AT_DEAD
            :: else -> break
#else
            :: else ->
                if
                :: runs != 0 -> first = runs
                :: else -> first = curr
                fi;
#ifndef MUTANT_SKIP_DEAD_RUN_RECHECK
                d_step {
                    if
                    :: pred != 0 -> DEREF(pred); pw = nw[pred]
                    :: else -> pw = MK(head, 0)
                    fi
                }
                if
                :: pw != MK(first, 0) -> break  /* restart the pass */
                :: else -> skip
                fi;
#endif
                runs = first; curr = PTR(w)
#endif
            fi
        od
    od;
    curr = 0; w = 0; kk = 0; pred = 0; runs = 0; first = 0; pw = 0;
    end_op()
}

/* HashMap::remove (remove_if with an accepting predicate) */
inline remove(k) {
    begin_op(k);
    do
    :: pin();
        search(k);
        if
        :: !s_found -> assert(seen[me]); res = NONE; break
        :: else ->
            d_step {
                DEREF(s_node); EXPECT(PTR(s_next));
                if
                :: nw[s_node] == s_next ->
                    /* LINEARIZATION(remove): the DELETED tag */
                    nw[s_node] = MK(PTR(s_next), DEL); ok = 1;
                    assert(amap[k] == val[s_node]); res = val[s_node];
                    amap[k] = NONE; note_absent();
#ifdef MUTANT_RETIRE_AT_TAG
                    RETIRE(s_node);
#endif
                    check_abs()
                :: else -> ok = 0
                fi
            }
            if
            :: ok ->
                help_unlink(s_pred, s_node, PTR(s_next));
                if
                :: !ok -> search(k)        /* tidy */
                :: else -> skip
                fi;
                break
            :: else -> skip
            fi
        fi
    od;
    end_op()
}

/* HashMap::insert, with the pending node n */
inline insert(k, v, n) {
    begin_op(k);
    do
    :: pin();
        search(k);
        if
        :: !s_found ->
push_again:
            nw[n] = MK(s_head, 0);          /* private */
            d_step {
                EXPECT(s_head);
                if
                :: head == s_head ->
                    /* LINEARIZATION(insert): the push of a new key */
                    head = n; published[n] = 1; ok = 1;
                    assert(amap[k] == NONE); res = NONE;
                    amap[k] = v; note_absent(); check_abs()
                :: else -> ok = 0
#ifdef MUTANT_PUSH_NO_RESCAN
                    ; s_head = head; PROTECT(s_head)
#endif
                fi
            }
            if
            :: ok -> break
#ifdef MUTANT_PUSH_NO_RESCAN
            :: else -> goto push_again
#else
            :: else -> skip
#endif
            fi
        :: else ->
            nw[n] = MK(PTR(s_next), 0);     /* private */
            d_step {
                DEREF(s_node); EXPECT(PTR(s_next));
                if
                :: nw[s_node] == s_next ->
                    /* LINEARIZATION(insert): the REPLACED tag */
                    nw[s_node] = MK(n, REP); published[n] = 1; ok = 1;
                    assert(amap[k] == val[s_node]); res = val[s_node];
                    amap[k] = v; note_absent(); check_abs()
                :: else -> ok = 0
                fi
            }
            if
            :: ok ->
                help_unlink(s_pred, s_node, n);
                if
                :: !ok -> search(k)        /* tidy */
                :: else -> skip
                fi;
                break
            :: else -> skip
            fi
        fi
    od;
    end_op()
}

/* HashMap::claim (get_or_insert(k, v)), with the pending node n */
inline claim(k, v, n) {
    begin_op(k);
    do
    :: pin();
        search(k);
        if
        :: s_found ->
            /* LINEARIZATION(insert_if_absent), present: the search's load */
            assert(lp_ok);
            d_step { DEREF(s_node); res = val[s_node] }
            break
        :: else ->
            nw[n] = MK(s_head, 0);          /* private */
#ifndef MUTANT_READ_OWN_AFTER_PUBLISH
            d_step { DEREF(n); res = val[n] }   /* on_insert, still private */
#endif
            d_step {
                EXPECT(s_head);
                if
                :: head == s_head ->
                    /* LINEARIZATION(insert_if_absent): the push */
                    head = n; published[n] = 1; ok = 1;
                    assert(amap[k] == NONE);
                    amap[k] = v; note_absent(); check_abs()
                :: else -> ok = 0
                fi
            }
            if
            :: ok ->
#ifdef MUTANT_READ_OWN_AFTER_PUBLISH
                d_step { DEREF(n); res = val[n] }
#endif
                break
            :: else -> skip
            fi
        fi
    od;
    end_op()
}

proctype Thread(byte me) {
    byte op, res, ok, w, kk, curr, pred, runs, first, pw, g_done, lp_ok;
    byte s_done, s_found, s_head, s_pred, s_node, s_next;
    do
    :: op == 2 -> break
    :: else ->
        if
        :: me == 0 && op == 0 -> get(0)
        :: me == 0 && op == 1 -> get(1)
        :: me == 1 && op == 0 -> remove(1)
        :: me == 1 && op == 1 -> claim(1, 1, 3)
        :: me == 2 && op == 0 -> remove(0)
        :: me == 2 && op == 1 -> insert(1, 2, 4)
        fi;
        d_step {
            res = 0; ok = 0; lp_ok = 0; g_done = 0;
            s_done = 0; s_found = 0; s_head = 0; s_pred = 0; s_node = 0; s_next = 0;
            op++
        }
progress:
        skip
    od
}

init {
    d_step {
        key[1] = 1; val[1] = 0; nw[1] = MK(2, 0);
        key[2] = 0; val[2] = 0; nw[2] = MK(0, 0);
        head = 1; published[1] = 1; published[2] = 1;
        owner[1] = NP; owner[2] = NP;
        key[3] = 1; val[3] = 1; owner[3] = 1;
        key[4] = 1; val[4] = 2; owner[4] = 2;
        amap[0] = 0; amap[1] = 0
    }
    atomic {
        run Thread(0); run Thread(1); run Thread(2)
    }
}
