//! One `u64` seed per run, one independent random stream per actor derived from it
//! (ARCHITECTURE.md, principle 4), so adding an actor never shifts another's draws.

/// The seed of stream `stream` of a run seeded with `seed` (SplitMix64 of both).
pub fn stream_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Stream numbers of the world's actors.
pub mod streams {
    /// The data center's analysis times and verdicts.
    pub const DATACENTER: u64 = 1;
    /// Generated traffic.
    pub const TRAFFIC: u64 = 2;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_and_repeat() {
        assert_eq!(stream_seed(7, 1), stream_seed(7, 1));
        assert_ne!(stream_seed(7, 1), stream_seed(7, 2));
        assert_ne!(stream_seed(7, 1), stream_seed(8, 1));
    }
}
