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

impl std::fmt::Display for Unscannable {
    /// Short reasons for reports: `encrypted`, `over_limit: ratio > 100`, `corrupt: …`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unscannable::Encrypted => f.write_str("encrypted"),
            Unscannable::OverLimit(LimitExceeded::Depth(n)) => write!(f, "over_limit: depth > {n}"),
            Unscannable::OverLimit(LimitExceeded::Members(n)) => {
                write!(f, "over_limit: members > {n}")
            }
            Unscannable::OverLimit(LimitExceeded::TotalBytes(n)) => {
                write!(f, "over_limit: bytes > {n}")
            }
            Unscannable::OverLimit(LimitExceeded::Ratio(n)) => write!(f, "over_limit: ratio > {n}"),
            Unscannable::Corrupt(what) => write!(f, "corrupt: {what}"),
            Unscannable::UnsupportedMethod(m) => write!(f, "unsupported_method: {m}"),
        }
    }
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
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;
    use zip::CompressionMethod::{Deflated, Stored};

    /// Builds a zip; a name ending in `/` is a directory.
    fn zip_of(entries: &[(&str, &[u8], zip::CompressionMethod)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for &(name, data, method) in entries {
            let opts = zip::write::SimpleFileOptions::default().compression_method(method);
            if name.ends_with('/') {
                w.add_directory(name, opts).expect("add directory");
            } else {
                w.start_file(name, opts).expect("start file");
                w.write_all(data).expect("write member");
            }
        }
        w.finish().expect("finish zip").into_inner()
    }

    /// Offsets of every `sig` in `bytes` (test data avoids accidental matches).
    fn find(bytes: &[u8], sig: &[u8]) -> Vec<usize> {
        let hits = bytes.windows(sig.len()).enumerate();
        hits.filter(|(_, w)| *w == sig).map(|(i, _)| i).collect()
    }

    /// Overwrites a field of every local (`local_at`) and central (`central_at`) header.
    fn patch(bytes: &mut [u8], local_at: usize, central_at: usize, value: &[u8]) {
        for (sig, at) in [(b"PK\x03\x04", local_at), (b"PK\x01\x02", central_at)] {
            for i in find(bytes, sig) {
                bytes[i + at..i + at + value.len()].copy_from_slice(value);
            }
        }
    }

    /// Breaks the CRC of the last member: had it been inflated, it would show as corrupt.
    fn break_last_crc(z: &mut [u8]) {
        for (sig, at) in [(b"PK\x03\x04", 14), (b"PK\x01\x02", 16)] {
            let i = find(z, sig).last().copied().unwrap_or_default();
            z[i + at] ^= 0xff;
        }
    }

    fn gz(data: &[u8], name: Option<&str>) -> Vec<u8> {
        let mut b = flate2::GzBuilder::new();
        if let Some(n) = name {
            b = b.filename(n);
        }
        let mut w = b.write(Vec::new(), flate2::Compression::default());
        w.write_all(data).expect("gzip write");
        w.finish().expect("gzip finish")
    }

    fn tar_of(entries: &[(&str, &[u8], u8)]) -> Vec<u8> {
        let mut t = Vec::new();
        for &(name, data, flag) in entries {
            let mut h = vec![0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
            h[156] = flag;
            h[257..265].copy_from_slice(b"ustar\x0000");
            h[148..156].fill(b' ');
            let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
            h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
            t.extend(h);
            t.extend(data);
            t.resize(t.len().div_ceil(512) * 512, 0);
        }
        t.extend([0u8; 1024]);
        t
    }

    fn run_with(bytes: &[u8], set: impl FnOnce(&mut ArchiveLimits)) -> Vec<String> {
        let mut limits = ArchiveLimits::default();
        set(&mut limits);
        show(&expand(bytes, &limits).expect("an archive"))
    }

    fn run(bytes: &[u8]) -> Vec<String> {
        run_with(bytes, |_| ())
    }

    /// `path=content` or `path!reason` per member, then `problem reason` if any; corrupt
    /// messages are left out, being free text.
    fn show(e: &Expansion) -> Vec<String> {
        let short = |u: &Unscannable| match u {
            Unscannable::Corrupt(_) => "Corrupt".to_owned(),
            other => format!("{other:?}"),
        };
        let member = |m: &Member| match &m.content {
            MemberContent::Bytes(b) => format!("{}={}", m.path, String::from_utf8_lossy(b)),
            MemberContent::Unscannable { reason, .. } => format!("{}!{}", m.path, short(reason)),
        };
        let mut out: Vec<String> = e.members.iter().map(member).collect();
        out.extend(e.problem.as_ref().map(|p| format!("problem {}", short(p))));
        out
    }

    /// The raw bytes of the first member, which must be unscannable.
    fn first_raw(bytes: &[u8], limits: &ArchiveLimits) -> Vec<u8> {
        let e = expand(bytes, limits).expect("an archive");
        match e.members.into_iter().next().map(|m| m.content) {
            Some(MemberContent::Unscannable { raw, .. }) => raw,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sniffs_by_content() {
        assert_eq!(
            sniff(&zip_of(&[("a", b"x", Stored)])),
            Some(ArchiveKind::Zip)
        );
        assert_eq!(sniff(&zip_of(&[])), Some(ArchiveKind::Zip));
        assert_eq!(sniff(&gz(b"x", Some("a.zip"))), Some(ArchiveKind::Gzip));
        assert_eq!(sniff(&tar_of(&[("a", b"x", b'0')])), Some(ArchiveKind::Tar));
        assert_eq!(sniff(b"just text named like archive.zip"), None);
        assert_eq!(expand(b"plain", &ArchiveLimits::default()), None);
        assert_eq!(run(&zip_of(&[])), Vec::<String>::new());
    }

    #[test]
    fn zip_members_in_order_directories_skipped() {
        let z = zip_of(&[
            ("d/", b"", Stored),
            ("d/a", b"alpha", Stored),
            ("b", b"bbb", Deflated),
        ]);
        assert_eq!(run(&z), ["d/a=alpha", "b=bbb"]);
    }

    #[test]
    fn nested_zips_are_flattened_up_to_max_depth() {
        let l3 = zip_of(&[("x.txt", b"deep", Deflated)]);
        let l2 = zip_of(&[("l3.zip", &l3, Stored)]);
        let l1 = zip_of(&[("a.txt", b"top", Stored), ("l2.zip", &l2, Deflated)]);
        assert_eq!(run(&l1), ["a.txt=top", "l2.zip/l3.zip/x.txt=deep"]);
        let deep = run_with(&l1, |l| l.max_depth = 2);
        assert_eq!(deep, ["a.txt=top", "l2.zip/l3.zip!OverLimit(Depth(2))"]);
        assert_eq!(
            run_with(&l1, |l| l.max_depth = 0),
            ["problem OverLimit(Depth(0))"]
        );
        let limits = ArchiveLimits {
            max_depth: 1,
            ..Default::default()
        };
        assert_eq!(
            first_raw(&zip_of(&[("l3.zip", &l3, Deflated)]), &limits),
            l3
        );
    }

    #[test]
    fn encrypted_member_is_unscannable_with_raw_bytes() {
        let mut z = zip_of(&[
            ("secret.doc", b"ciphertext", Stored),
            ("b", b"plain", Stored),
        ]);
        // Bit 0 of the general-purpose flags, in the first local and central header only.
        z[6] |= 1;
        let central = find(&z, b"PK\x01\x02")[0];
        z[central + 8] |= 1;
        assert_eq!(run(&z), ["secret.doc!Encrypted", "b=plain"]);
        assert_eq!(first_raw(&z, &ArchiveLimits::default()), b"ciphertext");
    }

    #[test]
    fn unsupported_method_and_bad_crc_are_member_level() {
        let mut z = zip_of(&[("a.bz2", b"aaaa", Stored)]);
        patch(&mut z, 8, 10, &12u16.to_le_bytes());
        assert_eq!(run(&z), ["a.bz2!UnsupportedMethod(12)"]);

        let mut z = zip_of(&[("bad", b"0123456789", Stored), ("good", b"fine", Stored)]);
        let at = find(&z, b"0123")[0];
        z[at] = b'X';
        assert_eq!(run(&z), ["bad!Corrupt", "good=fine"]);
    }

    #[test]
    fn bomb_is_refused_by_its_declared_size() {
        let mut z = zip_of(&[
            ("a", b"small", Stored),
            ("zeros", &vec![0; 4 << 20], Deflated),
        ]);
        break_last_crc(&mut z);
        let e = run_with(&z, |l| {
            (l.max_total_bytes, l.max_ratio) = (256 << 10, u32::MAX)
        });
        assert_eq!(e, ["a=small", "problem OverLimit(TotalBytes(262144))"]);
    }

    #[test]
    fn ratio_limit_is_per_member() {
        let mut z = zip_of(&[
            ("b", b"next", Stored),
            ("zeros", &vec![0; 2 << 20], Deflated),
        ]);
        break_last_crc(&mut z);
        assert_eq!(run(&z), ["b=next", "zeros!OverLimit(Ratio(100))"]);
    }

    #[test]
    fn small_repetitive_members_are_below_the_ratio_floor() {
        let text = b"Payment within 30 days.\n".repeat(400);
        let z = zip_of(&[("terms.txt", &text, Deflated)]);
        assert_eq!(run(&z).len(), 1);
        assert!(!run(&z)[0].contains('!'), "{:?}", run(&z));
    }

    #[test]
    fn office_and_java_zips_are_documents_not_archives() {
        for first in ["[Content_Types].xml", "mimetype", "META-INF/MANIFEST.MF"] {
            let z = zip_of(&[
                (first, b"x", Stored),
                ("word/document.xml", b"<w/>", Deflated),
            ]);
            assert_eq!(sniff(&z), None, "{first}");
            assert_eq!(expand(&z, &ArchiveLimits::default()), None, "{first}");
        }
        let z = zip_of(&[("readme.txt", b"x", Stored)]);
        assert_eq!(sniff(&z), Some(ArchiveKind::Zip));
    }

    #[test]
    fn lying_declared_size_is_read_bounded_and_corrupt() {
        let mut z = zip_of(&[("zeros", &vec![0; 4 << 20], Deflated)]);
        patch(&mut z, 22, 24, &1000u32.to_le_bytes());
        let limits = ArchiveLimits {
            max_total_bytes: 1 << 20,
            ..Default::default()
        };
        let e = expand(&z, &limits).expect("an archive");
        assert_eq!(show(&e), ["zeros!Corrupt"]);
        let MemberContent::Unscannable {
            reason: Unscannable::Corrupt(msg),
            raw,
        } = &e.members[0].content
        else {
            unreachable!("checked above");
        };
        assert!(msg.contains("larger than"), "{msg}");
        assert!(raw.len() < 64 << 10, "raw is the compressed data");
    }

    #[test]
    fn member_budget_is_shared_across_nesting() {
        let inner = zip_of(&[
            ("b", b"b", Stored),
            ("c", b"c", Stored),
            ("d", b"d", Stored),
        ]);
        let outer = zip_of(&[("a", b"a", Stored), ("inner.zip", &inner, Stored)]);
        let e = run_with(&outer, |l| l.max_members = 3);
        assert_eq!(
            e,
            [
                "a=a",
                "inner.zip/b=b",
                "inner.zip/c=c",
                "problem OverLimit(Members(3))"
            ]
        );
    }

    #[test]
    fn truncated_zip_is_corrupt() {
        let z = zip_of(&[("a.txt", b"alpha", Stored), ("b.txt", b"beta", Deflated)]);
        for cut in [4, 30, z.len() / 2, z.len() - 1] {
            assert_eq!(run(&z[..cut]), ["problem Corrupt"], "cut at {cut}");
        }
    }

    #[test]
    fn gzip_member_named_by_fname_or_empty() {
        assert_eq!(run(&gz(b"hello", Some("report.txt"))), ["report.txt=hello"]);
        assert_eq!(run(&gz(b"hello", None)), ["=hello"]);
        assert_eq!(
            run(&gz(&vec![0; 2 << 20], None)),
            ["!OverLimit(Ratio(100))"]
        );
        let bad = gz(b"hello hello", Some("h"));
        assert_eq!(run(&bad[..bad.len() - 3]), ["problem Corrupt"]);
        // Nested, the broken gzip is the member that cannot be scanned.
        let z = zip_of(&[("inner.gz", &bad[..bad.len() - 3], Stored)]);
        assert_eq!(run(&z), ["inner.gz!Corrupt"]);
    }

    #[test]
    fn gzip_names_come_from_the_first_member_and_latin1_is_read() {
        let mut both = gz(b"a", Some("a.txt"));
        both.extend_from_slice(&gz(b"b", Some("b.txt")));
        assert_eq!(run(&both), ["a.txt=ab"]);
        let mut latin1 = gz(b"x", Some("cafX.txt"));
        let at = latin1.iter().position(|&b| b == b'X').expect("placeholder");
        latin1[at] = 0xe9;
        assert_eq!(run(&latin1), ["café.txt=x"]);
    }

    #[test]
    fn tar_files_and_tar_gz() {
        let big = "7".repeat(600); // spans two blocks
        let t = tar_of(&[
            ("dir/", b"", b'5'),
            ("dir/a", b"alpha", b'0'),
            ("b", big.as_bytes(), 0),
        ]);
        assert_eq!(run(&t), ["dir/a=alpha".to_owned(), format!("b={big}")]);
        assert_eq!(
            run(&gz(&t, Some("bundle.tar")))[0],
            "bundle.tar/dir/a=alpha"
        );
        assert_eq!(run(&gz(&t, None))[0], "dir/a=alpha");
        assert_eq!(
            run_with(&gz(&t, None), |l| l.max_depth = 1),
            ["!OverLimit(Depth(1))"]
        );
    }

    #[test]
    fn tar_long_names_lone_zero_block_and_budget() {
        let long = "l/".repeat(80) + "x.txt";
        let pax = format!("{} path={long}\n", long.len() + 10); // 3 digits, space, "path=", \n
        let mut t = tar_of(&[("././@LongLink", b"gnu.txt\0", b'L'), ("short", b"g", b'0')]);
        t.truncate(t.len() - 1024);
        t.extend([0; 512]); // a lone zero block does not end the archive
        t.extend(tar_of(&[
            ("PaxHeader", pax.as_bytes(), b'x'),
            ("short", b"p", b'0'),
        ]));
        assert_eq!(run(&t), ["gnu.txt=g".to_owned(), format!("{long}=p")]);
        let e = run_with(&t, |l| l.max_total_bytes = 1);
        assert_eq!(e, ["gnu.txt=g", "problem OverLimit(TotalBytes(1))"]);
    }

    #[test]
    fn tar_checksum_and_truncation() {
        let t = tar_of(&[("a.txt", b"alpha", b'0'), ("b.txt", b"beta", b'0')]);
        let mut bad = t.clone();
        bad[0] = b'A'; // first header: not recognised as a tar at all
        assert_eq!(
            (sniff(&bad), expand(&bad, &ArchiveLimits::default())),
            (None, None)
        );
        let mut bad = t.clone();
        bad[1024] = b'B'; // second header: what came before is kept
        assert_eq!(run(&bad), ["a.txt=alpha", "problem Corrupt"]);
        assert_eq!(
            run(&t[..1024 + 512 + 2]),
            ["a.txt=alpha", "problem Corrupt"]
        );
    }

    fn samples() -> Vec<Vec<u8>> {
        let inner = zip_of(&[("x.txt", &[b'x'; 3000], Deflated)]);
        let t = tar_of(&[("a.txt", b"alpha", b'0'), ("z", &[0; 5000], b'0')]);
        let z = zip_of(&[
            ("a", b"alpha", Stored),
            ("i.zip", &inner, Deflated),
            ("z", &[0; 5000], Deflated),
        ]);
        vec![z, gz(&t, Some("t.tar")), t]
    }

    proptest! {
        #[test]
        fn damaged_archives_never_panic_and_stay_in_budget(
            which in 0usize..3, cut in any::<prop::sample::Index>(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        ) {
            let mut bytes = samples().swap_remove(which);
            for (at, b) in flips {
                let i = at.index(bytes.len());
                bytes[i] ^= b;
            }
            bytes.truncate(cut.index(bytes.len() + 1));
            let limits = ArchiveLimits { max_total_bytes: 8 << 10, max_ratio: 1000, ..Default::default() };
            if let Some(e) = expand(&bytes, &limits) {
                let len = |m: &Member| match &m.content {
                    MemberContent::Bytes(b) | MemberContent::Unscannable { raw: b, .. } => b.len() as u64,
                };
                prop_assert!(e.members.iter().map(len).sum::<u64>() <= limits.max_total_bytes);
            }
        }

        #[test]
        fn random_bytes_never_panic(magic in 0usize..4, tail in prop::collection::vec(any::<u8>(), 0..1500)) {
            let mut bytes = [&b"PK\x03\x04"[..], b"PK\x05\x06", b"\x1f\x8b", b""][magic].to_vec();
            bytes.extend(tail);
            let _ = sniff(&bytes);
            let _ = expand(&bytes, &ArchiveLimits::default());
        }
    }
}
