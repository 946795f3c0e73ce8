//! A scripted IMAP server for the mail-client tests: one mailbox, answering in Dovecot 2.3's
//! format (the UID first, `<origin>` on partial answers, `FLAGS (\Seen)` added when a
//! non-peek fetch sets it). Sections and `BODYSTRUCTURE` are computed by core's serving
//! functions (`section_bytes`, `partial`, `bodystructure`), which match Dovecot's; commands
//! are framed with core's command reader and FETCH is read with core's classifier.
//!
//! The script: commands whose line contains a `hold` string are not answered — they, and
//! every command after them, wait for [`Responder::release`] (a gateway holding a fetch);
//! `before` puts bytes in front of the answer to a command containing its key (an
//! unsolicited or keepalive line); `bad` answers matching commands `BAD`; a message's
//! `size` overrides the `RFC822.SIZE` it is listed and fetched with.

use std::collections::VecDeque;
use std::num::NonZeroU32;

use aptsim_core::imap::{
    ClientCommand, CommandEvent, CommandReader, ContentFetch, ItemName, SectionSpec, SectionText,
    SeqBound, WireLimits, bodystructure, fetch_content, partial, section_bytes,
};
use imap_codec::ResponseCodec;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::{Data, Response};

pub const GREETING: &[u8] = b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE \
LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n";

/// One message in the mailbox.
#[derive(Debug, Clone)]
pub struct Stored {
    pub uid: u32,
    pub bytes: Vec<u8>,
    pub seen: bool,
    /// `RFC822.SIZE` to report instead of the length.
    pub size: Option<u32>,
}

/// The server. See the module doc.
pub struct Responder {
    pub messages: Vec<Stored>,
    pub greeting: Vec<u8>,
    reader: CommandReader,
    /// First line of every command received, in order, over all connections.
    pub commands: Vec<String>,
    /// The server closed the connection (after LOGOUT).
    pub closed: bool,
    idling: Option<String>,
    pub hold: Vec<String>,
    held: VecDeque<Vec<u8>>,
    pub before: Vec<(String, Vec<u8>)>,
    pub bad: Vec<String>,
}

impl Responder {
    pub fn new(messages: &[Vec<u8>]) -> Self {
        let mut r = Responder {
            messages: Vec::new(),
            greeting: GREETING.to_vec(),
            reader: CommandReader::new(WireLimits::default()),
            commands: Vec::new(),
            closed: false,
            idling: None,
            hold: Vec::new(),
            held: VecDeque::new(),
            before: Vec::new(),
            bad: Vec::new(),
        };
        for m in messages {
            r.append(m.clone());
        }
        r
    }

    /// Delivers a message; its UID.
    pub fn append(&mut self, bytes: Vec<u8>) -> u32 {
        let uid = self.messages.last().map_or(1, |m| m.uid + 1);
        self.messages.push(Stored {
            uid,
            bytes,
            seen: false,
            size: None,
        });
        uid
    }

    /// A new connection to the same mailbox: what was held on the old one is dropped.
    pub fn reset_connection(&mut self) {
        self.reader = CommandReader::new(WireLimits::default());
        self.closed = false;
        self.idling = None;
        self.held.clear();
    }

    /// Whether commands wait for [`Responder::release`].
    pub fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// Takes bytes from the client; returns what the server answers now.
    pub fn receive(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.reader.push(bytes);
        while let Ok(Some(event)) = self.reader.next_event() {
            match event {
                CommandEvent::SendContinuation { .. } => out.extend_from_slice(b"+ OK\r\n"),
                CommandEvent::Command(c) => {
                    let raw = c.raw().to_vec();
                    let line = first_line(&raw);
                    self.commands.push(line.clone());
                    if self.holding() || self.hold.iter().any(|h| line.contains(h.as_str())) {
                        self.held.push_back(raw);
                    } else {
                        out.extend(self.answer(&raw));
                    }
                }
            }
        }
        out
    }

    /// Answers what was held, in order (`hold` stays: clear it to stop holding).
    pub fn release(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(raw) = self.held.pop_front() {
            out.extend(self.answer(&raw));
        }
        out
    }

