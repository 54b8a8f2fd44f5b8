/*
 * HopscotchMap's migration copy step (src/hopscotch/resize.rs: settle,
 * copy, publish_and_decide, show_decided; table/reserve.rs: reserve,
 * withdraw, show_copy; the per-slot tables of docs/hopscotch.md "Copying an
 * entry exactly once", commit 40004c0), in the new table's slot mode.
 *
 * One old source slot `src` (key 0's entry, home already frozen: the home
 * word is not modelled), one new home with three slots ns[0..2] (H = 3, so that three
 * publications fit) and
 * its home word nhw = counter * 8 + bits. Ids: X = 1 (key 0, value 10),
 * X' = 5 (key 0, value 11), descriptors 2, 3, 4 (one per process).
 *   process 0, 1: copiers of the chunk (settle + copy)
 *   process 2:    insert(0, X') as an update, first in the old table (it
 *                 may run before the freeze), else after helping the copy,
 *                 in the new table; then remove(0) in the new table
 *
 * Checked: results against the ghost map at their LPs; after every
 * successful CAS the abstraction function (the key's entry is the old
 * table's until the source is COPIED, then the new table's committed LIVE
 * entry; at most one there; every LIVE slot committed) and retirements;
 * no entry or descriptor used after retirement unless protected; every
 * reservation withdrawn by its owner succeeds. Progress: no cycle.
 *
 * -DNO_REMOVE drops the remove (check.sh's default progress run: the full
 * scenario's progress search took 27.6 M states, 2 GB and 4 minutes here;
 * PROOFS_FULL=1 bash proofs/check.sh runs it).
 *
 * Mutants:
 *   MUTANT_FORGET_FREEZE             settle copies a LIVE entry without
 *                                    freezing it, then stores COPIED
 *   MUTANT_SHARED_RESERVATION_WORD   the copy protocol before 40004c0: the
 *                                    copier reserves with the entry's own
 *                                    word x|PENDING, checks the source, and
 *                                    commits with the home word from its
 *                                    search (issue 7 bug 3)
 * NOT MODELLED HERE: the overflow-list path of the copy (the new home in
 * overflow mode: a copier's fresh node pushed by an unversioned head CAS)
 * and so issue 7 bug 2 (MUTANT_CHECK_BEFORE_UNVERSIONED_CAS): that is
 * migration_overflow.pml. Nowhere: a full neighbourhood (Reserve::Full);
 * the old home word and its freeze; readers.
 */

#define NP 3
#define NN 6
#define NK 1
#include "common.pml"

#define H 3
#define LIVE 0
#define DELETED 1
#define PENDING 2
#define MOVE 3
#define HOLE 5
#define FROZEN 6
#define COPIED 7
#define SP(w) ((w) >> 3)
#define ST(w) ((w) & 7)
#define MKS(p, t) (((p) << 3) | (t))
#define BUMP(x) assert(x < 248); x = x + 8

byte gi;
byte src;                   /* the old source slot */
byte ns[H];                 /* the new home's slots */
byte nhw;                   /* the new home's word */
byte eVal[NN];
byte cEntry[NN];            /* a copy descriptor's entry */

byte ca_i, ca_n, ca_p;
inline check_abs() {
    ca_p = NONE; ca_n = 0; ca_i = 0;
    do
    :: ca_i == H -> break
    :: else ->
        if
        :: ST(ns[ca_i]) == LIVE && SP(ns[ca_i]) != 0 ->
            assert((nhw & (1 << ca_i)) != 0);   /* a LIVE entry is committed */
            ca_n++; ca_p = SP(ns[ca_i])
        :: else -> skip
        fi;
        if
        :: (nhw & (1 << ca_i)) != 0 -> assert(ns[ca_i] != 0)
        :: else -> skip
        fi;
        ca_i++
    od;
    assert(ca_n <= 1);                           /* one entry per key */
    if
    :: ST(src) == LIVE || ST(src) == FROZEN -> ca_p = SP(src)
    :: ST(src) == MOVE -> ca_p = cEntry[SP(src)]
    :: ST(src) == DELETED -> ca_p = NONE
    :: ST(src) == COPIED -> skip
    :: else -> assert(false)
    fi;
    if
    :: ca_p == NONE || ca_p == 0 -> assert(amap[0] == NONE)
    :: else -> assert(amap[0] == eVal[ca_p])
    fi;
    ca_i = 0; ca_n = 0; ca_p = 0
}

