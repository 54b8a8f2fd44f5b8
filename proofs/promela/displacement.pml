/*
 * HopscotchMap's displacement against lookups and writers of the moved key
 * (src/hopscotch/table.rs: lookup, search_home, reserve, displace,
 * move_entry, help_move, commit, show, release; mod.rs: insert, replace,
 * delete). No migration in this model (no FROZEN home): migration.pml.
 *
 * Table of 4 slots, neighbourhood H = 2. Home word = counter * 16 + hop
 * bitmap. Slot word = pointer * 8 + tag. Ids: entries 1..4, move
 * descriptors 5..6 (0 = null).
 *   A = 1 (key 0, home 0, value 10)   B  = 2 (key 1, home 1, value 20)
 *   E = 3 (key 2, home 0, value 30)   B' = 4 (key 1, home 1, value 21)
 * Initial: slot 0 = A, slot 1 = B; home 0 bit 0, home 1 bit 0.
 *   process 0: insert(2, E): slots 0 and 1 are taken, so it reserves slot 2
 *              (outside home 0's neighbourhood) and displaces B from 1 to 2
 *   process 1: get(1); get(2)                  (Table::lookup)
 *   process 2: insert(1, B') (a replacement); remove(1)
 *
 * Checked: every result against the ghost map at its linearization point
 * (present: in the LP's atomic step; absent: the ghost map lacked the key at
 * some moment of the call); after every successful CAS the representation
 * invariant (every set hop bit names a slot that holds that home's entry or
 * move; no uncommitted LIVE entry) and the abstraction function (per key,
 * at most one committed present entry, and it is the ghost map's); no entry
 * or descriptor used after its ghost retirement unless its guard protects
 * it. Progress: no cycle (`pan -l`).
 *
 * Scope left out here: an insert that finds no room (Reserve::Full) ends
 * without inserting (the map would then grow or use the overflow list:
 * migration.pml models the overflow list; growth is the migration).
 *
 * Mutants:
 *   MUTANT_SKIP_COUNTER_RECHECK     lookup answers absent without loading the
 *                                   home word again
 *   MUTANT_NONATOMIC_HOP_BITS       the displacement's commit clears the
 *                                   source's bit and sets the destination's
 *                                   in two atomic steps, not one CAS
 *   MUTANT_SKIP_DESCRIPTOR_RECHECK  lookup dereferences a descriptor's entry
 *                                   without checking that the descriptor
 *                                   still holds the slot
 *   MUTANT_DEREF_OWN_DESCRIPTOR     the displacing insert reads its own
 *                                   descriptor after publishing it, as
 *                                   move_entry -> help_move did before
 *                                   commit 40004c0 (now it re-reads the
 *                                   descriptor through the source slot)
 */

#define NP 3
#define NN 7
#define NK 3
#include "common.pml"

#define H 2
#define NS 4
#define LIVE 0
#define DELETED 1
#define PENDING 2
#define MOVE 3
#define DEST 4
#define HOLE 5
#define SP(w) ((w) >> 3)
#define ST(w) ((w) & 7)
#define MKS(p, t) (((p) << 3) | (t))
#define BITS 15
#define STEP 16
#define DIST(a, b) (((b) + NS - (a)) % NS)
#define BIT(h, i) (1 << DIST(h, i))
#define BUMP(x) assert(x < 240); x = x + STEP

byte gi;
byte hw[NS];                /* home words */
byte sw[NS];                /* slot words */
byte eKey[NN], eVal[NN], eHome[NN];
byte dEntry[NN], dHole[NN], dHome[NN], dFrom[NN], dTo[NN];
byte keyHome[NK];

