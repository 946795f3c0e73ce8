//! FETCH and UID FETCH as Dovecot 2.3 answers them (`imap-fetch.c`, `cmd-fetch.c`).
//!
//! The items of a response come in Dovecot's handler order: the "buffered" ones (UID,
//! FLAGS, INTERNALDATE, RFC822.SIZE) first, in the order asked, then the others (ENVELOPE,
//! BODY, BODYSTRUCTURE, BODY[…], RFC822…, BINARY…) in the order asked. A UID FETCH asks for
//! UID first. An item asked twice is answered once, except BODY[…] and BINARY[…], which are
//! answered each time. A fetch that sets `\Seen` (BODY[…] without .PEEK, RFC822,
//! RFC822.TEXT, BINARY[…]) adds `FLAGS (…\Seen…)` at the end of the buffered items when the
//! message was unseen and the mailbox is not read-only, and the change is not announced
//! again. A BINARY item that cannot be decoded is left out (a response left empty says
//! `UID n`), and the command ends `NO [UNKNOWN-CTE]` or `NO [PARSE]`, or, for data cut
//! inside an encoded group, with `* BYE FETCH failed: …` and a disconnection.

use std::num::NonZeroU32;

use aptsim_core::clock::{Timestamp, WallClock};
use aptsim_core::imap::Partial;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName, Section};
use imap_codec::imap_types::sequence::SequenceSet;

use super::events::ImapServerEvent;
use super::items::{self, BinaryFailure};
use super::store::{Flags, Mailbox};
use super::view::View;

/// How a FETCH ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FetchEnd {
    /// The tagged reply's text (`OK …` or `NO …`); a sync comes before it.
    Tagged(String),
    /// `* BYE …` with this text, then the connection closes.
    Disconnect(String),
}

/// One item of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item<'n> {
    Uid,
    Flags,
    InternalDate,
    Rfc822Size,
    Envelope,
    BodyStructure,
    Body,
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    Section {
        section: Option<&'n Section<'n>>,
        partial: Option<(u32, NonZeroU32)>,
    },
    Binary {
        part: &'n [NonZeroU32],
        partial: Option<(u32, NonZeroU32)>,
    },
    BinarySize {
        part: &'n [NonZeroU32],
    },
}

impl Item<'_> {
    /// Dovecot writes these into a buffer sent before the first other item.
    fn buffered(self) -> bool {
        matches!(
            self,
            Item::Uid | Item::Flags | Item::InternalDate | Item::Rfc822Size
        )
    }

    /// Dovecot keeps one handler of each kind, except the section items (which carry their
    /// section as context).
    fn unique(self) -> bool {
        !matches!(
            self,
            Item::Section { .. } | Item::Binary { .. } | Item::BinarySize { .. }
        )
    }
}

/// The items of a FETCH in answer order, and whether it sets `\Seen`.
struct Plan<'n> {
    items: Vec<Item<'n>>,
    buffered: usize,
    update_seen: bool,
    /// FLAGS was added only because the fetch sets `\Seen`: shown only when it does.
    flags_if_seen: bool,
}

impl<'n> Plan<'n> {
    fn new(names: &'n MacroOrMessageDataItemNames<'n>, uid: bool) -> Self {
        let mut plan = Plan {
            items: Vec::new(),
            buffered: 0,
            update_seen: false,
            flags_if_seen: false,
        };
        if uid {
            plan.add(Item::Uid);
        }
        match names {
            MacroOrMessageDataItemNames::Macro(m) => {
                // ALL, FAST and FULL name only items without a section.
                for name in m.expand() {
                    if let Some(item) = simple(&name) {
                        plan.add(item);
                    }
                }
            }
            MacroOrMessageDataItemNames::MessageDataItemNames(names) => {
                for name in names {
                    plan.add_name(name);
                }
            }
        }
        if plan.update_seen && !plan.items.contains(&Item::Flags) {
            plan.flags_if_seen = true;
            plan.add(Item::Flags);
        }
        plan
    }