/* new-table search of home 0 for key 0 (every entry here is key 0):
   s_kind 1 found LIVE at s_idx (entry s_ent), 0 absent at word s_w.
   Shows a committed PENDING, releases a DELETED entry. */
inline search_new() {
    s_done = 0;
    do
    :: s_done -> break
    :: else ->
        atomic { s_w = nhw }
        si = 0; again = 0;
        do
        :: si == H -> break
        :: si < H && (s_w & (1 << si)) == 0 -> si++
        :: si < H && (s_w & (1 << si)) != 0 ->
            atomic { sv = ns[si]; PROTECT(SP(sv)) }
            if
            :: ST(sv) == LIVE && SP(sv) != 0 ->
                s_kind = 1; s_idx = si; s_ent = SP(sv); s_done = 1; break
            :: ST(sv) == PENDING ->
                atomic {
                    if
                    :: nhw == s_w && ns[si] == sv ->
                        /* show a committed insert (old protocol's copy) */
                        ns[si] = MKS(SP(sv), LIVE); check_abs()
                    :: else -> skip
                    fi
                }
                again = 1; break
            :: ST(sv) == DELETED ->
                release(si, SP(sv)); again = 1; break
            :: else -> si++
            fi
        od;
        if
        :: again || s_done -> skip
        :: else ->
            atomic {
                if
                :: nhw == s_w -> s_kind = 0; s_done = 1
                :: else -> skip
                fi
            }
        fi
    od;
    si = 0; sv = 0; again = 0
}

inline release(i, e) {
    do
    :: atomic { rl_w = nhw }
        atomic { rl_ok = (ns[i] == MKS(e, DELETED)) }
        if
        :: !rl_ok -> break
        :: (rl_w & (1 << i)) == 0 ->
            atomic {
                if
                :: ns[i] == MKS(e, DELETED) -> ns[i] = 0; RETIRE(e); check_abs()
                :: else -> skip
                fi
            }
            break
        :: else ->
            atomic {
                if
                :: nhw == rl_w -> nhw = rl_w & ~(1 << i); BUMP(nhw); check_abs()
                :: else -> skip
                fi
            }
        fi
    od;
    rl_w = 0; rl_ok = 0
}

/* reserve a free slot of the new home for word `pw`: r_at (NONE: full) */
inline reserve(pw) {
    r_at = NONE; ri = 0;
    do
    :: ri == H -> break
    :: else ->
        atomic {
            if
            :: ns[ri] == 0 -> ns[ri] = pw; r_at = ri
            :: else -> skip
            fi
        }
        if
        :: r_at != NONE -> break
        :: else -> ri++
        fi
    od;
    ri = 0
}

inline withdraw(i, pw) {
    atomic {
        /* "a copier's publication was written by another thread" */
        assert(ns[i] == pw);
        ns[i] = 0; check_abs()
    }
}