    fn answer(&mut self, raw: &[u8]) -> Vec<u8> {
        let line = first_line(raw);
        if let Some(tag) = self.idling.take() {
            return format!("{tag} OK Idle completed (0.001 + 1.000 secs).\r\n").into_bytes();
        }
        let mut out = Vec::new();
        if let Some(i) = self
            .before
            .iter()
            .position(|(k, _)| line.contains(k.as_str()))
        {
            out = self.before.remove(i).1;
        }
        let mut words = line.split(' ');
        let tag = words.next().unwrap_or("*").to_owned();
        let mut word = words.next().unwrap_or_default().to_ascii_uppercase();
        if word == "UID" {
            word = words.next().unwrap_or_default().to_ascii_uppercase();
        }
        if self.bad.iter().any(|b| line.contains(b.as_str())) {
            out.extend(format!("{tag} BAD Error in IMAP command.\r\n").into_bytes());
            return out;
        }
        let answer = match word.as_str() {
            "LOGIN" => format!("{tag} OK [CAPABILITY IMAP4rev1 IDLE LITERAL+] Logged in\r\n"),
            "CAPABILITY" => format!(
                "* CAPABILITY IMAP4rev1 IDLE LITERAL+\r\n{tag} OK Capability completed.\r\n"
            ),
            "SELECT" => format!(
                "* FLAGS (\\Seen)\r\n* {} EXISTS\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n\
                 * OK [UIDNEXT {}] Predicted next UID\r\n{tag} OK [READ-WRITE] Select completed.\r\n",
                self.messages.len(),
                self.messages.last().map_or(1, |m| m.uid + 1)
            ),
            "IDLE" => {
                self.idling = Some(tag);
                "+ idling\r\n".to_owned()
            }
            "LOGOUT" => {
                self.closed = true;
                format!("* BYE Logging out\r\n{tag} OK Logout completed.\r\n")
            }
            "SEARCH" => {
                let unseen: Vec<String> = (1..=self.messages.len())
                    .filter(|i| !self.messages[i - 1].seen)
                    .map(|i| i.to_string())
                    .collect();
                let list = if unseen.is_empty() {
                    String::new()
                } else {
                    format!(" {}", unseen.join(" "))
                };
                format!("* SEARCH{list}\r\n{tag} OK Search completed.\r\n")
            }
            "STORE" => {
                let n: usize = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                match self.messages.get_mut(n.wrapping_sub(1)) {
                    Some(m) => {
                        m.seen = true;
                        format!("* {n} FETCH (FLAGS (\\Seen))\r\n{tag} OK Store completed.\r\n")
                    }
                    None => {
                        format!("{tag} BAD Error in IMAP command STORE: Invalid messageset\r\n")
                    }
                }
            }
            "FETCH" => {
                out.extend(self.fetch(&tag, raw));
                return out;
            }
            _ => format!("{tag} BAD Error in IMAP command: Unknown command.\r\n"),
        };
        out.extend(answer.into_bytes());
        out
    }

