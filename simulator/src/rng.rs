//! The one random family of a run: ChaCha8. A run has one `u64` seed; each consumer (the data
//! center, each traffic block) draws from its own ChaCha stream — the 64-bit stream number
//! ChaCha has built in — so adding a consumer never shifts another's draws (ARCHITECTURE.md,
//! principle 4). Scenario file bytes use the same generator, keyed by the file's name alone,
//! so that the same name gives the same bytes whatever the seed.

use aptsim_core::digest::Md5;
pub use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// Stream `stream` of a run seeded with `seed`.
pub fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// A generator keyed by `name` alone (its MD5 is the key), independent of any run's seed.
pub fn keyed(name: &str) -> ChaCha8Rng {
    let Md5(digest) = Md5::of(name.as_bytes());
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(&digest);
    key[16..].copy_from_slice(&digest);
    ChaCha8Rng::from_seed(key)
}

/// Stream numbers of a run's consumers.
pub mod streams {
    /// The data center's analysis times and verdicts.
    pub const DATACENTER: u64 = 1;
    /// Mail client `i` of a world draws from `CLIENTS + i` (its user's habits).
    pub const CLIENTS: u64 = 0x10_000;
    /// Traffic block `index` of a scenario (its `[[traffic]]` tables in order).
    pub fn traffic(index: usize) -> u64 {
        0x100 + index as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    fn first(mut r: ChaCha8Rng) -> [u64; 4] {
        std::array::from_fn(|_| r.next_u64())
    }

    #[test]
    fn streams_differ_and_repeat() {
        assert_eq!(first(stream(7, 1)), first(stream(7, 1)));
        assert_ne!(first(stream(7, 1)), first(stream(7, 2)));
        assert_ne!(first(stream(7, 1)), first(stream(8, 1)));
        assert_ne!(
            first(stream(7, streams::traffic(0))),
            first(stream(7, streams::traffic(1)))
        );
    }

    #[test]
    fn keyed_follows_the_name_only() {
        assert_eq!(first(keyed("a.pdf")), first(keyed("a.pdf")));
        assert_ne!(first(keyed("a.pdf")), first(keyed("b.pdf")));
    }
}
