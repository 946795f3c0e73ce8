//! Archive attachments expanded into their member files, with bomb limits.
//!
//! The gateway cannot judge a zip, gzip or tar attachment as a whole: the sandbox has to
//! see the files inside it. [`expand`] flattens an archive (nested archives included) into
//! its members, but an archive is attacker-controlled input, so every step is bounded by
//! [`ArchiveLimits`]: nesting depth, member count, total inflated bytes and the per-member
//! compression ratio. A bomb gets a typed [`Unscannable::OverLimit`] outcome instead of
//! being inflated, and memory stays bounded by the limits whatever the headers claim.
//! An encrypted member cannot be scanned and is reported as such (no password is ever
//! tried). Formats are recognised by their content ([`sniff`]), never by the file name,
//! since a name is just another thing the sender chooses.
//!
//! Every byte held in [`Expansion::members`] (content or raw) is charged to
//! `max_total_bytes`, and so is a nested archive's own inflated bytes before it is
//! replaced by its members: nesting costs budget, which is what stops recursive bombs.

use std::io::{Cursor, Read};

pub use crate::unscannable::{LimitExceeded, Unscannable};

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
    /// Members up to this many uncompressed bytes are not held to `max_ratio`: a small,
    /// repetitive text legitimately compresses far better than 100:1, and a small member
    /// cannot be a bomb. Default 1 MiB.
    pub ratio_floor: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_depth: 3,
            max_members: 1_000,
            max_total_bytes: 256 << 20,
            max_ratio: 100,
            ratio_floor: 1 << 20,
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

/// What one member of an archive turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberContent {
    /// The decompressed bytes.
    Bytes(Vec<u8>),
    /// Could not be read; `raw` is what was there (the stored, still compressed or
    /// encrypted data), so that it still has an identity.
    Unscannable {
        /// Why the member could not be read.
        reason: Unscannable,
        /// The stored bytes, as far as they could be located (empty if not at all).
        raw: Vec<u8>,
    },
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

/// Recognises an archive by its first bytes (never by its name).
///
/// A tar is only recognised with a valid first header checksum: "ustar" at offset 257 alone
/// is too weak a signal, so a tar whose first header is damaged is not an archive at all.
pub fn sniff(bytes: &[u8]) -> Option<ArchiveKind> {
    if is_zip_document(bytes) {
        None
    } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        Some(ArchiveKind::Zip)
    } else if bytes.starts_with(b"\x1f\x8b") {
        Some(ArchiveKind::Gzip)
    } else if bytes.get(257..262) == Some(b"ustar") && bytes.get(..512).is_some_and(tar_checksum_ok)
    {
        Some(ArchiveKind::Tar)
    } else {
        None
    }
}

/// Bytes before which [`may_be_archive`] can answer: the end of a tar header's `ustar` magic.
pub const SNIFF_PREFIX: usize = 262;

/// False only when bytes that begin with `prefix` cannot be an archive, whatever follows:
/// [`sniff`] of the whole can only say yes for bytes this says yes for. `prefix` must hold
/// at least [`SNIFF_PREFIX`] bytes, or all of them. Lets the MIME walk hash an attachment
/// and drop its bytes as it decodes them, keeping only those that may need expanding.
pub fn may_be_archive(prefix: &[u8]) -> bool {
    prefix.starts_with(b"PK\x03\x04")
        || prefix.starts_with(b"PK\x05\x06")
        || prefix.starts_with(b"\x1f\x8b")
        || prefix.get(257..262) == Some(b"ustar")
}

/// First entries that mark a zip as a document format rather than an archive: Office Open
/// XML (`[Content_Types].xml`), OpenDocument (`mimetype`, first by the standard), Java and
/// Android packages. Such a file is analysed as the document it is (the sandbox opens Office
/// files; a third of malware comes in them, TIMINGS.md), not taken apart.
const DOCUMENT_FIRST_ENTRIES: [&[u8]; 5] = [
    b"[Content_Types].xml",
    b"mimetype",
    b"META-INF/MANIFEST.MF",
    b"META-INF/",
    b"AndroidManifest.xml",
];

