//! What the session makes of a client command before it goes upstream: which kind of command
//! it is (relayed as it is, held until judged, answered by the proxy itself, or a command
//! that changes how the following lines are read), and the places where a command with
//! synchronising literals must wait for the server's `+ `.

use crate::imap::{
    ClientCommand, ContentFetch, FetchRequest, SectionText, SeqBound, SeqRange, fetch_content,
};

/// How the session handles a client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// A FETCH that returns content or structure: held until every message it names is
    /// judged (I1), then served from the judged copies (I6).
    Hold {
        /// What it asks for.
        request: FetchRequest,
        /// Whether it returns more than header fields (X4 keepalives go only to these).
        body: bool,
    },
    /// A FETCH the classifier could not read: refused, never passed through.
    UnknownFetch(String),
    /// `IDLE`: the server's `+ ` goes to the client, and its `DONE` upstream.
    Idle,
    /// `AUTHENTICATE`: the server's `+ ` challenges go to the client, its answers upstream.
    Authenticate,
    /// `SELECT`, `EXAMINE`, `UNSELECT`, `CLOSE`: the selected mailbox changes, and with it
    /// what UIDs name.
    Select,
    /// `LOGOUT`.
    Logout,
    /// `STARTTLS`, `COMPRESS`: the proxy could no longer read the stream; refused.
    Refused(&'static str),
    /// Anything else, relayed untouched.
    Plain,
}

/// Classifies a client command.
pub(super) fn classify(command: &ClientCommand) -> Kind {
    match fetch_content(command) {
        ContentFetch::Fetch(request) => {
            let header_only = request.content.iter().all(|item| {
                matches!(
                    item.section.text,
                    Some(
                        SectionText::Header
                            | SectionText::HeaderFields(_)
                            | SectionText::HeaderFieldsNot(_)
                            | SectionText::Mime
                    )
                )
            });
            // Listing header fields (Thunderbird's and mbsync's header sync over `1:*`) and
            // asking for the structure (K-9, before it picks the parts to fetch) return no
            // attachment bytes; holding them would fetch the whole folder. A message judged
            // already gets its copy's structure (`relay.rs`).
            let fields_only = request.content.iter().all(|item| {
                matches!(
                    item.section.text,
                    Some(SectionText::HeaderFields(_) | SectionText::HeaderFieldsNot(_))
                )
            });
            if fields_only {
                return Kind::Plain;
            }
            Kind::Hold {
                body: !header_only || request.structure,
                request,
            }
        }
        ContentFetch::Unknown { reason } => Kind::UnknownFetch(reason),
        ContentFetch::NotFetch => match command_word(command.raw()).as_deref() {
            Some("IDLE") => Kind::Idle,
            Some("AUTHENTICATE") => Kind::Authenticate,
            Some("SELECT" | "EXAMINE" | "UNSELECT" | "CLOSE") => Kind::Select,
            Some("LOGOUT") => Kind::Logout,
            Some("STARTTLS") => Kind::Refused("STARTTLS is not available through this proxy"),
            Some("COMPRESS") => Kind::Refused("COMPRESS is not available through this proxy"),
            _ => Kind::Plain,
        },
    }
}

/// The command word after the tag, upper-cased (`UID FETCH` gives `UID`).
pub(super) fn command_word(raw: &[u8]) -> Option<String> {
    let line_end = raw
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(raw.len());
    let word = raw[..line_end]
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .nth(1)?;
    let word = std::str::from_utf8(word).ok()?;
    Some(word.to_ascii_uppercase())
}

/// What the log says of a command: its tag and command word(s), never the arguments.
pub(super) fn summary(command: &ClientCommand) -> String {
    let tag = command.tag().unwrap_or("?");
    match command_word(command.raw()) {
        Some(word) if word == "UID" => {
            let second = command
                .raw()
                .split(|&b| b == b' ' || b == b'\r')
                .filter(|w| !w.is_empty())
                .nth(2)
                .map(|w| String::from_utf8_lossy(w).to_ascii_uppercase())
                .unwrap_or_default();
            format!("{tag} UID {second}")
        }
        Some(word) => format!("{tag} {word}"),
        None => format!("{tag} (not a command)"),
    }
}

