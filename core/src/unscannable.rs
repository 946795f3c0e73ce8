//! Why a file cannot be analysed: what an archive or a message hides from the walk.
//!
//! The gateway fails closed: whatever the extractor could not see becomes a file of its own,
//! carrying one of these reasons, and the policy's `unscannable_level` decides its action.
//! An encrypted zip member, an archive over its budget, a MIME part nested past the depth
//! limit, the parts after the part limit, a message over the size limit, a header block too
//! large to parse cheaply: each is *unscannable*, never simply skipped.

use std::fmt;

/// Which limit stopped the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitExceeded {
    /// Archives nested deeper than the archive limits' `max_depth`.
    Depth(u32),
    /// More archive members than `max_members`.
    Members(u32),
    /// More uncompressed archive bytes than `max_total_bytes`.
    TotalBytes(u64),
    /// An archive member whose uncompressed size passed `max_ratio` times its compressed size.
    Ratio(u32),
    /// MIME entities (multiparts, attached messages) nested deeper than `max_depth`.
    MimeDepth(u32),
    /// More MIME parts than `max_parts`: this and the following parts were not walked.
    Parts(u32),
    /// A message larger than `max_message_bytes`: not parsed at all.
    MessageBytes(u64),
    /// A header block larger than `max_header_bytes`: not handed to the header parser.
    HeaderBytes(u64),
    /// A MIME field with more parameters than `max_parameters` (RFC 2231 continuations
    /// included): not handed to the header parser.
    Parameters(u32),
    /// Decoded copies of encoded attached messages, nested, passed `max_decoded_bytes`.
    DecodedBytes(u64),
    /// Going on would have cost this much work (header parsing on its slow shapes, decoding
    /// attached messages again at each level), more than the message's budget left (three
    /// times its size plus 64 KiB, `mime::work_budget`).
    ParseWork(u64),
}

/// Why a file (an archive member, an archive, or a piece of the message) cannot be scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unscannable {
    /// Encrypted member (password protected).
    Encrypted,
    /// A limit was reached; nothing past it was read.
    OverLimit(LimitExceeded),
    /// The archive's structure is broken (the text says where).
    Corrupt(String),
    /// A compression method this build does not decode (its number).
    UnsupportedMethod(u16),
    /// The extraction was stopped before it finished (the live proxy's per-message time
    /// budget): nothing of the message counts as seen.
    Cancelled,
}

impl fmt::Display for Unscannable {
    /// Short reasons for reports: `encrypted`, `over_limit: ratio > 100`, `corrupt: …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unscannable::Encrypted => f.write_str("encrypted"),
            Unscannable::OverLimit(limit) => write!(f, "over_limit: {limit}"),
            Unscannable::Corrupt(what) => write!(f, "corrupt: {what}"),
            Unscannable::UnsupportedMethod(m) => write!(f, "unsupported_method: {m}"),
            Unscannable::Cancelled => f.write_str("cancelled: time budget exhausted"),
        }
    }
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitExceeded::Depth(n) => write!(f, "depth > {n}"),
            LimitExceeded::Members(n) => write!(f, "members > {n}"),
            LimitExceeded::TotalBytes(n) => write!(f, "bytes > {n}"),
            LimitExceeded::Ratio(n) => write!(f, "ratio > {n}"),
            LimitExceeded::MimeDepth(n) => write!(f, "mime depth > {n}"),
            LimitExceeded::Parts(n) => write!(f, "parts > {n}"),
            LimitExceeded::MessageBytes(n) => write!(f, "message bytes > {n}"),
            LimitExceeded::HeaderBytes(n) => write!(f, "header bytes > {n}"),
            LimitExceeded::Parameters(n) => write!(f, "parameters > {n}"),
            LimitExceeded::DecodedBytes(n) => write!(f, "decoded bytes > {n}"),
            LimitExceeded::ParseWork(n) => write!(f, "parsing work {n} > budget"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_before() {
        let ratio = Unscannable::OverLimit(LimitExceeded::Ratio(100));
        assert_eq!(ratio.to_string(), "over_limit: ratio > 100");
        let depth = Unscannable::OverLimit(LimitExceeded::MimeDepth(32));
        assert_eq!(depth.to_string(), "over_limit: mime depth > 32");
        assert_eq!(Unscannable::Encrypted.to_string(), "encrypted");
    }
}
