//! The key layout and value encoding of the shared cache in Redis.
//!
//! Two keys per file, named by its MD5 in lowercase hex:
//!
//! | key | value | expiry |
//! |---|---|---|
//! | `aptsim:v1:{MD5}:verdict` | the verdict as JSON: `{"score":70,"level":"high","threat":"EICAR-Test-File"}` (`threat` only when named) | the policy's `cache.ttl` (`PX`) |
//! | `aptsim:v1:{MD5}:claim` | the claiming gateway's token (`pid.nanos`) | the policy's `analysis_timeout` (`PX`) |
//!
//! `v1` names this layout, so that a later one can share a server without misreading it. The
//! braces are a Redis Cluster hash tag: both keys of a file hash to one slot, which a
//! future cluster mode needs for the claim's compare-and-delete. JSON, not a binary format,
//! so that `redis-cli GET` shows an operator what a gateway decided.
//!
//! What is read back is data from the network, not trusted: a value that is not such JSON,
//! is longer than [`MAX_VALUE`], or has a score above 100 is a [`DecodeError`] and counts
//! as no verdict (the file is analysed again, and the new verdict overwrites it).

use aptsim_core::digest::Md5;
use aptsim_core::verdict::Verdict;

/// Prefix of every key this layout writes.
pub const PREFIX: &str = "aptsim:v1:";

/// The longest verdict value read: a verdict is under 100 bytes with a threat name of a
/// reasonable length; anything far longer was not written by a gateway.
pub const MAX_VALUE: usize = 4_096;

/// The key holding the verdict on `md5`.
pub fn verdict_key(md5: &Md5) -> String {
    format!("{PREFIX}{{{}}}:verdict", md5.to_hex())
}

/// The key holding the in-flight claim on `md5` (X1 across gateways).
pub fn claim_key(md5: &Md5) -> String {
    format!("{PREFIX}{{{}}}:claim", md5.to_hex())
}

/// The value stored for a verdict.
pub fn encode(verdict: &Verdict) -> Vec<u8> {
    // Serialising a struct of a number, an enum and an optional string cannot fail.
    serde_json::to_vec(verdict).unwrap_or_default()
}

/// Why a stored value is not a verdict.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Longer than [`MAX_VALUE`] bytes.
    #[error("{0} bytes, more than the {MAX_VALUE} a verdict takes")]
    TooLong(usize),
    /// Not the JSON of a verdict.
    #[error("not a verdict ({0})")]
    NotAVerdict(String),
    /// A score outside 0..=100.
    #[error("score {0} is above 100")]
    Score(u8),
}

/// The verdict a stored value holds.
pub fn decode(value: &[u8]) -> Result<Verdict, DecodeError> {
    if value.len() > MAX_VALUE {
        return Err(DecodeError::TooLong(value.len()));
    }
    let verdict: Verdict =
        serde_json::from_slice(value).map_err(|e| DecodeError::NotAVerdict(e.to_string()))?;
    if verdict.score > 100 {
        return Err(DecodeError::Score(verdict.score));
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aptsim_core::verdict::{ThreatLevel, Thresholds};

    #[test]
    fn keys_name_the_md5_in_a_hash_tag() {
        let md5 = Md5::of(b"X5O");
        let hex = md5.to_hex();
        assert_eq!(verdict_key(&md5), format!("aptsim:v1:{{{hex}}}:verdict"));
        assert_eq!(claim_key(&md5), format!("aptsim:v1:{{{hex}}}:claim"));
        assert_eq!(hex.len(), 32);
    }

    #[test]
    fn a_verdict_round_trips_as_readable_json() {
        let v = Verdict::from_score(70, &Thresholds::default()).with_threat("EICAR-Test-File");
        let bytes = encode(&v);
        assert_eq!(
            std::str::from_utf8(&bytes).ok(),
            Some(r#"{"score":70,"level":"high","threat":"EICAR-Test-File"}"#)
        );
        assert_eq!(decode(&bytes), Ok(v));
        let clean = Verdict::from_level(ThreatLevel::Clean, &Thresholds::default());
        assert_eq!(
            std::str::from_utf8(&encode(&clean)).ok(),
            Some(r#"{"score":0,"level":"clean"}"#)
        );
        assert_eq!(decode(&encode(&clean)), Ok(clean));
    }

    #[test]
    fn what_no_gateway_wrote_is_a_typed_error() {
        let bad: [&[u8]; 6] = [
            b"",
            b"high",
            b"\xff\xfe",
            br#"{"score":70}"#,
            br#"{"score":300,"level":"high"}"#,
            br#"{"score":70,"level":"severe"}"#,
        ];
        for value in bad {
            assert!(
                matches!(decode(value), Err(DecodeError::NotAVerdict(_))),
                "{value:?} decoded as {:?}",
                decode(value)
            );
        }
        assert_eq!(
            decode(br#"{"score":101,"level":"high"}"#),
            Err(DecodeError::Score(101))
        );
        let long = vec![b' '; MAX_VALUE + 1];
        assert_eq!(decode(&long), Err(DecodeError::TooLong(MAX_VALUE + 1)));
        // Fields a later writer adds are no reason to lose the verdict.
        let more = br#"{"score":0,"level":"clean","by":"gw-2"}"#;
        assert_eq!(decode(more).map(|v| v.level), Ok(ThreatLevel::Clean));
    }
}
