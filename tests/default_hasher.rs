//! The default hasher spreads structured integer keys over the low bits of
//! the hash, where both maps take a key's bucket or home slot.
//!
//! CI once failed `growth::a_map_collected_from_a_filtered_iterator_grows_as_it_fills`
//! with a 17-node chain among 200,000 even keys (a random function makes
//! more than 16 once in 10^9 maps). The default was `foldhash::fast`: for
//! an integer key it folds the two halves of one product together, and
//! the low half's low bits depend on the key's low bits only. For some
//! per-process seeds that leaves keys that are multiples of a stride
//! bunched in a few buckets. This test failed on that default in 15 of 16
//! processes (mean walks of 1.42 to 1.57 nodes at the first failing stride,
//! where 1.375 is ideal; prototypes of it saw walks up to 8.6 and 51 keys in
//! one bucket); `foldhash::quality` stayed within 1.386 and 10 in 16 of 16.

use kovan_map::DefaultHashBuilder;
use std::hash::BuildHasher;

/// 65,536 buckets at a load of 3/4, the map's growth limit.
const BITS: u32 = 16;
const KEYS: u64 = 49_152;

/// Maps (fresh seeds) tried per stride.
const MAPS: usize = 12;

/// A random function gives a mean walk of 1 + load/2 = 1.375 nodes with a
/// standard deviation of about 0.0074 over 49,152 keys: 1.42 is six of them
/// above (about 10^-9 per map). More than 14 keys in one of 65,536 buckets
/// has a chance of about 10^-10 per map.
const MEAN_WALK_BOUND: f64 = 1.42;
const FULLEST_BUCKET_BOUND: u32 = 14;

/// The mean number of nodes a lookup of a present key walks, and the
/// fullest bucket, for the keys `0, stride, 2 * stride, ...`.
fn spread(hasher: &DefaultHashBuilder, stride: u64) -> (f64, u32) {
    let mut buckets = vec![0u32; 1 << BITS];
    for j in 0..KEYS {
        let h = hasher.hash_one(j.wrapping_mul(stride));
        buckets[(h & ((1 << BITS) - 1)) as usize] += 1;
    }
    let walked: u64 = buckets
        .iter()
        .map(|&c| u64::from(c) * u64::from(c + 1) / 2)
        .sum();
    (
        walked as f64 / KEYS as f64,
        buckets.iter().copied().max().unwrap_or(0),
    )
}

#[test]
fn strided_integer_keys_fill_the_low_bits_like_a_random_function() {
    let mut strides: Vec<u64> = (0..40).map(|i| 1u64 << i).collect();
    strides.extend([3, 5, 6, 7, 10, 12, 24, 100, 1000, 4097, 65_535, 0x9e37]);
    let mut worst = (0.0f64, 0u32);
    for &stride in &strides {
        for _ in 0..MAPS {
            let hasher = DefaultHashBuilder::default();
            let (walk, fullest) = spread(&hasher, stride);
            assert!(
                walk <= MEAN_WALK_BOUND && fullest <= FULLEST_BUCKET_BOUND,
                "stride {stride}: {KEYS} keys in {} buckets walk {walk:.3} nodes \
                 on average (bound {MEAN_WALK_BOUND}) and put {fullest} in one \
                 bucket (bound {FULLEST_BUCKET_BOUND})",
                1u32 << BITS
            );
            worst = (worst.0.max(walk), worst.1.max(fullest));
        }
    }
    eprintln!(
        "{} maps: worst mean walk {:.4}, fullest bucket {}",
        strides.len() * MAPS,
        worst.0,
        worst.1
    );
}

#[test]
fn two_default_hashers_disagree() {
    // Seeded per map: the same key lands differently in two maps.
    let a = DefaultHashBuilder::default();
    let b = DefaultHashBuilder::default();
    let differ = (0..64u64)
        .filter(|k| a.hash_one(k) != b.hash_one(k))
        .count();
    assert!(differ >= 60, "{differ} of 64 keys hash differently");
}
