/*
 * Shared ghost machinery of the kovan-map Promela models.
 *
 * Each model defines NP (processes), NN (node ids 0..NN-1, 0 = null) and
 * NK (keys) before including this file.
 *
 * Reclamation (the rule of src/reclaim.rs, derived from kovan 0.2.0):
 *   - a node loaded through a link while it was not yet retired is
 *     protected for the loading thread until its guard ends (PIN clears);
 *   - a node a thread allocated is usable by it while private; once
 *     published, only a protected load makes it usable again (issue 7 bug 1);
 *   - a node may be used by anyone while it is not retired.
 * DEREF asserts exactly that. Addresses are never reused: sound because
 * every pointer a CAS expects is one its thread holds protected (asserted
 * by EXPECT), so a reused address could never be expected.
 */

#define NONE 255

bool retired[NN];
bool published[NN];
byte owner[NN];          /* allocating process, for private use */
bool prot[NP * NN];      /* prot[p*NN + n]: n protected for p's guard */

/* the ghost abstract map and the absence intervals of operations in flight */
byte amap[NK];
bool inop[NP];
byte wkey[NP];
bool seen[NP];           /* amap[wkey] was absent at some moment of the op */

#define PROTECT(x) \
    if \
    :: ((x) != 0 && !retired[x]) -> prot[me * NN + (x)] = 1 \
    :: else -> skip \
    fi

#define USABLE(n) \
    ((n) != 0 && (!retired[n] || prot[me * NN + (n)] || \
     (owner[n] == me && !published[n])))

#define DEREF(n) assert(USABLE(n))

/* a pointer a CAS expects must be one this thread holds protected */
#define EXPECT(n) assert((n) == 0 || USABLE(n))

#define RETIRE(n) assert(!retired[n]); retired[n] = 1

inline pin() {
    d_step {
        gi = 0;
        do
        :: gi < NN -> prot[me * NN + gi] = 0; gi++
        :: else -> break
        od;
        gi = 0
    }
}

/* after every change of amap (inside the LP's atomic step) */
inline note_absent() {
    gi = 0;
    do
    :: gi < NP ->
        if
        :: inop[gi] && amap[wkey[gi]] == NONE -> seen[gi] = 1
        :: else -> skip
        fi;
        gi++
    :: else -> break
    od;
    gi = 0
}

inline begin_op(k) {
    d_step { inop[me] = 1; wkey[me] = k; seen[me] = (amap[k] == NONE) }
}

inline end_op() {
    d_step { inop[me] = 0; wkey[me] = 0; seen[me] = 0 }
}