/* ---- the abstraction function and the representation invariant ---- */
byte ca_i, ca_e, ca_h, ca_b, ca_p[NK];
inline check_abs() {
#ifndef NO_ABS_CHECK
    ca_p[0] = NONE; ca_p[1] = NONE; ca_p[2] = NONE;
    ca_i = 0;
    do
    :: ca_i == NS -> break
    :: else ->
        ca_e = 0;
        if
        :: ST(sw[ca_i]) == LIVE && SP(sw[ca_i]) != 0 ->
            ca_e = SP(sw[ca_i]); ca_h = eHome[ca_e]
        :: ST(sw[ca_i]) == MOVE || ST(sw[ca_i]) == DEST ->
            ca_e = dEntry[SP(sw[ca_i])]; ca_h = dHome[SP(sw[ca_i])]
        :: else -> skip
        fi;
        if
        :: ca_e != 0 && DIST(ca_h, ca_i) < H && (hw[ca_h] & BIT(ca_h, ca_i)) != 0 ->
            assert(ca_p[eKey[ca_e]] == NONE);   /* one committed entry per key */
            ca_p[eKey[ca_e]] = ca_e
        :: ca_e != 0 && ST(sw[ca_i]) == LIVE &&
           !(DIST(ca_h, ca_i) < H && (hw[ca_h] & BIT(ca_h, ca_i)) != 0) ->
            assert(false)                       /* a LIVE entry is committed */
        :: else -> skip
        fi;
        ca_i++
    od;
    /* every set bit names a slot holding that home's state */
    ca_h = 0;
    do
    :: ca_h == NS -> break
    :: else ->
        ca_b = 0;
        do
        :: ca_b == H -> break
        :: else ->
            ca_i = (ca_h + ca_b) % NS;
            if
            :: (hw[ca_h] & (1 << ca_b)) != 0 ->
                assert(SP(sw[ca_i]) != 0);
                if
                :: ST(sw[ca_i]) == MOVE || ST(sw[ca_i]) == DEST ->
                    assert(dHome[SP(sw[ca_i])] == ca_h)
                :: ST(sw[ca_i]) == HOLE -> assert(false)
                :: else -> assert(eHome[SP(sw[ca_i])] == ca_h)
                fi
            :: else -> skip
            fi;
            ca_b++
        od;
        assert((hw[ca_h] & BITS & ~((1 << H) - 1)) == 0);
        ca_h++
    od;
    ca_i = 0;
    do
    :: ca_i == NK -> break
    :: else ->
        if
        :: ca_p[ca_i] == NONE -> assert(amap[ca_i] == NONE)
        :: else -> assert(amap[ca_i] == eVal[ca_p[ca_i]])
        fi;
        ca_p[ca_i] = 0;
        ca_i++
    od;
    ca_i = 0; ca_e = 0; ca_h = 0; ca_b = 0
#else
    skip
#endif
}

/* Table::show: PENDING -> LIVE; the LP of a new key's insert */
inline show_entry(idx, pw) {
    atomic {
        if
        :: sw[idx] == pw ->
            sw[idx] = MKS(SP(pw), LIVE);
            /* LINEARIZATION(insert): the untag of a committed new key */
            assert(amap[eKey[SP(pw)]] == NONE);
            amap[eKey[SP(pw)]] = eVal[SP(pw)]; note_absent();
            check_abs()
        :: else -> skip
        fi
    }
}

