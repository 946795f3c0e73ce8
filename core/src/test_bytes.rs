//! Bytes for unit tests of hashing and decoding: varied (no two blocks alike, none periodic
//! with MD5's or base64's period), reproducible from a seed, and never an archive's magic
//! unless a test makes them one.

/// `len` varied bytes from `seed` (xorshift32).
pub(crate) fn varied(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 7) as u8
        })
        .collect()
}