    fn add_name(&mut self, name: &'n MessageDataItemName<'n>) {
        let item = match name {
            MessageDataItemName::BodyExt {
                section,
                partial,
                peek,
            } => {
                self.update_seen |= !peek;
                Item::Section {
                    section: section.as_ref(),
                    partial: *partial,
                }
            }
            MessageDataItemName::Binary {
                section,
                partial,
                peek,
            } => {
                self.update_seen |= !peek;
                Item::Binary {
                    part: section,
                    partial: *partial,
                }
            }
            MessageDataItemName::BinarySize { section } => Item::BinarySize { part: section },
            other => match simple(other) {
                Some(item) => item,
                None => return,
            },
        };
        self.update_seen |= matches!(item, Item::Rfc822 | Item::Rfc822Text);
        self.add(item);
    }

    fn add(&mut self, item: Item<'n>) {
        if item.unique() && self.items.contains(&item) {
            return;
        }
        if item.buffered() {
            self.items.insert(self.buffered, item);
            self.buffered += 1;
        } else {
            self.items.push(item);
        }
    }
}

/// An item without a section (`None` for the section items, and for MODSEQ, which this
/// model does not offer).
fn simple(name: &MessageDataItemName<'_>) -> Option<Item<'static>> {
    Some(match name {
        MessageDataItemName::Uid => Item::Uid,
        MessageDataItemName::Flags => Item::Flags,
        MessageDataItemName::InternalDate => Item::InternalDate,
        MessageDataItemName::Rfc822Size => Item::Rfc822Size,
        MessageDataItemName::Envelope => Item::Envelope,
        MessageDataItemName::BodyStructure => Item::BodyStructure,
        MessageDataItemName::Body => Item::Body,
        MessageDataItemName::Rfc822 => Item::Rfc822,
        MessageDataItemName::Rfc822Header => Item::Rfc822Header,
        MessageDataItemName::Rfc822Text => Item::Rfc822Text,
        _ => return None,
    })
}

/// What one FETCH needs besides the request.
pub(crate) struct FetchContext<'a> {
    pub view: &'a mut View,
    pub mailbox: &'a mut Mailbox,
    pub wall: WallClock,
    pub now: Timestamp,
    pub out: &'a mut Vec<u8>,
    pub events: &'a mut Vec<ImapServerEvent>,
}

