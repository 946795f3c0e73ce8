//! A small IMAP server for the session tests: one mailbox, answering in Dovecot 2.3's format
//! (upper-case item names, the UID first in a UID FETCH, `FLAGS (\Seen)` added when a
//! non-peek fetch sets it, `<origin>` on partial answers), framing its input with the
//! proxy's own command reader so that it asks `+ ` for synchronising literals as a server
//! does. Part sections are computed by aptsim-core's `section_bytes` (which matches Dovecot);
//! the forms this server does not know are checked against real Dovecot
//! (scripts/interop/imap_interop.py).

use aptsim_core::imap::{CommandEvent, CommandReader, WireLimits};
use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::fetch::{
    Macro, MacroOrMessageDataItemNames, MessageDataItemName, Section,
};
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence};

pub const GREETING: &[u8] = b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE \
LITERAL+ STARTTLS AUTH=PLAIN] Dovecot ready.\r\n";

/// One message in the mailbox.
#[derive(Debug, Clone)]
pub struct Stored {
    pub uid: u32,
    pub bytes: Vec<u8>,
    pub seen: bool,
}

/// The server. See the module doc.
pub struct FakeImap {
    pub messages: Vec<Stored>,
    reader: CommandReader,
    /// First line of every command received, in order.
    pub commands: Vec<String>,
    /// The server closed the connection (after LOGOUT).
    pub closed: bool,
    idling: Option<String>,
    /// The tag of an AUTHENTICATE waiting for the client's answer.
    authenticating: Option<String>,
    next_uid: u32,
    /// Bytes put in front of the next answer (an unsolicited response).
    pub inject: Vec<u8>,
}

impl FakeImap {
    pub fn new(messages: &[Vec<u8>]) -> Self {
        let mut server = FakeImap {
            messages: Vec::new(),
            reader: CommandReader::new(WireLimits::default()),
            commands: Vec::new(),
            closed: false,
            idling: None,
            authenticating: None,
            next_uid: 1,
            inject: Vec::new(),
        };
        for m in messages {
            server.append(m.clone());
        }
        server
    }

    /// Delivers a message into the mailbox; its UID.
    pub fn append(&mut self, bytes: Vec<u8>) -> u32 {
        let uid = self.next_uid;
        self.next_uid += 1;
        self.messages.push(Stored {
            uid,
            bytes,
            seen: false,
        });
        uid
    }

    /// A new connection to the same mailbox.
    pub fn reset_connection(&mut self) {
        self.reader = CommandReader::new(WireLimits::default());
        self.closed = false;
        self.idling = None;
    }

    /// Takes bytes from the client (the proxy); returns what the server answers.
    pub fn receive(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.reader.push(bytes);
        while let Ok(Some(event)) = self.reader.next_event() {
            match event {
                CommandEvent::SendContinuation { .. } => out.extend_from_slice(b"+ OK\r\n"),
                CommandEvent::Command(c) => out.extend(self.command(c.raw())),
            }
        }
        out
    }

