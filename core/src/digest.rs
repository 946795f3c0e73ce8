//! File identity: the MD5 of a file's decoded bytes, as the gateway and the data center key it.
//!
//! [`Md5`] is a plain 16-byte newtype so it can be copied, ordered (deterministic maps) and
//! printed as the lowercase hex every tool in this field shows. Digests are computed by
//! [`Md5Hasher`] (`hasher`): OpenSSL's MD5 where the linked libcrypto has it, md-5's
//! portable Rust otherwise, with the same result.

mod hasher;

use std::fmt;
use std::str::FromStr;

pub use hasher::Md5Hasher;

/// The MD5 digest of one file's decoded bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Md5(pub [u8; 16]);

/// The digest as one number: the derived `Hash` would write the array's length before its
/// bytes, a third more for the verdict cache's SipHash to mix on every lookup.
impl std::hash::Hash for Md5 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(u128::from_le_bytes(self.0));
    }
}

impl Md5 {
    /// Digest of `bytes` in one call.
    pub fn of(bytes: &[u8]) -> Self {
        hasher::digest(bytes)
    }

    /// Lowercase hex, 32 characters.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Md5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One write of the 32 digits: trace records print an MD5 for every submission and
        // verdict, and sixteen formatted `{:02x}` writes cost more than the digits do.
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 32];
        for (pair, b) in hex.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0xf)];
        }
        // Only ASCII hex digits were written.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Md5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Md5({self})")
    }
}

/// Why a string is not an MD5 in hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an MD5 digest (32 hex digits): {0:?}")]
pub struct ParseMd5Error(pub String);

impl FromStr for Md5 {
    type Err = ParseMd5Error;

    /// Accepts 32 hex digits in either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseMd5Error(s.to_owned());
        let bytes = s.as_bytes();
        if bytes.len() != 32 {
            return Err(err());
        }
        let mut out = [0u8; 16];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0]).ok_or_else(err)?;
            let lo = hex_value(pair[1]).ok_or_else(err)?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Md5(out))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl serde::Serialize for Md5 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Md5 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // RFC 1321, appendix A.5.
        assert_eq!(Md5::of(b"").to_hex(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(Md5::of(b"abc").to_hex(), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let m = Md5::of(b"message digest");
        assert_eq!(m.to_hex().parse::<Md5>(), Ok(m));
        assert_eq!(m.to_hex().to_uppercase().parse::<Md5>(), Ok(m));
        assert!("f96b697d7cb7938d525a2f31aaf161d".parse::<Md5>().is_err());
        assert!("g96b697d7cb7938d525a2f31aaf161d0".parse::<Md5>().is_err());
    }

    #[test]
    fn every_byte_prints_as_two_lowercase_digits() {
        for first in (0..=255u8).step_by(16) {
            let bytes: [u8; 16] = std::array::from_fn(|i| first + i as u8);
            let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(Md5(bytes).to_string(), expected);
        }
    }
}