/* Table::help_move: drive the move `dw` names to its end. */
inline help_move(dw) {
    hm_d = SP(dw);
    atomic { DEREF(hm_d) }
    atomic {
        hm_own = dHome[hm_d]; hm_from = dFrom[hm_d]; hm_to = dTo[hm_d];
        hm_ent = dEntry[hm_d]; hm_hole = dHole[hm_d];
        hm_fb = BIT(hm_own, hm_from); hm_tb = BIT(hm_own, hm_to)
    }
    do
    :: atomic { hm_ok = (sw[hm_from] == MKS(hm_d, MOVE)) }
        if
        :: !hm_ok -> break
        :: else -> skip
        fi;
        atomic { hm_w = hw[hm_own] }
        atomic { hm_ok = (sw[hm_from] == MKS(hm_d, MOVE)) }
        if
        :: !hm_ok -> break
        :: (hm_w & hm_fb) == 0 ->
            /* committed: the reservation takes the source */
            atomic {
                if
                :: sw[hm_from] == MKS(hm_d, MOVE) ->
                    sw[hm_from] = MKS(hm_hole, PENDING); check_abs()
                :: else -> skip
                fi
            }
            break
        :: else ->
            atomic { hm_s = sw[hm_to] }
            if
            :: hm_s == MKS(hm_d, HOLE) ->
                atomic {
                    if
                    :: sw[hm_to] == MKS(hm_d, HOLE) ->
                        sw[hm_to] = MKS(hm_d, DEST); check_abs()
                    :: else -> skip
                    fi
                }
            :: hm_s == MKS(hm_d, DEST) ->
#ifndef MUTANT_NONATOMIC_HOP_BITS
                atomic {
                    if
                    :: hw[hm_own] == hm_w ->
                        hw[hm_own] = (hm_w & ~hm_fb) | hm_tb; BUMP(hw[hm_own]);
                        check_abs()
                    :: else -> skip
                    fi
                }
#else
                /* fetch_and(!from_bit) + STEP, then fetch_or(to_bit) + STEP */
                atomic {
                    if
                    :: hw[hm_own] == hm_w ->
                        hw[hm_own] = hw[hm_own] & ~hm_fb; BUMP(hw[hm_own])
                    :: else -> skip
                    fi
                }
                atomic {
                    if
                    :: (hw[hm_own] & hm_fb) == 0 && (hw[hm_own] & hm_tb) == 0 &&
                       sw[hm_to] == MKS(hm_d, DEST) ->
                        hw[hm_own] = hw[hm_own] | hm_tb; BUMP(hw[hm_own]);
                        check_abs()
                    :: else -> skip
                    fi
                }
#endif
            :: else -> skip
            fi
        fi
    od;
    atomic {
        if
        :: sw[hm_to] == MKS(hm_d, DEST) ->
            sw[hm_to] = MKS(hm_ent, LIVE); RETIRE(hm_d); check_abs()
        :: else -> skip
        fi
    }
    atomic {
        hm_d = 0; hm_own = 0; hm_from = 0; hm_to = 0; hm_ent = 0; hm_hole = 0;
        hm_fb = 0; hm_tb = 0; hm_ok = 0; hm_w = 0; hm_s = 0
    }
}

/* Table::release: clear the bit (counter + 1), then empty the slot. */
inline release(h, idx, e) {
    do
    :: atomic { rl_w = hw[h] }
        atomic { rl_ok = (sw[idx] == MKS(e, DELETED)) }
        if
        :: !rl_ok -> break
        :: (rl_w & BIT(h, idx)) == 0 ->
            atomic {
                if
                :: sw[idx] == MKS(e, DELETED) ->
                    sw[idx] = 0; RETIRE(e); check_abs()
                :: else -> skip
                fi
            }
            break
        :: else ->
            atomic {
                if
                :: hw[h] == rl_w ->
                    hw[h] = rl_w & ~BIT(h, idx); BUMP(hw[h]); check_abs()
                :: else -> skip
                fi
            }
        fi
    od;
    rl_w = 0; rl_ok = 0
}

/* Table::search_home for key k: s_kind 1 found (s_idx, s_ent), 0 absent
   at word s_w. Helps: shows a committed insert of k, releases a removed
   entry of the home, drives a move of k. */
