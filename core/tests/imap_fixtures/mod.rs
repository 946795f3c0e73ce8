//! The IMAP test messages (`messages/` in this folder, stored with LF line ends), the served
//! copies made from them by aptsim's rewrite, and what a real Dovecot answered for each FETCH
//! form (`dovecot/`, recorded by scripts/imap/record_dovecot_fixtures.py). They live here
//! rather than in core/tests/corpus/, whose sets are the MIME extraction's golden corpus,
//! each checked against Python's reading.
#![allow(dead_code)]

use std::path::PathBuf;

use aptsim_core::imap::{
    ClientCommand, ContentFetch, FetchRequest, ResponseKind, ResponseReader, ServerResponse,
    WireLimits, fetch_content,
};
use aptsim_core::mime::{MimeLimits, extract};
use aptsim_core::rewrite::{Edit, Replacement, Rewrite};

/// The fixtures folder (also found from the `peers` test crates, which include this file).
pub fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../core/tests/imap_fixtures")
}

/// The messages recorded, by name (file stem).
pub fn names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus().join("messages"))
        .expect("messages folder")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".eml").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// A message as stored (LF line ends).
pub fn message_lf(name: &str) -> Vec<u8> {
    std::fs::read(corpus().join("messages").join(format!("{name}.eml")))
        .unwrap_or_else(|e| panic!("{name}.eml: {e}"))
}

/// Every LF as CRLF: the form a server sends (and the one the recorder APPENDed).
pub fn crlf(lf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lf.len() + lf.len() / 16);
    for &b in lf {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// One recorded answer: the FETCH items asked for, the untagged responses, and the tagged
/// status (`OK`, `NO [UNKNOWN-CTE] …`, or `closed` when Dovecot hung up).
pub struct Record {
    pub form: String,
    pub untagged: Vec<ServerResponse>,
    pub status: String,
}

impl Record {
    pub fn ok(&self) -> bool {
        self.status.starts_with("OK")
    }

    /// The request, as the classifier reads `FETCH 1 (form)`.
    pub fn request(&self) -> FetchRequest {
        let line = format!("T FETCH 1 ({})\r\n", self.form);
        match fetch_content(&ClientCommand::from_bytes(line.into_bytes())) {
            ContentFetch::Fetch(request) => request,
            other => panic!("{}: {other:?}", self.form),
        }
    }

    /// The one FETCH response of an OK answer.
    pub fn fetch(&self) -> &ServerResponse {
        let fetches: Vec<_> = self
            .untagged
            .iter()
            .filter(|r| r.fetch().is_some())
            .collect();
        assert_eq!(
            fetches.len(),
            1,
            "{}: {} FETCH responses",
            self.form,
            fetches.len()
        );
        fetches[0]
    }
}

/// Dovecot's answers for a message, in the order asked.
pub fn records(name: &str) -> Vec<Record> {
    raw_records(name)
        .into_iter()
        .map(|(form, raw)| parse_record(form, &raw))
        .collect()
}

/// Dovecot's answers for a message as recorded: each form and the bytes Dovecot sent.
pub fn raw_records(name: &str) -> Vec<(String, Vec<u8>)> {
    let path = corpus().join("dovecot").join(format!("{name}.txt"));
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let mut rest = &data[..];
    while !rest.is_empty() {
        let line_end = rest.iter().position(|&b| b == b'\n').expect("form line");
        let form = std::str::from_utf8(&rest[..line_end])
            .expect("ascii")
            .strip_prefix(">>> ")
            .expect(">>> FORM")
            .to_owned();
        rest = &rest[line_end + 1..];
        let len_end = rest.iter().position(|&b| b == b'\n').expect("length line");
        let len: usize = std::str::from_utf8(&rest[..len_end])
            .expect("ascii")
            .parse()
            .expect("length");
        out.push((form, rest[len_end + 1..len_end + 1 + len].to_vec()));
        rest = &rest[len_end + 2 + len..];
    }
    out
}

fn parse_record(form: String, raw: &[u8]) -> Record {
    let mut reader = ResponseReader::new(WireLimits::default());
    reader.push(raw);
    let mut untagged = Vec::new();
    let mut status = "closed".to_owned();
    while let Ok(Some(response)) = reader.next_response() {
        if response.raw() == b"(connection closed)\r\n" {
            // The recorder's marker: Dovecot hung up.
            break;
        }
        match response.kind() {
            ResponseKind::Tagged(_) => {
                let text = String::from_utf8_lossy(response.raw());
                status = text
                    .trim_end()
                    .split_once(' ')
                    .map_or("", |s| s.1)
                    .to_owned();
            }
            _ => untagged.push(response),
        }
    }
    Record {
        form,
        untagged,
        status,
    }
}

/// A served copy: a message rewritten as the proxy would serve it.
pub struct Served {
    /// Its file stem in messages/.
    pub name: &'static str,
    /// The message it was made from.
    pub original: &'static str,
    /// What was done.
    pub rewrite: fn(&[u8]) -> Rewrite,
}

fn drop_attachment(raw: &[u8], name: &str) -> Rewrite {
    let extraction = extract(raw, &MimeLimits::default());
    let attachment = extraction
        .attachments
        .iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no attachment {name:?}"));
    Rewrite::Pieces(vec![Edit {
        span: attachment.span.clone(),
        with: Replacement::Notice(format!(
            "The attachment \"{name}\" was removed: APT threat level high (score 90)."
        )),
    }])
}

fn deny(_raw: &[u8]) -> Rewrite {
    Rewrite::Message {
        text: "This message was withheld by the email security gateway (action: deny).\r\n"
            .to_owned(),
    }
}

/// The served copies (recorded with Dovecot like the other messages).
pub const SERVED: &[Served] = &[
    Served {
        name: "mixed-base64.drop",
        original: "mixed-base64",
        rewrite: |raw| drop_attachment(raw, "invoice 2025-06.pdf"),
    },
    Served {
        name: "alternative-in-mixed.drop",
        original: "alternative-in-mixed",
        rewrite: |raw| drop_attachment(raw, "menü.zip"),
    },
    Served {
        name: "alternative-in-mixed.deny",
        original: "alternative-in-mixed",
        rewrite: deny,
    },
    Served {
        name: "rfc822-attached.drop",
        original: "rfc822-attached",
        rewrite: |raw| drop_attachment(raw, "tool.exe"),
    },
    Served {
        name: "plain.deny",
        original: "plain",
        rewrite: deny,
    },
    Served {
        name: "nul.drop",
        original: "nul",
        rewrite: |raw| drop_attachment(raw, "data.bin"),
    },
];

/// imap-codec writes the type of a text part as `"TEXT"` and of a message/rfc822 part as
/// `"MESSAGE" "RFC822"`; Dovecot as the message spells them. The one deliberate difference
/// in a BODYSTRUCTURE (IMAP compares them case-insensitively): Dovecot's spelling is turned
/// into imap-codec's before comparing.
pub fn imap_codec_case(dovecot: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(dovecot.len());
    let mut i = 0;
    while i < dovecot.len() {
        let rest = &dovecot[i..];
        let starts = |token: &[u8]| {
            rest.len() >= token.len() && rest[..token.len()].eq_ignore_ascii_case(token)
        };
        if starts(b"(\"message\" \"rfc822\" ") {
            out.extend_from_slice(b"(\"MESSAGE\" \"RFC822\" ");
            i += 20;
        } else if starts(b"(\"text\" ") {
            out.extend_from_slice(b"(\"TEXT\" ");
            i += 8;
        } else {
            out.push(dovecot[i]);
            i += 1;
        }
    }
    out
}