/// True for a zip whose first local header names a document-format entry.
fn is_zip_document(bytes: &[u8]) -> bool {
    if !bytes.starts_with(b"PK\x03\x04") {
        return false;
    }
    let Some(&[lo, hi]) = bytes.get(26..28) else {
        return false;
    };
    let len = usize::from(u16::from_le_bytes([lo, hi]));
    bytes
        .get(30..30 + len)
        .is_some_and(|name| DOCUMENT_FIRST_ENTRIES.contains(&name))
}

/// Expands `bytes` if they are an archive; `None` if they are not one.
///
/// Members come in archive order, nested archives replaced by their members. A member that
/// cannot be read (encrypted, corrupt, over the ratio, an unsupported method, an archive
/// nested deeper than `max_depth`) is kept as [`MemberContent::Unscannable`] and expansion
/// goes on; running out of the shared member or byte budget, or a broken outer structure,
/// stops it and sets [`Expansion::problem`]. A nested archive that turns out broken becomes
/// a corrupt member (its raw bytes kept) after whatever of it could be read.
///
/// A gzip's member is named by the header's FNAME, or `""` when there is none (the caller
/// names it after the attachment); a nested gzip without FNAME takes the nested file's path.
pub fn expand(bytes: &[u8], limits: &ArchiveLimits) -> Option<Expansion> {
    let kind = sniff(bytes)?;
    let mut walk = Walk {
        limits,
        members: Vec::new(),
        bytes_left: limits.max_total_bytes,
    };
    let problem = if limits.max_depth == 0 {
        Some(over(LimitExceeded::Depth(0)))
    } else {
        walk.archive(kind, bytes, "", 1).err()
    };
    Some(Expansion {
        kind,
        members: walk.members,
        problem,
    })
}

/// One expansion in progress: the output and the budgets shared by all nesting levels.
struct Walk<'l> {
    limits: &'l ArchiveLimits,
    members: Vec<Member>,
    bytes_left: u64,
}

/// Errors of the walk stop the whole expansion (they become [`Expansion::problem`]);
/// member-level trouble is pushed as an unscannable member instead.
type Step = Result<(), Unscannable>;

fn over(limit: LimitExceeded) -> Unscannable {
    Unscannable::OverLimit(limit)
}

/// The FNAME of a gzip's first member (RFC 1952 §2.3.1), or `""`. RFC 1952 says ISO 8859-1;
/// UTF-8 is read as UTF-8, since that is what most tools write today.
fn gzip_fname(bytes: &[u8]) -> String {
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    let Some(&flags) = bytes.get(3) else {
        return String::new();
    };
    if flags & FNAME == 0 {
        return String::new();
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let Some(&[lo, hi]) = bytes.get(10..12) else {
            return String::new();
        };
        at = 12 + usize::from(u16::from_le_bytes([lo, hi]));
    }
    let Some(rest) = bytes.get(at..) else {
        return String::new();
    };
    let raw = &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())];
    match std::str::from_utf8(raw) {
        Ok(text) => text.to_owned(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    }
}

/// `container/name`, without a stray `/` when either side is empty.
fn join(container: &str, name: &str) -> String {
    match (container.is_empty(), name.is_empty()) {
        (true, _) => name.to_owned(),
        (_, true) => container.to_owned(),
        _ => format!("{container}/{name}"),
    }
}