inline search_home(h, k) {
    s_done = 0;
    do
    :: s_done -> break
    :: else ->
        atomic { s_w = hw[h] }
        si = 0; again = 0;
        do
        :: si == H -> break
        :: si < H && (s_w & (1 << si)) == 0 -> si++
        :: si < H && (s_w & (1 << si)) != 0 ->
            idx = (h + si) % NS;
            atomic { sv = sw[idx]; PROTECT(SP(sv)) }
            if
            :: ST(sv) == LIVE && SP(sv) != 0 ->
                atomic { DEREF(SP(sv)); kk = eKey[SP(sv)] }
                if
                :: kk == k ->
                    s_kind = 1; s_idx = idx; s_ent = SP(sv); s_done = 1; break
                :: else -> skip
                fi
            :: ST(sv) == PENDING ->
                atomic { again = (hw[h] != s_w) }
                if
                :: again -> break
                :: else -> skip
                fi;
                atomic { DEREF(SP(sv)); kk = eKey[SP(sv)] }
                if
                :: kk == k -> show_entry(idx, sv); again = 1; break
                :: else -> skip
                fi
            :: ST(sv) == DELETED ->
                atomic { DEREF(SP(sv)); kk = eHome[SP(sv)] }
                if
                :: kk == h -> release(h, idx, SP(sv)); again = 1; break
                :: else -> skip
                fi
            :: ST(sv) == MOVE || ST(sv) == DEST ->
                atomic { DEREF(SP(sv)); le = dEntry[SP(sv)]; PROTECT(le) }
                atomic { again = (sw[idx] != sv) }
                if
                :: again -> break
                :: else -> skip
                fi;
                atomic { DEREF(le); kk = eKey[le] }
                if
                :: kk == k -> help_move(sv); again = 1; break
                :: else -> skip
                fi
            :: else -> skip
            fi;
            si++
        od;
        if
        :: again -> skip
        :: s_done -> skip
        :: else ->
            atomic {
                if
                :: hw[h] == s_w -> s_kind = 0; s_done = 1
                :: else -> skip
                fi
            }
        fi
    od;
    si = 0; idx = 0; sv = 0; kk = 0; le = 0; again = 0
}

/* Table::lookup: a reader's search, writes nothing. */
inline lookup(k) {
    begin_op(k);
    pin();
    l_done = 0;
    do
    :: l_done -> break
    :: else ->
        atomic { s_w = hw[keyHome[k]] }
        si = 0; again = 0;
        do
        :: si == H -> break
        :: si < H && (s_w & (1 << si)) == 0 -> si++
        :: si < H && (s_w & (1 << si)) != 0 ->
            idx = (keyHome[k] + si) % NS;
            atomic {
                sv = sw[idx]; PROTECT(SP(sv));
                /* LINEARIZATION(get): the slot load (the ghost peeks at the
                   immutable key to judge it here; the code reads it next) */
                lp_ok = (ST(sv) == LIVE && SP(sv) != 0 && eKey[SP(sv)] == k &&
                         amap[k] == eVal[SP(sv)])
            }
            if
            :: ST(sv) == LIVE && SP(sv) != 0 ->
                atomic {
                    DEREF(SP(sv));
                    if
                    :: eKey[SP(sv)] == k ->
                        assert(lp_ok); res = eVal[SP(sv)]; l_done = 1
                    :: else -> skip
                    fi
                }
            :: ST(sv) == MOVE || ST(sv) == DEST ->
                atomic { DEREF(SP(sv)); le = dEntry[SP(sv)]; PROTECT(le) }
                atomic {
#ifndef MUTANT_SKIP_DESCRIPTOR_RECHECK
                    again = (sw[idx] != sv);
#endif
                    if
                    :: !again ->
                        DEREF(le);
                        if
                        :: eKey[le] == k ->
                            /* LINEARIZATION(get): a move of the key's entry */
                            assert(amap[k] == eVal[le]); res = eVal[le]; l_done = 1
                        :: else -> skip
                        fi
                    :: else -> skip
                    fi
                }
            :: else -> skip
            fi;
            if
            :: l_done || again -> break
            :: else -> si++
            fi
        od;
        if
        :: l_done || again -> skip
        :: else ->
            atomic {
#ifndef MUTANT_SKIP_COUNTER_RECHECK
                if
                :: hw[keyHome[k]] == s_w ->
#endif
                    /* LINEARIZATION(get): absent, the word unchanged */
                    assert(seen[me]); res = NONE; l_done = 1
#ifndef MUTANT_SKIP_COUNTER_RECHECK
                :: else -> skip
                fi
#endif
            }
        fi
    od;
    si = 0; idx = 0; sv = 0; le = 0; again = 0; s_w = 0; lp_ok = 0;
    end_op()
}

