//! The memo of the search: the set of configurations already entered
//! (Lowe's memoisation), as keys of a few words each (their layout is
//! `search::State::encode`'s).
//!
//! Invariants: a key is stored once, whole, inside one chunk; a chunk is
//! never reallocated (so positions stay valid and the bytes counted are the
//! bytes allocated); the table is at most half full.

/// The top bit of a memo key's first word: the window is written as holes.
pub(super) const HOLES_BIT: u32 = 63;

/// A set of configuration keys: keys stored in an arena of chunks, and an
/// open-addressing table of their positions.
///
/// The arena grows by chunks (never by doubling one vector), so the bytes
/// it holds are the bytes the allocator gave it, within one chunk of what
/// the keys use, and [`Memo::bytes`] (what the memory limit compares) is
/// what the process really holds for it.
pub(super) struct Memo {
    chunks: Vec<Vec<u64>>,
    /// 0 = empty; else the key's position + 1 in the low 40 bits (chunk
    /// index above `POS_BITS`, word within the chunk below), hash bits above.
    slots: Vec<u64>,
    len: usize,
    pending_words: usize,
    words: usize,
    /// A key did not fit the position encoding: report the memory limit.
    pub(super) full: bool,
}

const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;
const POS_BITS: u32 = 26;
/// Largest chunk, in words (8 MiB).
const CHUNK: usize = 1 << 20;

impl Memo {
    pub(super) fn new(pending_words: usize) -> Memo {
        Memo {
            chunks: Vec::new(),
            slots: vec![0; 256],
            len: 0,
            pending_words,
            words: 0,
            full: false,
        }
    }

    /// A key's length follows from its first words: two fixed words, the
    /// pending words, and the window: a bitset as wide as the first word
    /// says, or a count (third word) of holes, two to a word.
    fn key_len(&self, key: &[u64]) -> usize {
        if key[0] >> HOLES_BIT == 1 {
            3 + self.pending_words + (key[2] as usize).div_ceil(2)
        } else {
            2 + self.pending_words + (((key[0] >> 32) & ((1 << 30) - 1)) as usize).div_ceil(64)
        }
    }

    /// Bytes held: every chunk's allocation and the table.
    pub(super) fn bytes(&self) -> usize {
        let arena: usize = self.chunks.iter().map(Vec::capacity).sum();
        (arena + self.slots.len()) * 8
    }

    fn stored(&self, slot: u64) -> &[u64] {
        let pos = (slot & OFFSET_MASK) - 1;
        let chunk = &self.chunks[(pos >> POS_BITS) as usize];
        let at = (pos & ((1 << POS_BITS) - 1)) as usize;
        let len = self.key_len(&chunk[at..]);
        &chunk[at..at + len]
    }

    /// Inserts `key`; false if it was already there.
    pub(super) fn insert(&mut self, key: &[u64]) -> bool {
        let h = hash(key);
        let mask = self.slots.len() - 1;
        let tag = h >> OFFSET_BITS << OFFSET_BITS;
        let mut i = (h as usize) & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                break;
            }
            if slot & !OFFSET_MASK == tag && self.stored(slot) == key {
                return false;
            }
            i = (i + 1) & mask;
        }
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.capacity() - c.len() >= key.len());
        if !fits {
            // Chunks grow with the memo (small searches stay small), up to
            // CHUNK words each.
            let cap = self.words.clamp(256, CHUNK).max(key.len());
            if key.len() >= 1 << POS_BITS || self.chunks.len() >= 1 << (OFFSET_BITS - POS_BITS) {
                self.full = true;
                return true;
            }
            self.chunks.push(Vec::with_capacity(cap));
        }
        let index = self.chunks.len() - 1;
        let chunk = &mut self.chunks[index];
        let pos = ((index as u64) << POS_BITS) | chunk.len() as u64;
        chunk.extend_from_slice(key);
        self.words += key.len();
        self.slots[i] = tag | (pos + 1);
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            self.grow();
        }
        true
    }

    fn grow(&mut self) {
        let mut slots = vec![0u64; self.slots.len() * 2];
        let mask = slots.len() - 1;
        for &slot in &self.slots {
            if slot == 0 {
                continue;
            }
            let h = hash(self.stored(slot));
            let mut i = (h as usize) & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = slot;
        }
        self.slots = slots;
    }
}

fn hash(key: &[u64]) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3u64 ^ key.len() as u64;
    for &w in key {
        h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h >> 32;
    }
    h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^ (h >> 32)
}
