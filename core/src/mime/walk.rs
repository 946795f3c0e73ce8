//! The walk behind [`super::extract`]: entity by entity through the raw message and the
//! decoded copies of attached messages, under the message's [`MimeLimits`] and work budget.
//! Each leaf that is an attachment is transfer-decoded and hashed, archives are expanded,
//! and whatever a limit keeps the walk out of becomes one unwalked piece (fail closed).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use mail_parser::MessageParser;

use super::parts::{Head, Parts};
use super::{
    Attachment, Extraction, File, Malformed, MimeLimits, UNWALKED_NAME, decode, header_parser,
    split, work_budget,
};
use crate::archive::{self, ArchiveLimits, MemberContent};
use crate::digest::Md5;
use crate::unscannable::{LimitExceeded, Unscannable};

/// One walk of one message.
pub(super) struct Walker<'r> {
    raw: &'r [u8],
    limits: &'r MimeLimits,
    keep_contents: bool,
    /// Set by another thread to stop the walk (the live proxy's time budget).
    cancel: &'r AtomicBool,
    /// Whether multiparts are split as their parts are walked ([`Parts`]), so that an
    /// attachment's text is read once, and plain header blocks read without mail-parser
    /// ([`super::plain_header`]); `false` splits each multipart first ([`split::split`])
    /// and has mail-parser read every block: the reference the tests compare against.
    fuse: bool,
    parser: &'static MessageParser,
    out: Extraction,
    /// Archive budgets left for the rest of the message.
    archive_budget: ArchiveLimits,
    /// Entities walked so far, against [`MimeLimits::max_parts`].
    visited: u32,
    /// Bytes held now in decoded copies of attached messages.
    decoded_live: usize,
    /// Work left beyond the first reading ([`work_budget`]).
    work: u64,
    /// The part limit was reached: nothing more is walked.
    stopped: bool,
    /// Spans already reported as unwalked (pieces inside one encoded attached message all
    /// map to that message's span, which is reported once).
    unwalked_spans: BTreeSet<(usize, usize)>,
    /// The base64 decoder's room, lent from one attachment to the next.
    rooms: decode::Rooms,
}

/// Where an entity sits: the range of the buffer it is walked in, and the span of the raw
/// message that stands for it when that buffer is a decoded copy.
#[derive(Clone)]
struct Place {
    range: Range<usize>,
    /// `None` when the buffer is the raw message itself.
    splice: Option<Range<usize>>,
}

impl Place {
    /// The span of the raw message a rewrite replaces for `range` of this place's buffer.
    fn span(&self, range: Range<usize>) -> Range<usize> {
        self.splice.clone().unwrap_or(range)
    }
}

/// Ends an open part ([`Walker::walk`]): `at.range` becomes the part's.
fn settle(at: &mut Place, open: &mut Option<&mut Parts<'_>>) {
    if let Some(parts) = open.take() {
        at.range.end = parts.end();
    }
}

impl<'r> Walker<'r> {
    pub(super) fn new(
        raw: &'r [u8],
        limits: &'r MimeLimits,
        keep_contents: bool,
        cancel: &'r AtomicBool,
    ) -> Self {
        Walker {
            raw,
            limits,
            keep_contents,
            cancel,
            fuse: true,
            parser: header_parser(),
            out: Extraction::default(),
            archive_budget: limits.archive.clone(),
            visited: 0,
            decoded_live: 0,
            work: work_budget(raw.len()),
            stopped: false,
            unwalked_spans: BTreeSet::new(),
            rooms: decode::Rooms::default(),
        }
    }

    /// The same walk with `budget` of work instead of the one of the message's size.
    pub(super) fn with_work_budget(mut self, budget: u64) -> Self {
        self.work = budget;
        self
    }

    /// The same walk with every multipart split before its parts are walked and every
    /// header block read by mail-parser: the reference for tests.
    pub(super) fn unfused(mut self) -> Self {
        self.fuse = false;
        self
    }

