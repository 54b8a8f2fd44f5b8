/*
 * HopscotchMap's migration copy step, overflow-list path
 * (src/hopscotch/resize.rs: settle, copy, publish_and_decide from
 * `overflow::private_node` on, show_decided's list-node branch;
 * src/hopscotch/overflow.rs: private_node, push, withdraw, walk, kill,
 * scan, unlink; docs/hopscotch.md "Copying an entry exactly once", table
 * "Publication in an overflow node"; commit 40004c0).
 *
 * The new table's home of key 0 is in overflow mode: its slots are not
 * modelled (all empty), only its list. One old source slot `src` (key 0's
 * entry X = 1, value 10, LIVE; the old home word is taken as frozen, as in
 * migration.pml). Copy descriptors 2, 3, 4 and list nodes 5, 6, 7: one
 * of each per process (a copier publishes at most once: FROZEN is never
 * recreated).
 *   process 0, 1: copiers of the chunk (settle + copy)
 *   process 2:    a writer of key 0: settle (it copies the chunk first, so
 *                 it is a third copier), then remove(0) in the new table
 *                 (scan, DELETED tag = LP, kill: mark DEAD, unlink by a
 *                 pass; the unlinking CAS's thread ghost-retires the node
 *                 and the entry it held)
 *
 * The copy (each copier): allocate C = (x, node N) and N = [C|HOLE];
 * push N by an unversioned head CAS (the model's addresses are never
 * reused, so the ABA the code allows shows up as head = null again after
 * a push and an unlink: the scenario reaches it); decide FROZEN -> C|MOVE;
 * a loser finds N by a reader's pass (walk), tags its slot null|DELETED,
 * kills it and retires C; anyone who read C|MOVE loads C's entry and node,
 * re-reads the source, untags N's slot C|HOLE -> x, marks C|MOVE ->
 * C|COPIED (that thread retires C).
 *
 * Checked: the remove's result against the ghost map at its LP; after every
 * successful CAS the abstraction function (the old table decides until the
 * source is COPIED, then the new list's LIVE entry) and the exactly-once
 * invariant (at most one LIVE entry reachable in the list; while the
 * source is undecided or decided, it is the source's entry); no reachable
 * node, and no entry or HOLE descriptor in a reachable node, is retired;
 * every dereference (nodes, descriptors, entries) and every pointer a CAS
 * expects is protected (common.pml); a node is retired once; a loser
 * always finds its node and its slot CAS succeeds. Progress: no cycle.
 *
 * Mutant:
 *   MUTANT_CHECK_BEFORE_UNVERSIONED_CAS  the copy before 40004c0 (issue 7
 *       bug 2): the copier scans the list for x, checks "source still
 *       uncopied" (src == x|FROZEN), then allocates a node holding x itself
 *       (LIVE) and pushes it by the head CAS expecting the head its scan
 *       saw; Inserted or Present -> mark FROZEN -> COPIED. A late copier's
 *       push after another copier's push, mark, and the writer's remove and
 *       unlink (head null again) resurrects the retired x: reported as inv
 *       (a retired entry LIVE in a reachable node).
 *
 * Reductions (check.sh's default rows; the full scenario above is run by
 * PROOFS_FULL=1 only: it exceeded 3e7 states in 2 minutes here):
 *   -DWRITER_WAITS  the writer does not copy: it waits until the source is
 *                   COPIED, then removes (two copiers race, the writer's
 *                   remove and unlink race the late copier)
 *   -DONE_COPIER    no process 1: one copier and the writer, which copies
 *                   the chunk itself and then removes
 *   -DNO_REMOVE     the writer only copies (unused by check.sh)
 * The mutant row runs the full scenario (it is caught at once).
 *
 * Abstractions: as migration.pml (immutable fields read in the step that
 * loaded the pointer; a successful unlink and its retirements are one
 * step; a failed push's node is destroyed and the same id reused, sound
 * because it was never published). Not modelled: sealing (no migration of
 * the new table), the home's slots and Reserve::Full -> set_overflow (the
 * home starts in overflow mode), several keys in the list, readers
 * (overflow::lookup), an old source that is itself a list node
 * (settle_node), the old home word.
 */

#define NP 3
#define NN 8
#define NK 1
#ifndef INIT_SRC
#define INIT_SRC LIVE
#endif
#include "common.pml"

#define LIVE 0
#define DELETED 1
#define MOVE 3
#define HOLE 5
#define FROZEN 6
#define COPIED 7
#define SP(w) ((w) >> 3)
#define ST(w) ((w) & 7)
#define MKS(p, t) (((p) << 3) | (t))
/* a link word (the head lk[0], or node n's next lk[n]): node * 2 + DEAD */
#define LP(w) ((w) >> 1)
#define LD(w) ((w) & 1)