    fn fetch(&mut self, tag: &str, raw: &[u8]) -> Vec<u8> {
        let ContentFetch::Fetch(req) = fetch_content(&ClientCommand::from_bytes(raw.to_vec()))
        else {
            return format!("{tag} BAD Error in IMAP command FETCH: Invalid arguments.\r\n")
                .into_bytes();
        };
        // The item names: what follows the word FETCH and the set.
        let line = first_line(raw).to_ascii_uppercase();
        let after = line.split_once(" FETCH ").map_or("", |(_, rest)| rest);
        let items = after.split_once(' ').map_or("", |(_, i)| i).to_owned();
        let last = if req.uid {
            self.messages.last().map_or(0, |m| m.uid)
        } else {
            self.messages.len() as u32
        };
        let value = |b: SeqBound| match b {
            SeqBound::Number(n) => n,
            SeqBound::Last => last,
        };
        let wanted = |n: u32| {
            req.messages.iter().any(|r| {
                let (a, b) = (value(r.first), value(r.last));
                (a.min(b)..=a.max(b)).contains(&n)
            })
        };
        let mut out = Vec::new();
        for i in 0..self.messages.len() {
            let seq = i as u32 + 1;
            let key = if req.uid { self.messages[i].uid } else { seq };
            if !wanted(key) {
                continue;
            }
            let mut parts: Vec<Vec<u8>> = Vec::new();
            let m = self.messages[i].clone();
            let has = |w: &str| items.split([' ', '(', ')']).any(|x| x == w);
            if req.uid || has("UID") {
                parts.push(format!("UID {}", m.uid).into_bytes());
            }
            if has("FLAGS") {
                parts.push(flags(m.seen).into_bytes());
            }
            if has("INTERNALDATE") {
                parts.push(b"INTERNALDATE \"01-Dec-2026 10:00:00 +0000\"".to_vec());
            }
            if has("RFC822.SIZE") {
                let size = m.size.unwrap_or(m.bytes.len() as u32);
                parts.push(format!("RFC822.SIZE {size}").into_bytes());
            }
            if has("BODYSTRUCTURE") {
                parts.push(structure(&m.bytes));
            }
            let mut sets_seen = false;
            for item in &req.content {
                let bytes = section_bytes(&m.bytes, &item.section).unwrap_or_default();
                let (name, data) = match item.partial {
                    Some(p) => (
                        format!("{}<{}>", name(item.name, &item.section), p.offset),
                        partial(&bytes, p.offset, p.length).to_vec(),
                    ),
                    None => (name(item.name, &item.section), bytes.to_vec()),
                };
                sets_seen |= !item.peek;
                let mut lit = format!("{name} {{{}}}\r\n", data.len()).into_bytes();
                lit.extend(data);
                parts.push(lit);
            }
            if sets_seen && !m.seen {
                self.messages[i].seen = true;
                if !has("FLAGS") {
                    parts.push(flags(true).into_bytes());
                }
            }
            out.extend(format!("* {seq} FETCH (").into_bytes());
            out.extend(parts.join(&b' '));
            out.extend_from_slice(b")\r\n");
        }
        out.extend(format!("{tag} OK Fetch completed (0.001 + 0.000 secs).\r\n").into_bytes());
        out
    }
}

fn first_line(raw: &[u8]) -> String {
    let first = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(first).trim_end().to_owned()
}

fn flags(seen: bool) -> String {
    if seen {
        "FLAGS (\\Seen)".to_owned()
    } else {
        "FLAGS ()".to_owned()
    }
}

/// The answer's name for a content item.
fn name(item: ItemName, section: &SectionSpec) -> String {
    let text = section.text.as_ref().map(|t| match t {
        SectionText::Header => "HEADER".to_owned(),
        SectionText::Text => "TEXT".to_owned(),
        SectionText::Mime => "MIME".to_owned(),
        SectionText::HeaderFields(f) => format!("HEADER.FIELDS ({})", f.join(" ")),
        SectionText::HeaderFieldsNot(f) => format!("HEADER.FIELDS.NOT ({})", f.join(" ")),
    });
    if item == ItemName::Rfc822 {
        return match section.text {
            Some(SectionText::Header) => "RFC822.HEADER".to_owned(),
            Some(SectionText::Text) => "RFC822.TEXT".to_owned(),
            _ => "RFC822".to_owned(),
        };
    }
    let part: Vec<String> = section.part.iter().map(u32::to_string).collect();
    let inner = match (part.is_empty(), text) {
        (true, None) => String::new(),
        (true, Some(t)) => t,
        (false, None) => part.join("."),
        (false, Some(t)) => format!("{}.{t}", part.join(".")),
    };
    format!("BODY[{inner}]")
}

/// `BODYSTRUCTURE (…)` of a message, as core computes it, written by imap-codec.
fn structure(message: &[u8]) -> Vec<u8> {
    let item = MessageDataItem::BodyStructure(bodystructure(message));
    let response = Response::Data(Data::Fetch {
        seq: NonZeroU32::MIN,
        items: Vec1::from(item),
    });
    let wire = ResponseCodec::default().encode(&response).dump();
    let inner = wire
        .strip_prefix(b"* 1 FETCH (")
        .and_then(|w| w.strip_suffix(b")\r\n"))
        .expect("imap-codec writes a FETCH response");
    inner.to_vec()
}