    /// The extraction, or `None` when it was cancelled.
    pub(super) fn run(mut self) -> Option<Extraction> {
        let raw = self.raw;
        if raw.len() > self.limits.max_message_bytes {
            self.out.malformed.insert(Malformed::TooLarge);
            let limit = LimitExceeded::MessageBytes(self.limits.max_message_bytes as u64);
            self.unwalked(0..raw.len(), limit, "message/rfc822");
            return Some(self.out);
        }
        let top = Place {
            range: 0..raw.len(),
            splice: None,
        };
        self.walk(raw, top, None, 0, false);
        (!self.cancelled()).then_some(self.out)
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// One entity of `buf` at `at`: a multipart is split and its parts walked, an attached
    /// message is walked as a message, a leaf that is an attachment becomes files. Depth is
    /// bounded by [`MimeLimits::max_depth`], so the recursion is too. Whatever a limit keeps
    /// the walk out of becomes an unwalked piece ([`Walker::unwalked`]).
    ///
    /// With `open`, the entity is the part of a multipart that `open` gave last, whose end is
    /// not found yet: `at.range` runs to the end of the multipart, and the part's end is
    /// asked for ([`settle`]) before anything needs it — except by a base64 attachment,
    /// whose decoder finds it as it reads the body ([`decode::base64_open`]).
    fn walk(
        &mut self,
        buf: &[u8],
        mut at: Place,
        mut open: Option<&mut Parts<'_>>,
        depth: u32,
        in_digest: bool,
    ) {
        if self.stopped {
            return;
        }
        if self.cancelled() {
            // Nothing of it will be used: the caller treats the whole message as unseen.
            self.stopped = true;
            return;
        }
        if self.visited >= self.limits.max_parts {
            settle(&mut at, &mut open);
            self.out.malformed.insert(Malformed::PartLimit);
            self.stopped = true;
            let here = at.span(at.range.clone());
            self.unwalked(here, LimitExceeded::Parts(self.limits.max_parts), "");
            return;
        }
        self.visited += 1;
        // On an open part, this reads only its header block, which `open` found to end
        // before the part does.
        let mut read = None;
        let e = match split::entity_into(
            self.parser,
            self.fuse,
            buf,
            at.range.clone(),
            self.limits,
            &mut self.work,
            &mut read,
        ) {
            Ok(e) => e,
            Err(limit) => {
                settle(&mut at, &mut open);
                self.out.malformed.insert(Malformed::HeaderLimit);
                self.unwalked(at.span(at.range.clone()), limit, "");
                return;
            }
        };
        let mut body = e.body;
        let Some(fields) = read.as_ref() else {
            settle(&mut at, &mut open);
            if depth == 0 {
                self.out.malformed.insert(Malformed::NoHeaders);
            }
            // No headers: text/plain, or a message in a digest; never an attachment.
            if in_digest {
                let here = at.span(at.range.clone());
                let inner = Place {
                    range: body.start..at.range.end,
                    ..at
                };
                self.container(buf, inner, depth, here);
            }
            return;
        };
        if e.header_syntax {
            self.out.malformed.insert(Malformed::HeaderSyntax);
        }
        // A container's header block that no empty line ended, in the raw message: the
        // rewrite must keep it ending there (`Extraction::unended_headers`). A leaf's does
        // not matter: a rewrite replaces a leaf whole.
        let unended = e.unended && at.splice.is_none();
        if fields.content_types > 1 {
            self.out.malformed.insert(Malformed::DuplicateContentType);
        }
        let content_type = fields.content_type.as_ref();
        // Both readings give the type lowercased already: borrowed, not copied, unless it is
        // an attachment's.
        let (ctype, subtype) = match content_type {
            Some(ct) => (
                Cow::Borrowed(&*ct.c_type),
                ct.c_subtype
                    .as_deref()
                    .map(Cow::Borrowed)
                    .unwrap_or_default(),
            ),
            None if in_digest => (Cow::from("message"), Cow::from("rfc822")),
            None => (Cow::from("text"), Cow::from("plain")),
        };
        let boundary = content_type
            .and_then(|ct| ct.boundary.as_deref())
            .map(str::as_bytes);
        let cte = fields.transfer_encoding.as_deref();
        let leaf = ctype != "message" && !(ctype == "multipart" && boundary.is_some());
        if !(leaf && decode::is_base64(cte)) {
            settle(&mut at, &mut open);
        }
        body.end = body.end.min(at.range.end);
        if unended && !leaf {
            self.out.unended_headers.push(body.start..at.range.end);
        }
        match (ctype.as_ref(), subtype.as_ref(), boundary) {
            ("multipart", _, Some(boundary)) => {
                let here = at.span(at.range.clone());
                if depth >= self.limits.max_depth {
                    self.too_deep(here);
                    return;
                }
                let digest = subtype == "digest";
                match Parts::new(buf, body.clone(), boundary).filter(|_| self.fuse) {
                    Some(mut parts) => self.parts(buf, &mut parts, &at, depth, digest),
                    None => {
                        let split = split::split(buf, body.clone(), boundary);
                        self.parts_split(buf, &split, &at, depth, digest);
                    }
                }
            }
            // Every message/* type is a container, as Python reads it: message/rfc822 and
            // message/global hold a message; message/external-body only the header block of
            // content stored elsewhere, which is no file.
            ("message", _, _) => {
                let here = at.span(at.range.clone());
                let inner = Place {
                    range: body.clone(),
                    splice: at.splice.clone(),
                };
                self.attached_message(buf, inner, cte, depth, here);
            }
            _ => {
                let Some(name) = fields.file_name() else {
                    return;
                };
                // Only an archive's bytes are walked further; others are kept only for a
                // caller that asked for contents.
                let keep = if self.keep_contents {
                    decode::Keep::All
                } else {
                    decode::Keep::IfArchive
                };
                let (body, broken) = match open.take() {
                    // A base64 attachment whose end is still to be found: found as it is
                    // decoded, so that its text is read once.
                    Some(parts) => {
                        let start = body.start;
                        let text = &buf[start..at.range.end];
                        let (body, broken, end) =
                            decode::base64_open(text, keep, &mut self.rooms, |from| {
                                parts.end_from(start + from) - start
                            });
                        at.range.end = start + end;
                        (body, broken)
                    }
                    None => {
                        decode::decode_attachment(cte, &buf[body.clone()], keep, &mut self.rooms)
                    }
                };
                if broken {
                    self.out.malformed.insert(Malformed::BadTransferEncoding);
                }
                // Joined by hand, in one allocation: `format!` alone was 2 % of a 10 KB
                // message's pipeline.
                let content_type = if subtype.is_empty() {
                    ctype.into_owned()
                } else {
                    let mut t = String::with_capacity(ctype.len() + 1 + subtype.len());
                    t.push_str(&ctype);
                    t.push('/');
                    t.push_str(&subtype);
                    t
                };
                self.add_attachment(name, content_type, body, at.span(at.range.clone()));
            }
        }
    }

    /// The parts of a multipart at `at`, found one at a time as they are walked.
    fn parts(&mut self, buf: &[u8], parts: &mut Parts<'_>, at: &Place, depth: u32, digest: bool) {
        while let Some((start, head)) = parts.next_part() {
            let (end, open) = match head {
                Head::Ended(end) => (end, None),
                Head::Open(_) => (at.range.end, Some(&mut *parts)),
            };
            let place = Place {
                range: start..end,
                splice: at.splice.clone(),
            };
            self.walk(buf, place, open, depth + 1, digest);
            if self.stopped {
                // The part limit stopped the walk inside this part: the parts after it are
                // one piece, replaced together by one part if need be.
                let mut rest: Option<Range<usize>> = None;
                while let Some((start, _)) = parts.next_part() {
                    let end = parts.end();
                    rest = Some(rest.map_or(start, |r| r.start)..end);
                }
                if let Some(rest) = rest {
                    self.unwalked(
                        at.span(rest),
                        LimitExceeded::Parts(self.limits.max_parts),
                        "",
                    );
                }
                break;
            }
        }
        if !parts.terminated() {
            self.out.malformed.insert(Malformed::UnterminatedMultipart);
        }
    }

    /// The parts of a multipart at `at`, all found before any is walked: the reference the
    /// walk with [`Parts`] is tested against, and what walks a boundary that `Parts` does
    /// not take.
    fn parts_split(
        &mut self,
        buf: &[u8],
        split: &split::Split,
        at: &Place,
        depth: u32,
        digest: bool,
    ) {
        if !split.terminated {
            self.out.malformed.insert(Malformed::UnterminatedMultipart);
        }
        for (k, part) in split.parts.iter().enumerate() {
            let place = Place {
                range: part.clone(),
                splice: at.splice.clone(),
            };
            self.walk(buf, place, None, depth + 1, digest);
            if self.stopped {
                // The part limit stopped the walk inside this part: the parts after it are
                // one piece, replaced together by one part if need be.
                if let (Some(next), Some(last)) = (split.parts.get(k + 1), split.parts.last()) {
                    let rest = at.span(next.start..last.end);
                    self.unwalked(rest, LimitExceeded::Parts(self.limits.max_parts), "");
                }
                break;
            }
        }
    }

    /// The body at `inner` of an attached message (its transfer encoding `cte`), whose whole
    /// entity is `here` in the raw message.
    fn attached_message(
        &mut self,
        buf: &[u8],
        inner: Place,
        cte: Option<&str>,
        depth: u32,
        here: Range<usize>,
    ) {
        if depth >= self.limits.max_depth {
            self.too_deep(here);
            return;
        }
        let body = &buf[inner.range.clone()];
        if decode::needs_decoding(cte) {
            // A decoded copy is never larger than its encoding, so the encoded length bounds
            // what the copy would add, to the copies held at once and to the work done.
            let len = body.len() as u64;
            let limit = if self.decoded_live + body.len() > self.limits.max_decoded_bytes {
                Some(LimitExceeded::DecodedBytes(
                    self.limits.max_decoded_bytes as u64,
                ))
            } else if len > self.work {
                Some(LimitExceeded::ParseWork(len))
            } else {
                None
            };
            if let Some(limit) = limit {
                self.out.malformed.insert(Malformed::DecodedLimit);
                self.unwalked(here, limit, "message/rfc822");
                return;
            }
            self.work -= len;
        }
        let (decoded, broken) = decode::transfer_decode(cte, body);
        if broken {
            self.out.malformed.insert(Malformed::BadTransferEncoding);
        }
        match decoded {
            Cow::Borrowed(_) => self.walk(buf, inner, None, depth + 1, false),
            // An encoded attached message is walked in its decoded copy; its parts can only
            // be replaced as this whole part.
            Cow::Owned(copy) => {
                self.decoded_live += copy.len();
                let place = Place {
                    range: 0..copy.len(),
                    splice: Some(here),
                };
                self.walk(&copy, place, None, depth + 1, false);
                self.decoded_live -= copy.len();
            }
        }
    }

    /// A digest part without headers: an attached message whose body is `inner`.
    fn container(&mut self, buf: &[u8], inner: Place, depth: u32, here: Range<usize>) {
        if depth >= self.limits.max_depth {
            self.too_deep(here);
            return;
        }
        self.walk(buf, inner, None, depth + 1, false);
    }

    fn too_deep(&mut self, here: Range<usize>) {
        self.out.malformed.insert(Malformed::DepthLimit);
        let limit = LimitExceeded::MimeDepth(self.limits.max_depth);
        self.unwalked(here, limit, "");
    }

    /// Records `span` of the raw message as a piece the walk could not enter: one
    /// unscannable file whose identity is the MD5 of those raw bytes.
    fn unwalked(&mut self, span: Range<usize>, limit: LimitExceeded, content_type: &str) {
        if span.is_empty() || !self.unwalked_spans.insert((span.start, span.end)) {
            return;
        }
        let bytes = &self.raw[span.clone()];
        let md5 = Md5::of(bytes);
        let content_type = if content_type.is_empty() {
            "application/octet-stream"
        } else {
            content_type
        };
        let piece = Attachment {
            name: UNWALKED_NAME.to_owned(),
            content_type: content_type.to_owned(),
            size: bytes.len() as u64,
            md5,
            span,
            archive: None,
            unwalked: true,
        };
        // Its bytes are never kept: an unscannable file is not uploaded anywhere.
        let unscannable = Some(Unscannable::OverLimit(limit));
        let file = File::whole(self.out.attachments.len(), &piece, unscannable, None);
        self.out.attachments.push(piece);
        self.out.files.push(file);
    }

    fn add_attachment(
        &mut self,
        name: String,
        content_type: String,
        body: decode::Body<'_>,
        span: Range<usize>,
    ) {
        let index = self.out.attachments.len();
        let (bytes, md5) = match body {
            decode::Body::Bytes(bytes, md5) => {
                let md5 = md5.unwrap_or_else(|| Md5::of(&bytes));
                (bytes, md5)
            }
            // Hashed while decoded, no archive, contents not asked for: the file is its
            // name, size and MD5.
            decode::Body::Hashed { size, md5 } => {
                let attachment = Attachment {
                    name,
                    content_type,
                    size,
                    md5,
                    span,
                    archive: None,
                    unwalked: false,
                };
                let file = File::whole(index, &attachment, None, None);
                self.out.files.push(file);
                self.out.attachments.push(attachment);
                return;
            }
        };
        let expansion = if self.cancelled() {
            None
        } else {
            archive::expand(&bytes, &self.archive_budget)
        };
        let attachment = Attachment {
            name,
            content_type,
            size: bytes.len() as u64,
            md5,
            span,
            archive: expansion.as_ref().map(|e| e.kind),
            unwalked: false,
        };
        let Some(expansion) = expansion else {
            let content = self.keep_contents.then(|| bytes.into_owned());
            self.out
                .files
                .push(File::whole(index, &attachment, None, content));
            self.out.attachments.push(attachment);
            return;
        };
        let name = &attachment.name;
        for member in expansion.members {
            let (content, unscannable) = match member.content {
                MemberContent::Bytes(b) => (b, None),
                MemberContent::Unscannable { reason, raw } => (raw, Some(reason)),
            };
            self.spend_archive_budget(content.len());
            let member_name = if member.path.is_empty() {
                // A gzip without a stored name: the attachment's name without `.gz`.
                name.strip_suffix(".gz").unwrap_or(name).to_owned()
            } else {
                member.path
            };
            self.out.files.push(File {
                attachment: index,
                name: member_name,
                content_type: "application/octet-stream".to_owned(),
                size: content.len() as u64,
                md5: Md5::of(&content),
                archive: Some(name.clone()),
                unscannable,
                content: self.keep_contents.then_some(content),
            });
        }
        // An archive that could not be read to the end is itself a file that cannot be
        // analysed: what was not read might be anything. (Its bytes are not kept: an
        // unscannable file goes to no data center.)
        if let Some(problem) = expansion.problem {
            let file = File::whole(index, &attachment, Some(problem), None);
            self.out.files.push(file);
        }
        self.out.attachments.push(attachment);
    }

    fn spend_archive_budget(&mut self, bytes: usize) {
        let b = &mut self.archive_budget;
        b.max_members = b.max_members.saturating_sub(1);
        b.max_total_bytes = b.max_total_bytes.saturating_sub(bytes as u64);
    }
}