byte gi;
byte src;                   /* the old source slot */
byte lk[NN];                /* lk[0]: the new home's list head; lk[n]: n.next */
byte nslot[NN];             /* a list node's slot word */
byte eVal[NN];
byte cEntry[NN];            /* a copy descriptor's entry */
byte cNode[NN];             /* a copy descriptor's overflow node */

byte ca_i, ca_n, ca_p;
inline check_abs() {
    ca_p = NONE; ca_n = 0; ca_i = LP(lk[0]);
    do
    :: ca_i == 0 -> break
    :: else ->
        assert(!retired[ca_i]);                  /* a reachable node */
        if
        :: ST(nslot[ca_i]) == LIVE && SP(nslot[ca_i]) != 0 ->
            assert(!retired[SP(nslot[ca_i])]);   /* a reachable entry */
            ca_n++; ca_p = SP(nslot[ca_i])
        :: ST(nslot[ca_i]) == HOLE ->
            assert(!retired[SP(nslot[ca_i])])    /* its descriptor */
        :: else -> skip
        fi;
        ca_i = LP(lk[ca_i])
    od;
    assert(ca_n <= 1);                           /* exactly once */
    if
    :: ST(src) == LIVE || ST(src) == FROZEN ->
        assert(ca_n == 0 || ca_p == SP(src)); ca_p = SP(src)
    :: ST(src) == MOVE ->
        assert(ca_n == 0 || ca_p == cEntry[SP(src)]); ca_p = cEntry[SP(src)]
    :: ST(src) == COPIED -> skip
    :: else -> assert(false)
    fi;
    if
    :: ca_p == NONE || ca_p == 0 -> assert(amap[0] == NONE)
    :: else -> assert(amap[0] == eVal[ca_p])
    fi;
    ca_i = 0; ca_n = 0; ca_p = 0
}

/* overflow::scan (a writer's pass). acc: accept a LIVE entry (every entry
   here is key 0's). Out: sc_kind 1 Found (sc_curr, sc_w), 0 Absent with
   sc_first the head the pass started from. Unlinks dead nodes on the way,
   marks DEAD a node whose slot is DELETED. */
inline scan(acc) {
    sc_done = 0;
    do
    :: sc_done -> break
    :: else ->
        atomic { sc_first = LP(lk[0]); PROTECT(sc_first) }
        sc_pred = 0; sc_curr = sc_first;
        do
        :: sc_curr == 0 -> sc_kind = 0; sc_done = 1; break
        :: else ->
            atomic { DEREF(sc_curr); sc_nx = lk[sc_curr]; PROTECT(LP(sc_nx)) }
            if
            :: LD(sc_nx) ->
                /* unlink: pred's untagged link curr -> next */
                atomic {
                    assert(sc_pred == 0 || USABLE(sc_pred));
                    EXPECT(sc_curr);
                    if
                    :: lk[sc_pred] == sc_curr * 2 ->
                        lk[sc_pred] = LP(sc_nx) * 2; sc_ok = 1;
                        RETIRE(sc_curr);
                        if
                        :: SP(nslot[sc_curr]) != 0 -> RETIRE(SP(nslot[sc_curr]))
                        :: else -> skip
                        fi;
                        check_abs()
                    :: else -> sc_ok = 0
                    fi
                }
                if
                :: sc_ok -> sc_curr = LP(sc_nx)
                :: else -> break                 /* a new pass */
                fi
            :: else ->
                atomic {
                    sc_w = nslot[sc_curr]; PROTECT(SP(sc_w));
                    if
                    :: ST(sc_w) == LIVE && SP(sc_w) != 0 -> DEREF(SP(sc_w)) /* accept */
                    :: else -> skip
                    fi
                }
                if
                :: ST(sc_w) == LIVE && SP(sc_w) != 0 && acc ->
                    sc_kind = 1; sc_done = 1; break
                :: ST(sc_w) == DELETED ->
                    /* help the removal mark next DEAD, look again */
                    atomic {
                        if
                        :: lk[sc_curr] == sc_nx -> lk[sc_curr] = sc_nx | 1
                        :: else -> skip
                        fi
                    }
                :: else ->
                    sc_pred = sc_curr; sc_curr = LP(sc_nx)
                fi
            fi
        od
    od;
    sc_pred = 0; sc_nx = 0; sc_ok = 0;
    if
    :: sc_kind == 0 -> sc_curr = 0; sc_w = 0
    :: else -> skip
    fi;
#ifndef MUTANT_CHECK_BEFORE_UNVERSIONED_CAS
    sc_first = 0                 /* only the mutant's push uses it */
#endif
}

