//! The MIME part tree of a message as an IMAP server numbers it, with exact byte offsets: a
//! port of Dovecot 2.3's message parser (`lib-mail/message-parser.c`) to a byte slice.
//!
//! Dovecot's reading is what sections, BINARY and BODYSTRUCTURE must agree with (I6), and it
//! differs from a general MIME parser's in ways a client sees: a boundary matches by prefix
//! (`--abcdef` ends a part of boundary `abc`), an inner part ends at any enclosing boundary,
//! the line end before a boundary belongs to the boundary, a header cut by a boundary ends
//! there, a multipart without a boundary parameter has no parts, parts without Content-Type
//! in a multipart/digest are message/rfc822, and Content-* fields count only in MIME entities
//! (a Content-Type or MIME-Version field makes one). Limits are Dovecot's: 100 nested parts,
//! 10,000 in all.

use super::header::{self, Line};
use super::rfc822::{Lexer, Step};

/// Dovecot's `MESSAGE_PARSER_DEFAULT_MAX_NESTED_MIME_PARTS`.
const MAX_NESTED: usize = 100;
/// Dovecot's `MESSAGE_PARSER_DEFAULT_MAX_TOTAL_MIME_PARTS`.
const MAX_TOTAL: usize = 10_000;
/// Dovecot's `BOUNDARY_STRING_MAX_LEN`: longer boundaries are cut.
const BOUNDARY_MAX: usize = 80;
/// Dovecot's `BOUNDARY_END_MAX_LEN`.
const BOUNDARY_END_MAX: usize = BOUNDARY_MAX + 4;

/// One part: where its header and body are, what kind it is, and its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    /// First byte of the header.
    pub start: usize,
    /// First byte of the body (the header's end).
    pub body: usize,
    /// End of the part.
    pub end: usize,
    /// What the part is.
    pub kind: Kind,
    /// A MIME entity (a part of a multipart, or a header with Content-Type or MIME-Version):
    /// only then do its Content-* fields count.
    pub is_mime: bool,
    /// The parts of a multipart, or the one message of a message/rfc822 part.
    pub children: Vec<Part>,
}

/// What kind of part the parser took it for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// text/* (also: no Content-Type).
    Text,
    /// multipart/* (with [`Part::children`] when it had a boundary).
    Multipart {
        /// multipart/digest: parts without Content-Type are message/rfc822.
        digest: bool,
    },
    /// message/rfc822, with the attached message as its one child.
    Message,
    /// Anything else; also a message/rfc822 or multipart part past the nesting limits.
    Other,
}

impl Part {
    /// The part with this IMAP part path (`[2, 1]` for `2.1`), as Dovecot finds it
    /// (`imap_msgpart_find`): a single part is its own part 1, a message/rfc822 part's
    /// numbers continue inside its message. `None` when there is no such part.
    pub fn find(&self, path: &[u32]) -> Option<&Part> {
        let mut part = self;
        for (i, &num) in path.iter().enumerate() {
            let more = i + 1 < path.len();
            if matches!(part.kind, Kind::Multipart { .. }) {
                part = part.children.get(usize::try_from(num.max(1)).ok()? - 1)?;
            } else if num != 1 || (more && part.kind != Kind::Message) {
                return None;
            }
            if more && part.kind == Kind::Message {
                part = part.children.first()?;
            }
        }
        Some(part)
    }
}

/// Parses `message` into its part tree (the root is the message).
pub(crate) fn parse(message: &[u8]) -> Part {
    let mut parser = Parser {
        buf: message,
        nodes: vec![Node::new(0, None)],
        boundaries: Vec::new(),
        total: 1,
    };
    parser.run();
    parser.tree(0)
}

struct Node {
    start: usize,
    body: usize,
    end: usize,
    kind: Kind,
    is_mime: bool,
    parent: Option<usize>,
    children: Vec<usize>,
}

impl Node {
    fn new(start: usize, parent: Option<usize>) -> Self {
        Node {
            start,
            body: start,
            end: start,
            kind: Kind::Text,
            is_mime: false,
            parent,
            children: Vec::new(),
        }
    }
}

struct Boundary {
    text: Vec<u8>,
    part: usize,
}

/// A boundary line found: which boundary, and whether it is the closing one (`--b--`).
struct Found {
    index: usize,
    closing: bool,
}

/// What the parser does next.
enum Next {
    /// Read the header of the current part, from here.
    Header(usize),
    /// Read the current part's body from here to a boundary (or the end).
    Body(usize),
    /// The message is read.
    Done,
}

struct Parser<'a> {
    buf: &'a [u8],
    nodes: Vec<Node>,
    /// Innermost last.
    boundaries: Vec<Boundary>,
    total: usize,
}