/// Answers a FETCH (untagged responses into `ctx.out`); `Err` is the text of a BAD.
pub(crate) fn fetch(
    ctx: FetchContext<'_>,
    set: &SequenceSet,
    names: &MacroOrMessageDataItemNames<'_>,
    uid: bool,
) -> Result<FetchEnd, &'static str> {
    let indexes = ctx.view.resolve(set, uid)?;
    let plan = Plan::new(names, uid);
    let mut failure: Option<BinaryFailure> = None;
    let mut skipped_expunged = false;
    for index in indexes {
        let known = ctx.view.known[index];
        let Some(message) = ctx.mailbox.message(known.uid).cloned() else {
            skipped_expunged = true;
            continue;
        };
        let seq = index + 1;
        let recent = ctx.view.recent.contains(&known.uid);
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut served = Vec::new();
        let mut bytes_served = 0u64;
        let mut seen_set = false;
        let bytes = &message.bytes[..];
        for item in &plan.items {
            let part: Vec<u8> = match *item {
                Item::Uid => format!("UID {}", message.uid).into_bytes(),
                Item::Flags => {
                    let mut flags = message.flags;
                    if plan.update_seen && !flags.contains(Flags::SEEN) && !ctx.view.read_only {
                        flags = flags.union(Flags::SEEN);
                        ctx.mailbox.set_flags(message.uid, flags);
                        ctx.view.told(index, flags);
                        seen_set = true;
                    } else if plan.flags_if_seen {
                        continue;
                    }
                    format!("FLAGS ({})", flags.imap(recent)).into_bytes()
                }
                Item::InternalDate => {
                    items::internal_date(ctx.wall, message.internal_date).into_bytes()
                }
                Item::Rfc822Size => format!("RFC822.SIZE {}", bytes.len()).into_bytes(),
                Item::Envelope => {
                    served.push("ENVELOPE".to_owned());
                    items::envelope(bytes)
                }
                Item::BodyStructure => {
                    served.push("BODYSTRUCTURE".to_owned());
                    items::structure(bytes, true)
                }
                Item::Body => {
                    served.push("BODY".to_owned());
                    items::structure(bytes, false)
                }
                Item::Rfc822 | Item::Rfc822Header | Item::Rfc822Text => {
                    let (name, text) = match *item {
                        Item::Rfc822 => ("RFC822", None),
                        Item::Rfc822Header => ("RFC822.HEADER", Some(Section::Header(None))),
                        _ => ("RFC822.TEXT", Some(Section::Text(None))),
                    };
                    let content = items::section(bytes, &items::spec_of(text.as_ref()), None);
                    bytes_served += content.len() as u64;
                    served.push(name.to_owned());
                    named(name, &items::literal(&content))
                }
                Item::Section { section, partial } => {
                    let mut name = format!("BODY[{}]", items::section_name(section));
                    if let Some((offset, _)) = partial {
                        name.push_str(&format!("<{offset}>"));
                    }
                    let range = partial.map(|(offset, length)| Partial {
                        offset,
                        length: length.get(),
                    });
                    let content = items::section(bytes, &items::spec_of(section), range);
                    bytes_served += content.len() as u64;
                    served.push(name.clone());
                    named(&name, &items::literal(&content))
                }
                Item::Binary { part, partial } => {
                    let mut name = format!("BINARY[{}]", path(part));
                    if let Some((offset, _)) = partial {
                        // Dovecot adds the origin to a partial BINARY answer
                        // (imap-fetch-body.c `get_body_name`), which RFC 3516 leaves out.
                        name.push_str(&format!("<{offset}>"));
                    }
                    match items::binary(bytes, part, partial) {
                        Ok(value) => {
                            bytes_served += literal_len(&value);
                            served.push(name.clone());
                            named(&name, &value)
                        }
                        Err(f) => {
                            fail(ctx.events, &mut failure, message.uid, f, &name);
                            continue;
                        }
                    }
                }
                Item::BinarySize { part } => {
                    let name = format!("BINARY.SIZE[{}]", path(part));
                    match items::binary_size(bytes, part) {
                        Ok(size) => {
                            served.push(name.clone());
                            format!("{name} {size}").into_bytes()
                        }
                        Err(f) => {
                            fail(ctx.events, &mut failure, message.uid, f, &name);
                            continue;
                        }
                    }
                }
            };
            parts.push(part);
        }
        if parts.is_empty() {
            // Dovecot cannot take back `* n FETCH (` and FETCH () is not allowed.
            parts.push(format!("UID {}", message.uid).into_bytes());
        }
        ctx.out
            .extend_from_slice(format!("* {seq} FETCH (").as_bytes());
        ctx.out.extend(parts.join(&b' '));
        ctx.out.extend_from_slice(b")\r\n");
        // Flags and sizes alone (a sync's `UID FETCH 1:* (UID FLAGS)`) are no event: the
        // trace would hold one per message of the mailbox.
        if !served.is_empty() || seen_set {
            ctx.events.push(ImapServerEvent::Fetched {
                uid: message.uid,
                items: served,
                bytes: bytes_served,
                seen_set,
            });
        }
    }
    Ok(match failure {
        Some(BinaryFailure::No(text)) => FetchEnd::Tagged(text.to_owned()),
        Some(BinaryFailure::Disconnect) => FetchEnd::Disconnect(format!(
            "FETCH failed: Internal error occurred. Refer to server log for more information. [{}]",
            items::stamp(ctx.wall, ctx.now)
        )),
        None if skipped_expunged => {
            FetchEnd::Tagged("OK [EXPUNGEISSUED] Some messages were already expunged.".to_owned())
        }
        None => FetchEnd::Tagged("OK Fetch completed.".to_owned()),
    })
}

fn fail(
    events: &mut Vec<ImapServerEvent>,
    failure: &mut Option<BinaryFailure>,
    uid: u32,
    f: BinaryFailure,
    name: &str,
) {
    events.push(ImapServerEvent::FetchFailed {
        uid,
        reason: format!("{name}: {f:?}"),
    });
    // Dovecot keeps the first error.
    failure.get_or_insert(f);
}

fn named(name: &str, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 1 + value.len());
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(value);
    out
}

fn path(part: &[NonZeroU32]) -> String {
    let numbers: Vec<String> = part.iter().map(|n| n.to_string()).collect();
    numbers.join(".")
}

/// The bytes of a `{n}` or `~{n}` value.
fn literal_len(value: &[u8]) -> u64 {
    let open = value.iter().position(|&b| b == b'{');
    let close = value.iter().position(|&b| b == b'}');
    match (open, close) {
        (Some(o), Some(c)) if o < c => std::str::from_utf8(&value[o + 1..c])
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}