/* overflow::kill: mark n.next DEAD, then a pass that accepts nothing */
inline kill(n) {
    do
    :: atomic {
            DEREF(n);
            if
            :: LD(lk[n]) -> sc_ok = 1
            :: else -> lk[n] = lk[n] | 1; sc_ok = 1   /* the mark CAS */
            fi
        }
        if
        :: sc_ok -> break
        fi
    od;
    scan(0);
    sc_kind = 0; sc_first = 0; sc_curr = 0; sc_w = 0
}

/* overflow::withdraw of word `pw`: a reader's pass (walk) to its node, the
   slot CAS pw -> null|DELETED (asserted to succeed), kill */
inline withdraw(pw) {
    wd_node = 0;
    do
    :: wd_node != 0 -> break
    :: else ->
        atomic { wd_c = LP(lk[0]); PROTECT(wd_c) }
        wd_pred = 0; wd_run = 0;
        do
        :: wd_c == 0 ->
            assert(false)   /* "a losing copier's publication left its list" */
        :: else ->
            atomic { DEREF(wd_c); wd_nx = lk[wd_c]; PROTECT(LP(wd_nx)) }
            if
            :: !LD(wd_nx) ->
                atomic { wd_ok = (nslot[wd_c] == pw) }
                if
                :: wd_ok -> wd_node = wd_c; break
                :: else -> wd_pred = wd_c; wd_c = LP(wd_nx); wd_run = 0
                fi
            :: else ->
                /* a dead node: the run must still hang off the last live
                   predecessor, else a new pass */
                if
                :: wd_run == 0 -> wd_run = wd_c
                :: else -> skip
                fi;
                atomic {
                    assert(wd_pred == 0 || USABLE(wd_pred));
                    wd_ok = (lk[wd_pred] == wd_run * 2)
                }
                if
                :: !wd_ok -> break
                :: else -> wd_c = LP(wd_nx)
                fi
            fi
        od
    od;
    atomic {
        DEREF(wd_node);
        /* "a losing copier's publication was written by another thread" */
        assert(nslot[wd_node] == pw);
        nslot[wd_node] = MKS(0, DELETED); check_abs()
    }
    kill(wd_node);
    wd_node = 0; wd_c = 0; wd_pred = 0; wd_run = 0; wd_nx = 0; wd_ok = 0
}