    fn command(&mut self, raw: &[u8]) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.inject);
        out.extend(self.answer(raw));
        out
    }

    fn answer(&mut self, raw: &[u8]) -> Vec<u8> {
        let first = raw.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(first).trim_end().to_owned();
        self.commands.push(line.clone());
        if let Some(tag) = self.authenticating.take() {
            return format!("{tag} OK [CAPABILITY IMAP4rev1 IDLE COMPRESS=DEFLATE] Logged in\r\n")
                .into_bytes();
        }
        if let Some(tag) = self.idling.take() {
            return format!("{tag} OK Idle completed (0.001 + 1.000 secs).\r\n").into_bytes();
        }
        let mut words = line.split(' ');
        let tag = words.next().unwrap_or("*").to_owned();
        let word = words.next().unwrap_or_default().to_ascii_uppercase();
        match word.as_str() {
            "LOGIN" => format!(
                "{tag} OK [CAPABILITY IMAP4rev1 IDLE CONDSTORE LITERAL+ BINARY] Logged in\r\n"
            )
            .into_bytes(),
            "CAPABILITY" => format!(
                "* CAPABILITY IMAP4rev1 IDLE QRESYNC LITERAL+\r\n{tag} OK Capability completed.\r\n"
            )
            .into_bytes(),
            "SELECT" | "EXAMINE" => format!(
                "* FLAGS (\\Seen)\r\n* {} EXISTS\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n\
                 {tag} OK [READ-WRITE] Select completed.\r\n",
                self.messages.len()
            )
            .into_bytes(),
            "NOOP" => format!("{tag} OK NOOP completed.\r\n").into_bytes(),
            "AUTHENTICATE" => {
                self.authenticating = Some(tag);
                b"+ \r\n".to_vec()
            }
            "IDLE" => {
                self.idling = Some(tag);
                b"+ idling\r\n".to_vec()
            }
            "APPEND" => {
                let literal_start = raw
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .map_or(0, |p| p + 2);
                let body = raw[literal_start..]
                    .strip_suffix(b"\r\n")
                    .unwrap_or_default();
                let uid = self.append(body.to_vec());
                format!("{tag} OK [APPENDUID 1 {uid}] Append completed.\r\n").into_bytes()
            }
            "LOGOUT" => {
                self.closed = true;
                format!("* BYE Logging out\r\n{tag} OK Logout completed.\r\n").into_bytes()
            }
            "FETCH" | "UID" => self.fetch(&tag, raw),
            _ => format!("{tag} BAD Error in IMAP command: Unknown command.\r\n").into_bytes(),
        }
    }

    fn fetch(&mut self, tag: &str, raw: &[u8]) -> Vec<u8> {
        // Dovecot takes RFC822.PEEK as RFC822 without \Seen.
        let text = String::from_utf8_lossy(raw).replace("RFC822.PEEK", "RFC822");
        let peek_rfc822 = text.len() != raw.len();
        let Ok((_, parsed)) = CommandCodec::default().decode(text.as_bytes()) else {
            return format!("{tag} BAD Error in IMAP command FETCH: Invalid arguments.\r\n")
                .into_bytes();
        };
        let CommandBody::Fetch {
            sequence_set,
            macro_or_item_names,
            uid,
            ..
        } = parsed.body
        else {
            return format!("{tag} BAD Unknown command.\r\n").into_bytes();
        };
        let names: Vec<MessageDataItemName<'_>> = match macro_or_item_names {
            MacroOrMessageDataItemNames::Macro(Macro::Fast) => vec![
                MessageDataItemName::Flags,
                MessageDataItemName::InternalDate,
                MessageDataItemName::Rfc822Size,
            ],
            MacroOrMessageDataItemNames::Macro(_) => vec![MessageDataItemName::Flags],
            MacroOrMessageDataItemNames::MessageDataItemNames(n) => n,
        };
        let last = if uid {
            self.messages.last().map_or(0, |m| m.uid)
        } else {
            self.messages.len() as u32
        };
        let value = |v: &SeqOrUid| match v {
            SeqOrUid::Value(n) => n.get(),
            SeqOrUid::Asterisk => last,
        };
        let wanted = |n: u32| {
            sequence_set.0.as_ref().iter().any(|s| match s {
                Sequence::Single(v) => value(v) == n,
                Sequence::Range(a, b) => {
                    let (a, b) = (value(a), value(b));
                    (a.min(b)..=a.max(b)).contains(&n)
                }
            })
        };
        let mut out = Vec::new();
        for i in 0..self.messages.len() {
            let seq = i as u32 + 1;
            let key = if uid { self.messages[i].uid } else { seq };
            if !wanted(key) {
                continue;
            }
            out.extend(self.fetch_one(seq, i, uid, &names, peek_rfc822));
        }
        out.extend(format!("{tag} OK Fetch completed (0.001 + 0.000 secs).\r\n").into_bytes());
        out
    }

    fn fetch_one(
        &mut self,
        seq: u32,
        i: usize,
        uid: bool,
        names: &[MessageDataItemName<'_>],
        peek_rfc822: bool,
    ) -> Vec<u8> {
        let mut items: Vec<Vec<u8>> = Vec::new();
        let m = self.messages[i].clone();
        let asks_uid = names.iter().any(|n| matches!(n, MessageDataItemName::Uid));
        if uid || asks_uid {
            items.push(format!("UID {}", m.uid).into_bytes());
        }
        let mut sets_seen = false;
        let mut section_buf: Vec<u8>;
        for name in names {
            match name {
                MessageDataItemName::Uid => {}
                MessageDataItemName::Rfc822Size => {
                    items.push(format!("RFC822.SIZE {}", m.bytes.len()).into_bytes())
                }
                MessageDataItemName::Flags => items.push(flags(m.seen).into_bytes()),
                MessageDataItemName::InternalDate => {
                    items.push(b"INTERNALDATE \"01-Dec-2026 10:00:00 +0000\"".to_vec())
                }
                MessageDataItemName::Rfc822 => {
                    sets_seen |= !peek_rfc822;
                    items.push(literal("RFC822", &m.bytes));
                }
                MessageDataItemName::Rfc822Header => {
                    items.push(literal("RFC822.HEADER", header(&m.bytes)))
                }
                MessageDataItemName::Rfc822Text => {
                    sets_seen = true;
                    items.push(literal("RFC822.TEXT", text(&m.bytes)));
                }
                MessageDataItemName::BodyExt {
                    section,
                    partial,
                    peek,
                } => {
                    sets_seen |= !peek;
                    let (name, bytes) = match section {
                        None => ("BODY[]".to_owned(), &m.bytes[..]),
                        Some(Section::Header(None)) => ("BODY[HEADER]".to_owned(), header(&m.bytes)),
                        Some(Section::Text(None)) => ("BODY[TEXT]".to_owned(), text(&m.bytes)),
                        Some(Section::Part(p)) => {
                            let part: Vec<u32> = p.0.as_ref().iter().map(|n| n.get()).collect();
                            let path: Vec<String> = part.iter().map(u32::to_string).collect();
                            let spec = aptsim_core::imap::SectionSpec { part, text: None };
                            let bytes = aptsim_core::imap::section_bytes(&m.bytes, &spec)
                                .map(|b| b.into_owned())
                                .unwrap_or_default();
                            section_buf = bytes;
                            (format!("BODY[{}]", path.join(".")), &section_buf[..])
                        }
                        Some(Section::HeaderFields(None, names)) => {
                            let names: Vec<String> = names
                                .as_ref()
                                .iter()
                                .map(|n| String::from_utf8_lossy(n.as_ref()).into_owned())
                                .collect();
                            let wanted: Vec<String> =
                                names.iter().map(|n| n.to_ascii_lowercase()).collect();
                            let mut kept: Vec<u8> = header(&m.bytes)
                                .split_inclusive(|&b| b == b'\n')
                                .filter(|line| {
                                    let line = String::from_utf8_lossy(line).to_ascii_lowercase();
                                    wanted.iter().any(|w| line.starts_with(&format!("{w}:")))
                                })
                                .flatten()
                                .copied()
                                .collect();
                            kept.extend_from_slice(b"\r\n");
                            let name = format!("BODY[HEADER.FIELDS ({})]", names.join(" "));
                            items.push(literal(&name, &kept));
                            continue;
                        }
                        Some(_) => ("BODY[HEADER]".to_owned(), header(&m.bytes)),
                    };
                    match partial {
                        Some((offset, length)) => {
                            let start = (*offset as usize).min(bytes.len());
                            let end = (start + length.get() as usize).min(bytes.len());
                            items.push(literal(&format!("{name}<{offset}>"), &bytes[start..end]));
                        }
                        None => items.push(literal(&name, bytes)),
                    }
                }
                MessageDataItemName::BodyStructure => items.push(
                    b"BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 1 NIL NIL NIL NIL)"
                        .to_vec(),
                ),
                _ => {}
            }
        }
        if sets_seen && !m.seen {
            self.messages[i].seen = true;
            if !names
                .iter()
                .any(|n| matches!(n, MessageDataItemName::Flags))
            {
                items.push(flags(true).into_bytes());
            }
        }
        let mut out = format!("* {seq} FETCH (").into_bytes();
        out.extend(items.join(&b' '));
        out.extend_from_slice(b")\r\n");
        out
    }
}

fn flags(seen: bool) -> String {
    if seen {
        "FLAGS (\\Seen)".to_owned()
    } else {
        "FLAGS ()".to_owned()
    }
}

fn literal(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("{name} {{{}}}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out
}

fn header_end(m: &[u8]) -> usize {
    m.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(m.len(), |p| p + 4)
}

fn header(m: &[u8]) -> &[u8] {
    &m[..header_end(m)]
}

fn text(m: &[u8]) -> &[u8] {
    &m[header_end(m)..]
}