#ifndef MUTANT_SHARED_RESERVATION_WORD
/* publish_and_decide + show_decided, until the source is COPIED */
inline copy() {
    do
    :: atomic { cw = src; PROTECT(SP(cw)) }
        if
        :: ST(cw) == FROZEN && SP(cw) != 0 ->
            /* publish: our own descriptor, C|HOLE, in a reserved slot */
            atomic { DEREF(SP(cw)) }       /* the entry's hash */
            cd = 2 + me;
            atomic { cEntry[cd] = SP(cw); owner[cd] = me }
            reserve(MKS(cd, HOLE));
            assert(r_at != NONE);          /* Reserve::Full: not in scope */
            atomic { published[cd] = 1 }
            /* decide: the source's FROZEN -> C|MOVE */
            atomic {
                EXPECT(SP(cw));
                if
                :: src == cw -> src = MKS(cd, MOVE); ok = 1; check_abs()
                :: else -> ok = 0
                fi
            }
            if
            :: !ok -> withdraw(r_at, MKS(cd, HOLE)); atomic { RETIRE(cd) }
            :: else -> skip
            fi;
            r_at = 0
        :: ST(cw) == MOVE ->
            /* show_decided */
            atomic { DEREF(SP(cw)); ce = cEntry[SP(cw)]; PROTECT(ce) }
            atomic { ok = (src == cw) }
            if
            :: ok ->
                /* show_copy: find the publication, set its bit, untag */
                /* (the search for the publication's slot is one step here:
                   only show_copy itself changes a decided C|HOLE) */
                d_step {
                    ci = 0;
                    do
                    :: ci == H -> break
                    :: ns[ci] == MKS(SP(cw), HOLE) -> break
                    :: else -> ci++
                    od
                }
                do
                :: ci == H -> break
                :: else ->
                    atomic { cw2 = nhw }
                    atomic { ok = (ns[ci] == MKS(SP(cw), HOLE)) }
                    if
                    :: !ok -> break
                    :: (cw2 & (1 << ci)) != 0 ->
                        atomic {
                            EXPECT(ce);
                            if
                            :: ns[ci] == MKS(SP(cw), HOLE) -> ns[ci] = MKS(ce, LIVE); check_abs()
                            :: else -> skip
                            fi
                        }
                        break
                    :: else ->
                        atomic {
                            if
                            :: nhw == cw2 -> nhw = cw2 | (1 << ci); BUMP(nhw); check_abs()
                            :: else -> skip
                            fi
                        }
                    fi
                od;
                /* mark: C|MOVE -> C|COPIED; that thread retires C */
                atomic {
                    if
                    :: src == cw -> src = MKS(SP(cw), COPIED); RETIRE(SP(cw)); check_abs()
                    :: else -> skip
                    fi
                }
            :: else -> skip
            fi;
            ci = 0; ce = 0; cw2 = 0
        :: else -> break
        fi
    od;
    cw = 0; ok = 0
}
#else
/* resize::copy before 40004c0: reservation x|PENDING, check, commit */
inline copy() {
    atomic { cw = src; PROTECT(SP(cw)) }
    if
    :: ST(cw) == FROZEN && SP(cw) != 0 ->
        ce = SP(cw); atomic { DEREF(ce) }
        r_held = NONE;
        do
        :: atomic { ok = (src == MKS(ce, FROZEN)) }   /* uncopied() */
            if
            :: !ok -> break
            :: else -> skip
            fi;
            search_new();                 /* for this very entry */
            if
            :: s_kind == 1 && s_ent == ce ->
                atomic {
                    if
                    :: src == MKS(ce, FROZEN) -> src = MKS(ce, COPIED); check_abs()
                    :: else -> skip
                    fi
                }
                break
            :: else ->
                if
                :: r_held == NONE ->
                    reserve(MKS(ce, PENDING)); assert(r_at != NONE); r_held = r_at
                :: else -> skip
                fi;
                atomic { ok = (src == MKS(ce, FROZEN)) }
                if
                :: !ok -> break
                :: else -> skip
                fi;
                atomic {
                    if
                    :: nhw == s_w -> nhw = s_w | (1 << r_held); BUMP(nhw); ok = 1; check_abs()
                    :: else -> ok = 0
                    fi
                }
                if
                :: ok ->
                    atomic {   /* untag */
                        if
                        :: ns[r_held] == MKS(ce, PENDING) -> ns[r_held] = MKS(ce, LIVE); check_abs()
                        :: else -> skip
                        fi
                    }
                    r_held = NONE;
                    atomic {   /* mark */
                        if
                        :: src == MKS(ce, FROZEN) -> src = MKS(ce, COPIED); check_abs()
                        :: else -> skip
                        fi
                    }
                    break
                :: else -> skip
                fi
            fi
        od;
        if
        :: r_held != NONE -> withdraw(r_held, MKS(ce, PENDING))
        :: else -> skip
        fi;
        r_held = 0; ce = 0; r_at = 0
    :: else -> skip
    fi;
    cw = 0; ok = 0
}
#endif