impl Parser<'_> {
    fn run(&mut self) {
        let mut current = 0;
        let mut next = Next::Header(0);
        loop {
            next = match next {
                Next::Header(pos) => self.header(&mut current, pos),
                Next::Body(pos) => self.body(&mut current, pos),
                Next::Done => break,
            };
        }
        // Every part still open ends where the message ends.
        let mut part = Some(current);
        while let Some(p) = part {
            self.nodes[p].end = self.buf.len();
            part = self.nodes[p].parent;
        }
    }

    fn depth(&self, mut node: usize) -> usize {
        let mut depth = 0;
        while let Some(parent) = self.nodes[node].parent {
            depth += 1;
            node = parent;
        }
        depth
    }

    /// Appends a child to `parent` starting at `pos`.
    fn append(&mut self, parent: usize, pos: usize, is_mime: bool) -> usize {
        let id = self.nodes.len();
        let mut node = Node::new(pos, Some(parent));
        node.is_mime = is_mime;
        self.nodes.push(node);
        self.nodes[parent].children.push(id);
        self.total += 1;
        id
    }

    /// Reads the header of `current` from `pos` (a line start) and decides how its body is read.
    fn header(&mut self, current: &mut usize, mut pos: usize) -> Next {
        let part = *current;
        let mut content_type: Option<(Kind, Option<Vec<u8>>)> = None;
        let mut boundary: Option<Vec<u8>> = None;
        let mut multipart_started = false;
        let mut prev_newline = 0;
        let mut eoh_seen = false;
        let interrupted = loop {
            let rest = &self.buf[pos.min(self.buf.len())..];
            let at_eoh = rest.starts_with(b"\n") || rest.starts_with(b"\r\n");
            if !eoh_seen && at_eoh && self.nodes[part].is_mime && boundary.is_some() {
                // A multipart's own boundary applies from its body on.
                if self.depth(part) + 1 < MAX_NESTED {
                    self.boundaries.push(Boundary {
                        text: boundary.take().unwrap_or_default(),
                        part,
                    });
                    multipart_started = true;
                } else {
                    self.nodes[part].kind = Kind::Other;
                }
            }
            // A boundary ends the header, even right after its empty line: the line end
            // before a boundary line is the boundary's.
            if let Some(found) = self.boundary_at(pos)
                && self.boundaries[found.index].part != part
            {
                break Some(pos);
            }
            if eoh_seen {
                break None;
            }
            match header::next(self.buf, pos) {
                Line::End => break None,
                Line::Eoh(n) => {
                    pos += n;
                    prev_newline = n;
                    eoh_seen = true;
                }
                Line::Field(field) => {
                    pos += field.raw.len();
                    prev_newline = field.newline;
                    if field.is("Mime-Version") {
                        self.nodes[part].is_mime = true;
                    } else if field.is("Content-Type") {
                        self.nodes[part].is_mime = true;
                        if content_type.is_none() {
                            let parsed = content_type_kind(&field.value());
                            if let Kind::Multipart { .. } = parsed.0 {
                                boundary = parsed.1.clone();
                            }
                            self.nodes[part].kind = parsed.0;
                            content_type = Some(parsed);
                        }
                    }
                }
            }
        };
        let node = &mut self.nodes[part];
        node.body = match interrupted {
            Some(at) => at - prev_newline,
            None => pos,
        };
        if !node.is_mime || content_type.is_none() {
            let digest_parent = node
                .parent
                .is_some_and(|p| self.nodes[p].kind == Kind::Multipart { digest: true });
            let node = &mut self.nodes[part];
            node.kind = if digest_parent {
                Kind::Message
            } else {
                Kind::Text
            };
        }
        if let Some(at) = interrupted {
            // The header ends before the line end that precedes the boundary, and the body
            // is empty. A message/rfc822 part still gets its (empty) message, as in Dovecot.
            let end = self.nodes[part].body;
            self.nodes[part].end = end;
            if self.nodes[part].kind == Kind::Message {
                if self.depth(part) + 1 < MAX_NESTED && self.total < MAX_TOTAL {
                    self.append(part, end, false);
                } else {
                    self.nodes[part].kind = Kind::Other;
                }
            }
            // The line end is the parent's; the parts above end at the boundary line.
            *current = self.nodes[part].parent.unwrap_or(part);
            return self.at_boundary(current, at, at);
        }
        let kind = self.nodes[part].kind;
        if multipart_started {
            return Next::Body(pos);
        }
        if kind == Kind::Message {
            if self.depth(part) + 1 < MAX_NESTED && self.total < MAX_TOTAL {
                *current = self.append(part, pos, false);
                return Next::Header(pos);
            }
            self.nodes[part].kind = Kind::Other;
        }
        Next::Body(pos)
    }

    /// Reads the body of `current` from `pos` (a line start) up to the first boundary line.
    fn body(&mut self, current: &mut usize, pos: usize) -> Next {
        if self.boundaries.is_empty() {
            return Next::Done;
        }
        let mut line = pos;
        loop {
            if self.boundary_at(line).is_some() {
                // The line end before the boundary line is the boundary's, unless the line
                // starts what is being read.
                let mut content_end = line;
                if line > pos {
                    content_end -= 1;
                    if content_end > pos && self.buf[content_end - 1] == b'\r' {
                        content_end -= 1;
                    }
                }
                return self.at_boundary(current, line, content_end);
            }
            match memchr::memchr(b'\n', &self.buf[line..]) {
                Some(lf) => line += lf + 1,
                None => return Next::Done,
            }
        }
    }

    /// A boundary line starts at `line`: ends the parts inside the boundary's multipart at
    /// `content_end`, skips the boundary line, and goes on with the multipart's next part or
    /// its epilogue.
    fn at_boundary(&mut self, current: &mut usize, line: usize, content_end: usize) -> Next {
        let Some(found) = self.boundary_at(line) else {
            return Next::Done;
        };
        let owner = self.boundaries[found.index].part;
        while *current != owner {
            let node = &mut self.nodes[*current];
            node.end = content_end.max(node.body);
            match node.parent {
                Some(parent) => *current = parent,
                None => break,
            }
        }
        self.boundaries
            .truncate(found.index + usize::from(!found.closing));
        let after = match memchr::memchr(b'\n', &self.buf[line..]) {
            Some(lf) => line + lf + 1,
            None => return Next::Done,
        };
        if self.boundaries.last().is_some_and(|b| b.part == owner) {
            *current = self.append(owner, after, true);
            Next::Header(after)
        } else {
            Next::Body(after)
        }
    }

    /// The boundary whose line starts at `pos`, as Dovecot matches it: the line starts with
    /// `--` and a known boundary; the longest match wins, the innermost among equals.
    fn boundary_at(&self, pos: usize) -> Option<Found> {
        if self.boundaries.is_empty() || self.total >= MAX_TOTAL {
            return None;
        }
        let rest = self.buf.get(pos..)?.strip_prefix(b"--")?;
        let mut find = match memchr::memchr(b'\n', rest) {
            Some(lf) => {
                let mut n = lf;
                if n > 0 && rest[n - 1] == b'\r' {
                    n -= 1;
                }
                n
            }
            None => rest.len().min(BOUNDARY_END_MAX),
        };
        let trailing_dashes =
            memchr::memchr(b'\n', rest).is_some() && find > 2 && rest[find - 2..find] == *b"--";
        find = find.min(rest.len());
        let line = &rest[..find];
        let mut best: Option<usize> = None;
        for (index, b) in self.boundaries.iter().enumerate().rev() {
            let len = b.text.len();
            if len <= find
                && line.starts_with(&b.text)
                && best.is_none_or(|i| self.boundaries[i].text.len() < len)
            {
                best = Some(index);
                if len == find || (trailing_dashes && len + 2 == find) {
                    break;
                }
            }
        }
        let index = best?;
        let len = self.boundaries[index].text.len();
        let closing = rest.get(len..len + 2) == Some(b"--");
        Some(Found { index, closing })
    }

    fn tree(&self, id: usize) -> Part {
        let node = &self.nodes[id];
        Part {
            start: node.start,
            body: node.body,
            end: node.end,
            kind: node.kind,
            is_mime: node.is_mime,
            children: node.children.iter().map(|&c| self.tree(c)).collect(),
        }
    }
}

/// What a Content-Type value makes of a part (Dovecot's `parse_content_type` in the message
/// parser), and the boundary of a multipart (cut at 80 bytes).
fn content_type_kind(value: &[u8]) -> (Kind, Option<Vec<u8>>) {
    let mut lexer = Lexer::new(value);
    lexer.skip_lwsp();
    let mut ct = Vec::new();
    let step = lexer.parse_content_type(&mut ct);
    let lower = ct.to_ascii_lowercase();
    let kind = if lower == b"message/rfc822" {
        Kind::Message
    } else if lower.starts_with(b"text") && (lower.len() == 4 || lower[4] == b'/') {
        Kind::Text
    } else if let Some(subtype) = lower.strip_prefix(b"multipart/") {
        Kind::Multipart {
            digest: subtype == b"digest",
        }
    } else {
        Kind::Other
    };
    if step == Step::Error || !matches!(kind, Kind::Multipart { .. }) {
        return (kind, None);
    }
    let boundary = lexer
        .parse_rfc2231_params()
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(b"boundary"))
        .map(|(_, mut v)| {
            v.truncate(BOUNDARY_MAX);
            v
        });
    (kind, boundary)
}