/* HopscotchMap::insert of a present key (replace) */
inline update(k, n) {
    begin_op(k);
    do
    :: pin();
        search_home(keyHome[k], k);
        if
        :: s_kind == 1 ->
            atomic {
                EXPECT(s_ent);
                if
                :: sw[s_idx] == MKS(s_ent, LIVE) ->
                    /* LINEARIZATION(insert): the replacement CAS */
                    sw[s_idx] = MKS(n, LIVE); published[n] = 1; ok = 1;
                    assert(amap[k] == eVal[s_ent]); res = eVal[s_ent];
                    amap[k] = eVal[n]; note_absent();
                    RETIRE(s_ent); check_abs()
                :: else -> ok = 0
                fi
            }
            if
            :: ok -> break
            :: else -> skip
            fi
        :: else ->
            /* the key is present for the whole call in this scenario */
            assert(seen[me]); break
        fi
    od;
    end_op()
}

/* HopscotchMap::remove: the DELETED tag, then release */
inline remove(k) {
    begin_op(k);
    do
    :: pin();
        search_home(keyHome[k], k);
        if
        :: s_kind == 1 ->
            atomic {
                EXPECT(s_ent);
                if
                :: sw[s_idx] == MKS(s_ent, LIVE) ->
                    /* LINEARIZATION(remove): the DELETED tag */
                    sw[s_idx] = MKS(s_ent, DELETED); ok = 1;
                    assert(amap[k] == eVal[s_ent]); res = eVal[s_ent];
                    amap[k] = NONE; note_absent(); check_abs()
                :: else -> ok = 0
                fi
            }
            if
            :: ok -> release(keyHome[k], s_idx, s_ent); break
            :: else -> skip
            fi
        :: else -> assert(seen[me]); res = NONE; break
        fi
    od;
    end_op()
}

/* Table::move_entry: move `ent` (live in `from`, home `own`) into `to`,
   which holds our reservation of entry `e`. mv: 1 moved, 0 retry. */
inline move_entry(own, from, to, ent, e) {
    d = nextDesc; nextDesc++;
    atomic {
        dEntry[d] = ent; dHole[d] = e; dHome[d] = own; dFrom[d] = from; dTo[d] = to;
        owner[d] = me
    }
    atomic {
        /* "a reservation is written by its owner only" */
        assert(sw[to] == MKS(e, PENDING));
        sw[to] = MKS(d, HOLE); published[d] = 1
    }
    atomic {
        EXPECT(ent);
        if
        :: sw[from] == MKS(ent, LIVE) -> sw[from] = MKS(d, MOVE); ok = 1; check_abs()
        :: else -> ok = 0
        fi
    }
    if
    :: !ok ->
        atomic { assert(sw[to] == MKS(d, HOLE)); sw[to] = MKS(e, PENDING) }
        atomic { RETIRE(d) }
        mv = 0
    :: else ->
#ifdef MUTANT_DEREF_OWN_DESCRIPTOR
        /* as before commit 40004c0: help with the word it allocated */
        help_move(MKS(d, MOVE));
#else
        /* re-read the descriptor through the source (a protected load) */
        atomic { mvw = sw[from]; PROTECT(SP(mvw)) }
        if
        :: mvw == MKS(d, MOVE) -> help_move(mvw)
        :: else -> skip
        fi;
        mvw = 0;
#endif
        atomic { mv = (sw[from] == MKS(e, PENDING)); assert(mv) }
    fi;
    d = 0
}

/* HopscotchMap::insert of a new key k with entry e (insert_new, reserve,
   displace, commit, untag). */