/* settle the source: freeze it, then copy (the home is frozen) */
inline settle() {
    do
    :: atomic { sv = src; PROTECT(SP(sv)) }
        if
        :: ST(sv) == LIVE && SP(sv) != 0 ->
#ifndef MUTANT_FORGET_FREEZE
            atomic {
                if
                :: src == sv -> src = MKS(SP(sv), FROZEN); check_abs()
                :: else -> skip
                fi
            }
#else
            /* copy the LIVE entry as it is, then store COPIED */
            cd = 2 + me;
            reserve(MKS(SP(sv), PENDING));
            if
            :: r_at != NONE ->
                atomic {
                    if
                    :: (nhw & 7) == 0 -> nhw = nhw | (1 << r_at); BUMP(nhw);
                                         ns[r_at] = MKS(SP(sv), LIVE); check_abs()
                    :: else -> ns[r_at] = 0
                    fi
                }
            :: else -> skip
            fi;
            atomic { src = MKS(SP(sv), COPIED); check_abs() }
            r_at = 0;
            break
#endif
        :: ST(sv) == COPIED -> break
        :: else -> copy()
        fi
    od;
    sv = 0
}

proctype Thread(byte me) {
    byte op, res, ok, cw, cw2, cd, ce, ci, r_at, ri, r_held;
    byte sv, si, again, s_done, s_kind, s_idx, s_ent, s_w, rl_w, rl_ok;
    if
    :: me < 2 -> settle()
    :: else ->
        /* update(0, X') */
        begin_op(0);
        pin();
        atomic { sv = src; PROTECT(SP(sv)) }
        atomic {
            if
            :: ST(sv) == LIVE && SP(sv) != 0 && src == sv ->
                EXPECT(SP(sv));
                /* LINEARIZATION(insert): the replacement, in the old table */
                assert(amap[0] == eVal[SP(sv)]); res = eVal[SP(sv)];
                src = MKS(5, LIVE); published[5] = 1; amap[0] = 11;
                RETIRE(SP(sv)); ok = 1; check_abs()
            :: else -> ok = 0
            fi
        }
        sv = 0;
        do
        :: ok -> break
        :: else ->
            /* migrating: copy the key's chunk, then the new table */
            settle();
            pin();
            search_new();
            assert(s_kind == 1);
            atomic {
                EXPECT(s_ent);
                if
                :: ns[s_idx] == MKS(s_ent, LIVE) ->
                    /* LINEARIZATION(insert): the replacement, new table */
                    assert(amap[0] == eVal[s_ent]); res = eVal[s_ent];
                    ns[s_idx] = MKS(5, LIVE); published[5] = 1; amap[0] = 11;
                    RETIRE(s_ent); ok = 1; check_abs()
                :: else -> skip
                fi
            }
        od;
        end_op();
#ifndef NO_REMOVE
        /* remove(0), in the new table (the source is COPIED by now) */
        settle();
        begin_op(0);
        do
        :: pin();
            search_new();
            if
            :: s_kind == 1 ->
                atomic {
                    EXPECT(s_ent);
                    if
                    :: ns[s_idx] == MKS(s_ent, LIVE) ->
                        /* LINEARIZATION(remove): the DELETED tag */
                        assert(amap[0] == eVal[s_ent]);
                        ns[s_idx] = MKS(s_ent, DELETED); amap[0] = NONE; ok = 1;
                        note_absent(); check_abs()
                    :: else -> ok = 0
                    fi
                }
                if
                :: ok -> release(s_idx, s_ent); break
                :: else -> skip
                fi
            :: else -> assert(seen[me]); break
            fi
        od;
        end_op()
#endif
    fi;
progress:
    skip
}

init {
    d_step {
        eVal[1] = 10; eVal[5] = 11;
        owner[1] = NP; owner[5] = 2; published[1] = 1;
        src = MKS(1, LIVE);
        amap[0] = 10
    }
    atomic {
        run Thread(0); run Thread(1); run Thread(2)
    }
}