impl Walk<'_> {
    /// Fails once the member budget is used up; called before inflating, so nothing past
    /// the limit is read.
    fn room(&self) -> Step {
        let max = self.limits.max_members;
        if self.members.len() >= usize::try_from(max).unwrap_or(usize::MAX) {
            return Err(over(LimitExceeded::Members(max)));
        }
        Ok(())
    }

    fn charge(&mut self, n: u64) -> Step {
        self.bytes_left = self
            .bytes_left
            .checked_sub(n)
            .ok_or_else(|| over(LimitExceeded::TotalBytes(self.limits.max_total_bytes)))?;
        Ok(())
    }

    fn push(&mut self, path: String, content: MemberContent) -> Step {
        self.room()?;
        self.members.push(Member { path, content });
        Ok(())
    }

    /// Pushes an unscannable member, charging `raw` (not yet counted) to the byte budget.
    fn push_raw(&mut self, path: String, reason: Unscannable, raw: Vec<u8>) -> Step {
        self.charge(raw.len() as u64)?;
        self.push(path, MemberContent::Unscannable { reason, raw })
    }

    /// A file found at `depth` whose bytes are already charged: a member, or a nested
    /// archive to expand one level deeper.
    fn file(&mut self, path: String, bytes: Vec<u8>, depth: u32) -> Step {
        let Some(kind) = sniff(&bytes) else {
            return self.push(path, MemberContent::Bytes(bytes));
        };
        if depth >= self.limits.max_depth {
            let reason = over(LimitExceeded::Depth(self.limits.max_depth));
            return self.push(path, MemberContent::Unscannable { reason, raw: bytes });
        }
        match self.archive(kind, &bytes, &path, depth + 1) {
            // A broken nested archive is a broken member, not a broken attachment; budget
            // overruns, on the other hand, are shared and stop everything.
            Err(reason @ Unscannable::Corrupt(_)) => {
                self.push(path, MemberContent::Unscannable { reason, raw: bytes })
            }
            other => other,
        }
    }

    fn archive(&mut self, kind: ArchiveKind, bytes: &[u8], container: &str, depth: u32) -> Step {
        match kind {
            ArchiveKind::Zip => self.zip(bytes, container, depth),
            ArchiveKind::Gzip => self.gzip(bytes, container, depth),
            ArchiveKind::Tar => self.tar(bytes, container, depth),
        }
    }

    fn zip(&mut self, bytes: &[u8], container: &str, depth: u32) -> Step {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| Unscannable::Corrupt(format!("zip directory: {e}")))?;
        for i in 0..zip.len() {
            let meta = zip.by_index_raw(i).map(|f| {
                let name = f.name().map(|n| n.into_owned());
                let name =
                    name.unwrap_or_else(|_| String::from_utf8_lossy(f.name_raw()).into_owned());
                (
                    name,
                    f.is_dir(),
                    f.encrypted(),
                    f.compression(),
                    f.size(),
                    f.compressed_size(),
                )
            });
            let (name, is_dir, encrypted, method, declared, compressed) = match meta {
                Ok(meta) => meta,
                Err(e) => {
                    // The local header cannot be found: no data to keep, only the name.
                    let name = zip
                        .name_for_index(i)
                        .and_then(Result::ok)
                        .unwrap_or_default();
                    let reason = Unscannable::Corrupt(format!("zip member {i}: {e}"));
                    self.push_raw(join(container, &name), reason, Vec::new())?;
                    continue;
                }
            };
            if is_dir {
                continue;
            }
            self.room()?;
            let path = join(container, &name);
            if encrypted {
                self.push_raw(path, Unscannable::Encrypted, zip_raw(&mut zip, i))?;
                continue;
            }
            if method != zip::CompressionMethod::Stored && method != zip::CompressionMethod::DEFLATE
            {
                // The crate hides the number behind a deprecated getter; it is still the
                // simplest faithful way to report which method it was.
                #[allow(deprecated)]
                let reason = Unscannable::UnsupportedMethod(method.to_u16());
                self.push_raw(path, reason, zip_raw(&mut zip, i))?;
                continue;
            }
            // Declared sizes first, so that an honest bomb is refused without inflating it.
            if declared > self.bytes_left {
                return Err(over(LimitExceeded::TotalBytes(self.limits.max_total_bytes)));
            }
            let ratio = self.limits.max_ratio;
            if declared > self.limits.ratio_floor
                && declared > compressed.max(1).saturating_mul(u64::from(ratio))
            {
                self.push_raw(
                    path,
                    over(LimitExceeded::Ratio(ratio)),
                    zip_raw(&mut zip, i),
                )?;
                continue;
            }
            // Headers can lie, so the read itself is bounded too. The checks above make the
            // declared size the smallest of the three bounds; reading one byte more tells a
            // member larger than declared, which we call corrupt: the header is false, and
            // the bytes past it were never inflated.
            let mut data = Vec::new();
            let read = zip
                .by_index(i)
                .and_then(|f| Ok(f.take(declared.saturating_add(1)).read_to_end(&mut data)?));
            let corrupt = match read {
                Err(e) => Some(format!("{name}: {e}")),
                Ok(_) if data.len() as u64 > declared => {
                    Some(format!("{name}: larger than its declared size {declared}"))
                }
                Ok(_) => None,
            };
            if let Some(msg) = corrupt {
                drop(data);
                self.push_raw(path, Unscannable::Corrupt(msg), zip_raw(&mut zip, i))?;
                continue;
            }
            self.charge(data.len() as u64)?;
            self.file(path, data, depth)?;
        }
        Ok(())
    }

    fn gzip(&mut self, bytes: &[u8], container: &str, depth: u32) -> Step {
        let by_ratio = (bytes.len() as u64)
            .saturating_mul(u64::from(self.limits.max_ratio))
            .max(self.limits.ratio_floor);
        let allowed = by_ratio.min(self.bytes_left);
        // Multi-member, so that nothing can hide in a second member the scanner skipped.
        let mut gz = flate2::read::MultiGzDecoder::new(bytes);
        let mut data = Vec::new();
        let read = (&mut gz)
            .take(allowed.saturating_add(1))
            .read_to_end(&mut data);
        // The name from the first member's header (flate2 reports the last one after a
        // multi-member read).
        let name = gzip_fname(bytes);
        let path = join(container, &name);
        if let Err(e) = read {
            // A broken gzip is a broken archive: the attachment (or, nested, the member that
            // holds it) is what cannot be scanned, as with zip and tar.
            return Err(Unscannable::Corrupt(format!("gzip: {e}")));
        }
        if data.len() as u64 > allowed {
            if by_ratio < self.bytes_left {
                let reason = over(LimitExceeded::Ratio(self.limits.max_ratio));
                return self.push_raw(path, reason, bytes.to_vec());
            }
            return Err(over(LimitExceeded::TotalBytes(self.limits.max_total_bytes)));
        }
        self.room()?;
        self.charge(data.len() as u64)?;
        self.file(path, data, depth)
    }

    fn tar(&mut self, bytes: &[u8], container: &str, depth: u32) -> Step {
        let corrupt = |at: usize, what: &str| Unscannable::Corrupt(format!("tar at {at}: {what}"));
        let mut pos = 0usize;
        let mut zero_blocks = 0;
        // A name for the next entry from a pax 'x' or GNU 'L' header.
        let mut next_name: Option<String> = None;
        while pos < bytes.len() {
            let Some(header) = bytes.get(pos..pos.saturating_add(512)) else {
                return Err(corrupt(pos, "truncated header"));
            };
            if header.iter().all(|&b| b == 0) {
                // Two zero blocks end the archive. A lone one does not: stopping there would
                // let members hide after it from us while `tar -i` still extracts them.
                zero_blocks += 1;
                if zero_blocks == 2 {
                    break;
                }
                pos += 512;
                continue;
            }
            zero_blocks = 0;
            if !tar_checksum_ok(header) {
                return Err(corrupt(pos, "bad header checksum"));
            }
            let size =
                tar_number(&header[124..136]).ok_or_else(|| corrupt(pos, "bad size field"))?;
            let start = pos + 512;
            let data = usize::try_from(size)
                .ok()
                .and_then(|n| bytes.get(start..start.checked_add(n)?))
                .ok_or_else(|| corrupt(pos, "truncated member"))?;
            pos = start.saturating_add(data.len().div_ceil(512).saturating_mul(512));
            match header[156] {
                b'0' | b'\0' | b'7' => {
                    let name = next_name.take().unwrap_or_else(|| tar_name(header));
                    // Pre-POSIX tars mark directories with a trailing slash only.
                    if name.ends_with('/') {
                        continue;
                    }
                    self.room()?;
                    self.charge(size)?;
                    self.file(join(container, &name), data.to_vec(), depth)?;
                }
                b'x' => next_name = pax_path(data).or(next_name),
                b'L' => next_name = Some(c_str(data)),
                // Directories, links, devices, global pax headers: nothing to scan.
                _ => next_name = None,
            }
        }
        Ok(())
    }
}