inline insert_new(k, e) {
    begin_op(k);
    do
    :: pin();
        search_home(keyHome[k], k);
        assert(s_kind == 0);     /* only this process inserts k */
        /* reserve: the nearest free slot */
        ri = 0; ok = 0;
        do
        :: ri == NS -> break
        :: else ->
            idx = (keyHome[k] + ri) % NS;
            atomic {
                if
                :: sw[idx] == 0 -> sw[idx] = MKS(e, PENDING); published[e] = 1; ok = 1
                :: else -> ok = 0
                fi
            }
            if
            :: ok -> break
            :: else -> ri++
            fi
        od;
        if
        :: !ok -> gaveup = 1; break        /* Reserve::Full: not modelled */
        :: else -> skip
        fi;
        at = idx; idx = 0; stuck = 0;
        /* displace until the reservation is within the neighbourhood */
        do
        :: DIST(keyHome[k], at) < H -> break
        :: else ->
            /* displace(at): candidates, farthest back first */
            back = H - 1; mv = 0;
            do
            :: back == 0 -> stuck = 1; break
            :: else ->
                from = (at + NS - back) % NS;
                atomic { sv = sw[from]; PROTECT(SP(sv)) }
                if
                :: ST(sv) == LIVE && SP(sv) != 0 ->
                    atomic { DEREF(SP(sv)); own = eHome[SP(sv)] }
                    if
                    :: DIST(own, at) >= H -> back--
                    :: else ->
                        move_entry(own, from, at, SP(sv), e);
                        if
                        :: mv -> at = from; break
                        :: else -> back = H - 1   /* continue 'candidates */
                        fi
                    fi
                :: else -> back--
                fi
            od;
            sv = 0; own = 0; from = 0; back = 0;
            if
            :: stuck -> break
            :: else -> skip
            fi
        od;
        if
        :: stuck ->
            atomic { assert(sw[at] == MKS(e, PENDING)); sw[at] = 0 }   /* withdraw */
            gaveup = 1; break
        :: else -> skip
        fi;
        /* commit, then show */
        do
        :: atomic {
                if
                :: hw[keyHome[k]] == s_w ->
                    hw[keyHome[k]] = s_w | BIT(keyHome[k], at); BUMP(hw[keyHome[k]]);
                    ok = 1; check_abs()
                :: else -> ok = 0
                fi
            }
            if
            :: ok -> show_entry(at, MKS(e, PENDING)); break
            :: else ->
                search_home(keyHome[k], k);
                assert(s_kind == 0)
            fi
        od;
        break
    od;
    at = 0; ri = 0; stuck = 0; mv = 0;
    end_op()
}

proctype Thread(byte me) {
    byte op, res, ok, kk, idx, sv, le, si, again, s_done, s_kind, s_idx, s_ent, s_w;
    byte l_done, lp_ok, rl_w, rl_ok;
    byte hm_d, hm_own, hm_from, hm_to, hm_ent, hm_hole, hm_fb, hm_tb, hm_ok, hm_w, hm_s;
    byte d, mvw, nextDesc, ri, at, stuck, back, from, own, mv, gaveup;
    nextDesc = 5;
    do
    :: op == 2 -> break
    :: else ->
        if
        :: me == 0 && op == 0 -> insert_new(2, 3); op++
        :: me == 1 && op == 0 -> lookup(1)
        :: me == 1 && op == 1 -> lookup(2)
        :: me == 2 && op == 0 -> update(1, 4)
        :: me == 2 && op == 1 -> remove(1)
        fi;
        atomic {
            res = 0; ok = 0; s_done = 0; s_kind = 0; s_idx = 0; s_ent = 0; s_w = 0;
            l_done = 0; op++
        }
progress:
        skip
    od
}

init {
    atomic {
        eKey[1] = 0; eVal[1] = 10; eHome[1] = 0;
        eKey[2] = 1; eVal[2] = 20; eHome[2] = 1;
        eKey[3] = 2; eVal[3] = 30; eHome[3] = 0;
        eKey[4] = 1; eVal[4] = 21; eHome[4] = 1;
        keyHome[0] = 0; keyHome[1] = 1; keyHome[2] = 0;
        owner[1] = NP; owner[2] = NP; owner[3] = 0; owner[4] = 2;
        owner[5] = 0; owner[6] = 0;
        published[1] = 1; published[2] = 1;
        sw[0] = MKS(1, LIVE); sw[1] = MKS(2, LIVE);
        hw[0] = 1; hw[1] = 1;
        amap[0] = 10; amap[1] = 20; amap[2] = NONE
    }
    atomic {
        run Thread(0); run Thread(1); run Thread(2)
    }
}
