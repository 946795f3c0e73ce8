//! Archive attachments expanded into their member files, with bomb limits.
//!
//! API contract (implementation in progress): see [`expand`].

/// Limits applied while expanding one archive attachment (nested archives included).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveLimits {
    /// How deep archives may nest inside one attachment (the attachment itself is depth 1).
    /// Default 3.
    pub max_depth: u32,
    /// Members (files, all nesting levels together) one attachment may expand to. Default 1,000.
    pub max_members: u32,
    /// Uncompressed bytes one attachment may expand to, all members together. Default 256 MiB.
    pub max_total_bytes: u64,
    /// Largest uncompressed-to-compressed ratio of one member. Default 100.
    pub max_ratio: u32,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_depth: 3,
            max_members: 1_000,
            max_total_bytes: 256 << 20,
            max_ratio: 100,
        }
    }
}

/// Archive formats recognised by their content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveKind {
    /// PKZIP (local file header `PK\x03\x04`, or an empty archive's `PK\x05\x06`).
    Zip,
    /// gzip (RFC 1952), one member.
    Gzip,
    /// POSIX ustar / GNU tar.
    Tar,
}

/// Which limit an archive ran into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitExceeded {
    /// More nested archives than `max_depth`.
    Depth(u32),
    /// More members than `max_members`.
    Members(u32),
    /// More uncompressed bytes than `max_total_bytes`.
    TotalBytes(u64),
    /// A member whose uncompressed size passed `max_ratio` times its compressed size.
    Ratio(u32),
}

/// Why a file (a member, or a whole archive) cannot be scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unscannable {
    /// Encrypted member (password protected).
    Encrypted,
    /// A limit was reached; nothing past it was inflated.
    OverLimit(LimitExceeded),
    /// The archive's structure is broken (the text says where).
    Corrupt(String),
    /// A compression method this build does not decode (its number).
    UnsupportedMethod(u16),
}

/// What one member of an archive turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberContent {
    /// The decompressed bytes.
    Bytes(Vec<u8>),
    /// Could not be read; `raw` is what was there (the stored, still compressed or
    /// encrypted data), so that it still has an identity.
    Unscannable { reason: Unscannable, raw: Vec<u8> },
}

/// One file inside an archive attachment, nested archives flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Path inside the attachment; members of nested archives are prefixed with the nested
    /// archive's path and `/` (`inner.zip/report.pdf`).
    pub path: String,
    /// Content or the reason there is none.
    pub content: MemberContent,
}

/// The outcome of expanding one attachment that is an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// The outer format.
    pub kind: ArchiveKind,
    /// Files found, in archive order, nested archives replaced by their members.
    pub members: Vec<Member>,
    /// Set when the archive as a whole could not be (fully) read: over a limit or corrupt.
    /// `members` then holds what was read before the problem.
    pub problem: Option<Unscannable>,
}

/// Recognises an archive by its first bytes.
pub fn sniff(bytes: &[u8]) -> Option<ArchiveKind> {
    let _ = bytes;
    None
}

/// Expands `bytes` if they are an archive; `None` if they are not one.
pub fn expand(bytes: &[u8], limits: &ArchiveLimits) -> Option<Expansion> {
    let _ = (bytes, limits);
    None
}