/// The raw stored bytes of zip member `i`, best effort: they only give an unreadable
/// member an identity, so failing to read them is not a further error. Bounded by the
/// input, since the reader is a cursor over it.
fn zip_raw(zip: &mut zip::ZipArchive<Cursor<&[u8]>>, i: usize) -> Vec<u8> {
    let mut raw = Vec::new();
    if let Ok(mut f) = zip.by_index_raw(i)
        && f.read_to_end(&mut raw).is_err()
    {
        raw.clear();
    }
    raw
}

/// Text up to the first NUL, lossily decoded (names in tars have no declared encoding).
fn c_str(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Name of a tar entry: ustar's prefix (offset 345) joined to the name field. Old GNU
/// headers (magic "ustar  ") keep other data there, so the prefix is POSIX-only.
fn tar_name(header: &[u8]) -> String {
    let name = c_str(&header[..100]);
    if header.get(257..263) == Some(b"ustar\0") {
        join(&c_str(&header[345..500]), &name)
    } else {
        name
    }
}

/// An octal numeric field (spaces and NULs around it), or GNU base-256 when the high bit
/// of the first byte is set. `None` when malformed or too large.
fn tar_number(field: &[u8]) -> Option<u64> {
    let first = *field.first()?;
    if first & 0x80 != 0 {
        // Base-256 big-endian; a negative number (0xff lead) has no meaning for a size.
        if first == 0xff {
            return None;
        }
        return field[1..]
            .iter()
            .try_fold(u64::from(first & 0x7f), |n, &b| {
                n.checked_mul(256)?.checked_add(u64::from(b))
            });
    }
    let digits = field.iter().skip_while(|&&b| b == b' ');
    let mut n: u64 = 0;
    for &b in digits.take_while(|&&b| b != 0 && b != b' ') {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        n = n.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// The header checksum: the sum of all bytes with the checksum field read as spaces.
/// Some historic tars summed signed chars, so either sum is accepted.
fn tar_checksum_ok(header: &[u8]) -> bool {
    let Some(stored) = header.get(148..156).and_then(tar_number) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &b) in header.iter().enumerate().take(512) {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    i64::try_from(stored).is_ok_and(|s| s == unsigned || s == signed)
}

/// The `path` record of a pax extended header ("<len> path=<value>\n" records).
fn pax_path(mut data: &[u8]) -> Option<String> {
    let mut path = None;
    while !data.is_empty() {
        let space = data.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&data[..space]).ok()?.parse().ok()?;
        // The length counts the whole record, its own digits and the newline included.
        let record = data.get(space + 1..len.checked_sub(1)?)?;
        if let Some(value) = record.strip_prefix(b"path=") {
            path = Some(String::from_utf8_lossy(value).into_owned());
        }
        data = data.get(len..)?;
    }
    path
}

#[cfg(test)]
mod tests;