#ifndef MUTANT_CHECK_BEFORE_UNVERSIONED_CAS
/* copy: publish_and_decide (overflow path) + show_decided, until COPIED */
inline copy() {
    do
    :: atomic { cw = src; PROTECT(SP(cw)) }
        if
        :: ST(cw) == FROZEN && SP(cw) != 0 ->
            atomic { DEREF(SP(cw)) }       /* the entry's hash */
            /* private: descriptor C = (x, N), node N = [C|HOLE] */
            cd = 2 + me; cn = 5 + me;
            atomic {
                cEntry[cd] = SP(cw); cNode[cd] = cn; owner[cd] = me;
                owner[cn] = me; nslot[cn] = MKS(cd, HOLE)
            }
            /* overflow::push: an unversioned head CAS */
            do
            :: atomic { pf = LP(lk[0]); PROTECT(pf) }
                atomic { DEREF(cn); lk[cn] = pf * 2 }   /* private store */
                atomic {
                    EXPECT(pf);
                    if
                    :: lk[0] == pf * 2 ->
                        lk[0] = cn * 2; published[cn] = 1; published[cd] = 1;
                        ok = 1; check_abs()
                    :: else -> ok = 0
                    fi
                }
                if
                :: ok -> break
                :: else -> skip
                fi
            od;
            /* decide: the source's FROZEN -> C|MOVE */
            atomic {
                EXPECT(SP(cw));
                if
                :: src == cw -> src = MKS(cd, MOVE); ok = 1; check_abs()
                :: else -> ok = 0
                fi
            }
            if
            :: !ok -> withdraw(MKS(cd, HOLE)); atomic { RETIRE(cd) }
            :: else -> skip
            fi;
            pf = 0
        :: ST(cw) == MOVE ->
            /* show_decided: C's entry and node, then re-read the source */
            atomic {
                DEREF(SP(cw)); ce = cEntry[SP(cw)]; cnd = cNode[SP(cw)];
                PROTECT(ce); PROTECT(cnd)
            }
            atomic { ok = (src == cw) }
            if
            :: ok ->
                /* the node's slot C|HOLE -> x */
                atomic {
                    DEREF(cnd); EXPECT(ce);
                    if
                    :: nslot[cnd] == MKS(SP(cw), HOLE) ->
                        nslot[cnd] = MKS(ce, LIVE); check_abs()
                    :: else -> skip
                    fi
                }
                /* mark: C|MOVE -> C|COPIED; that thread retires C */
                atomic {
                    if
                    :: src == cw -> src = MKS(SP(cw), COPIED); RETIRE(SP(cw)); check_abs()
                    :: else -> skip
                    fi
                }
            :: else -> skip
            fi;
            ce = 0; cnd = 0
        :: else -> break
        fi
    od;
    cw = 0; ok = 0
}
#else
/* resize::copy + overflow::insert(list, same, x, uncopied) before 40004c0 */
inline copy() {
    atomic { cw = src; PROTECT(SP(cw)) }
    if
    :: ST(cw) == FROZEN && SP(cw) != 0 ->
        ce = SP(cw); atomic { DEREF(ce) }
        cn = 5 + me;
        do
        :: scan(1);                   /* accept: this very entry */
            if
            :: sc_kind == 1 && SP(sc_w) == ce -> ok = 1; break   /* Present */
            :: else -> skip
            fi;
            atomic { ok = (src == MKS(ce, FROZEN)) }   /* check(): uncopied */
            if
            :: !ok -> break                            /* Refused */
            :: else -> skip
            fi;
            /* a private node holding x itself, next = the scan's head */
            atomic { owner[cn] = me; nslot[cn] = MKS(ce, LIVE); lk[cn] = sc_first * 2 }
            atomic {
                EXPECT(sc_first);
                /* the head CAS compares only the head pointer */
                if
                :: lk[0] == sc_first * 2 ->
                    lk[0] = cn * 2; published[cn] = 1; ok = 1; check_abs()
                :: else -> ok = 0
                fi
            }
            sc_first = 0; sc_kind = 0; sc_curr = 0; sc_w = 0;
            if
            :: ok -> break                             /* Inserted */
            :: else -> skip                            /* destroyed; again */
            fi
        od;
        if
        :: ok ->   /* mark */
            atomic {
                if
                :: src == MKS(ce, FROZEN) -> src = MKS(ce, COPIED); check_abs()
                :: else -> skip
                fi
            }
        :: else -> skip
        fi;
        ce = 0
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
            atomic {
                if
                :: src == sv -> src = MKS(SP(sv), FROZEN); check_abs()
                :: else -> skip
                fi
            }
        :: ST(sv) == COPIED -> break
        :: else -> copy()
#ifdef MUTANT_CHECK_BEFORE_UNVERSIONED_CAS
            ; break    /* the old copy returns once the source is not FROZEN */
#endif
        fi
    od;
    sv = 0
}

proctype Thread(byte me) {
    byte ok, cw, cd, cn, ce, cnd, pf, sv;
    byte sc_done, sc_kind, sc_first, sc_pred, sc_curr, sc_nx, sc_w, sc_ok;
    byte wd_node, wd_c, wd_pred, wd_run, wd_nx, wd_ok;
#ifdef WRITER_WAITS
    if
    :: me == 2 -> ST(src) == COPIED
    :: else -> settle()
    fi;
#else
    settle();
#endif
#ifndef NO_REMOVE
    if
    :: me == 2 ->
        /* remove(0), in the new table (the chunk is copied by now) */
        begin_op(0);
        do
        :: pin();
            scan(1);
            if
            :: sc_kind == 1 ->
                atomic {
                    DEREF(sc_curr); EXPECT(SP(sc_w));
                    if
                    :: nslot[sc_curr] == sc_w ->
                        /* LINEARIZATION(remove): the DELETED tag */
                        assert(amap[0] == eVal[SP(sc_w)]);
                        nslot[sc_curr] = MKS(SP(sc_w), DELETED); amap[0] = NONE;
                        ok = 1; note_absent(); check_abs()
                    :: else -> ok = 0
                    fi
                }
                if
                :: ok -> kill(sc_curr); break
                :: else -> skip
                fi
            :: else -> assert(seen[me]); break
            fi
        od;
        end_op()
    :: else -> skip
    fi;
#endif
progress:
    skip
}

init {
    d_step {
        eVal[1] = 10;
        owner[1] = NP; published[1] = 1;
        src = MKS(1, INIT_SRC);
        amap[0] = 10
    }
    atomic {
        run Thread(0);
#ifndef ONE_COPIER
        run Thread(1);
#endif
        run Thread(2)
    }
}