/// A sequence set written back as IMAP text (`1:*,5`).
pub(super) fn set_text(ranges: &[SeqRange]) -> String {
    let bound = |b: SeqBound| match b {
        SeqBound::Number(n) => n.to_string(),
        SeqBound::Last => "*".to_owned(),
    };
    ranges
        .iter()
        .map(|r| {
            if r.first == r.last {
                bound(r.first)
            } else {
                format!("{}:{}", bound(r.first), bound(r.last))
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The explicit numbers a set names, when it names few enough of them and no `*`.
pub(super) fn explicit_numbers(ranges: &[SeqRange], at_most: usize) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for r in ranges {
        let (SeqBound::Number(a), SeqBound::Number(b)) = (r.first, r.last) else {
            return None;
        };
        let (lo, hi) = (a.min(b), a.max(b));
        if out.len() + (hi - lo) as usize >= at_most {
            return None;
        }
        out.extend(lo..=hi);
    }
    Some(out)
}

/// Numbers as a compact set (`3:5,9`), sorted.
pub(super) fn numbers_text(numbers: &[u32]) -> String {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// A command cut where the server must say `+ ` before the rest may follow: after each line
/// that announces a synchronising literal (`{n}`, `~{n}`). A command without one is one
/// piece. `{n+}` literals (LITERAL+) follow without waiting and do not cut.
pub(super) fn split_at_sync_literals(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while let Some(nl) = raw[i..].iter().position(|&b| b == b'\n') {
        let line_end = i + nl + 1;
        let line = raw[i..line_end]
            .strip_suffix(b"\r\n")
            .unwrap_or(&raw[i..line_end]);
        let next = match literal_announced(line) {
            Some((len, sync)) => {
                if sync {
                    pieces.push(raw[start..line_end].to_vec());
                    start = line_end;
                }
                line_end.saturating_add(len).min(raw.len())
            }
            None => line_end,
        };
        i = next;
        if i >= raw.len() {
            break;
        }
    }
    if start < raw.len() {
        pieces.push(raw[start..].to_vec());
    }
    pieces
}

/// `{n}` / `{n+}` / `~{n}` at the end of a line: its length and whether it synchronises.
fn literal_announced(line: &[u8]) -> Option<(usize, bool)> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let inner = &body[open + 1..];
    let (digits, sync) = match inner
        .strip_suffix(b"+")
        .or_else(|| inner.strip_suffix(b"-"))
    {
        Some(d) => (d, false),
        None => (inner, true),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let len = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((len, sync))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(line: &str) -> Kind {
        classify(&ClientCommand::from_bytes(line.as_bytes().to_vec()))
    }

    #[test]
    fn what_is_held_and_what_is_relayed() {
        for held in [
            "a UID FETCH 5 (UID RFC822.SIZE BODY[])\r\n",
            "a FETCH 1:* BODY.PEEK[]\r\n",
            "a FETCH 3 (BODYSTRUCTURE BODY.PEEK[1])\r\n",
            "a FETCH 3 RFC822.HEADER\r\n",
            "a UID FETCH 9 (UID BODY.PEEK[2.MIME])\r\n",
        ] {
            assert!(matches!(kind(held), Kind::Hold { .. }), "{held}");
        }
        for relayed in [
            "a UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)])\r\n",
            "a FETCH 1:* (FLAGS)\r\n",
            "a FETCH 1:* ALL\r\n",
            "a FETCH 3 (BODYSTRUCTURE)\r\n",
            "a FETCH 3 FULL\r\n",
            "a NOOP\r\n",
            "a LOGIN bob secret\r\n",
        ] {
            assert_eq!(kind(relayed), Kind::Plain, "{relayed}");
        }
        assert!(matches!(
            kind("a FETCH 1 BODY[]<0>\r\n"),
            Kind::UnknownFetch(_)
        ));
        assert_eq!(kind("a idle\r\n"), Kind::Idle);
        assert_eq!(kind("a EXAMINE INBOX\r\n"), Kind::Select);
        assert!(matches!(kind("a STARTTLS\r\n"), Kind::Refused(_)));
    }

    #[test]
    fn header_fetches_are_held_without_keepalives() {
        let Kind::Hold { body, .. } = kind("a FETCH 1 RFC822.HEADER\r\n") else {
            panic!("not held");
        };
        assert!(!body);
        let Kind::Hold { body, .. } = kind("a FETCH 1 BODY.PEEK[TEXT]\r\n") else {
            panic!("not held");
        };
        assert!(body);
    }

    #[test]
    fn literals_cut_only_where_the_server_must_answer() {
        let raw = b"a LOGIN {3}\r\nbob {6}\r\nsecret\r\n";
        assert_eq!(
            split_at_sync_literals(raw),
            vec![
                b"a LOGIN {3}\r\n".to_vec(),
                b"bob {6}\r\n".to_vec(),
                b"secret\r\n".to_vec()
            ]
        );
        let plus = b"a APPEND INBOX {12+}\r\nab\r\n{3}\r\ncd\r\n\r\n";
        assert_eq!(split_at_sync_literals(plus), vec![plus.to_vec()]);
        assert_eq!(
            split_at_sync_literals(b"a NOOP\r\n"),
            vec![b"a NOOP\r\n".to_vec()]
        );
    }

    #[test]
    fn sets_are_written_back() {
        let ranges = vec![
            SeqRange {
                first: SeqBound::Number(1),
                last: SeqBound::Last,
            },
            SeqRange {
                first: SeqBound::Number(5),
                last: SeqBound::Number(5),
            },
        ];
        assert_eq!(set_text(&ranges), "1:*,5");
        assert_eq!(explicit_numbers(&ranges, 10), None);
        assert_eq!(numbers_text(&[9, 3, 4, 5, 9]), "3:5,9");
    }
}
