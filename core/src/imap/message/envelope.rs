//! ENVELOPE (RFC 3501 §7.4.2) from a message's header, as Dovecot 2.3 writes it
//! (`lib-mail/message-part-data.c`, `lib-imap/imap-envelope.c`): the last Date, Subject,
//! In-Reply-To and Message-ID field counts, address fields of one name are merged, Sender
//! and Reply-To default to From, the subject and display names have their whitespace
//! collapsed.

use imap_codec::imap_types::core::NString;
use imap_codec::imap_types::envelope::{Address as ImapAddress, Envelope};

use super::address::{self, Address, strdup};
use super::header;
use super::quote::{for_humans, nstring, nstring_nolf};

/// The envelope fields found in one header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Fields {
    date: Option<Vec<u8>>,
    subject: Option<Vec<u8>>,
    from: Option<Vec<Address>>,
    sender: Option<Vec<Address>>,
    reply_to: Option<Vec<Address>>,
    to: Option<Vec<Address>>,
    cc: Option<Vec<Address>>,
    bcc: Option<Vec<Address>>,
    in_reply_to: Option<Vec<u8>>,
    message_id: Option<Vec<u8>>,
}

/// The envelope of the header block `header` (a message's or an attached message's).
pub(crate) fn envelope(header: &[u8]) -> Envelope<'static> {
    write(&fields(header))
}

pub(crate) fn fields(header: &[u8]) -> Fields {
    let mut f = Fields::default();
    for field in header::fields(header).0 {
        let name = header::c_name(field.name).to_ascii_lowercase();
        let text = |slot: &mut Option<Vec<u8>>| *slot = Some(strdup(&field.value()));
        let addresses = |slot: &mut Option<Vec<Address>>| {
            let parsed = address::parse(&field.value());
            // Merged as if the fields were one comma-separated list (a From field added
            // after the first must not hide from a client what a filter checked).
            match slot {
                Some(list) => list.extend(parsed),
                None if parsed.is_empty() => {}
                None => *slot = Some(parsed),
            }
        };
        match name.as_slice() {
            b"date" => text(&mut f.date),
            b"subject" => text(&mut f.subject),
            b"message-id" => text(&mut f.message_id),
            b"in-reply-to" => text(&mut f.in_reply_to),
            b"from" => addresses(&mut f.from),
            b"sender" => addresses(&mut f.sender),
            b"reply-to" => addresses(&mut f.reply_to),
            b"to" => addresses(&mut f.to),
            b"cc" => addresses(&mut f.cc),
            b"bcc" => addresses(&mut f.bcc),
            _ => {}
        }
    }
    f
}

pub(crate) fn write(f: &Fields) -> Envelope<'static> {
    let list = |a: &Option<Vec<Address>>| -> Vec<ImapAddress<'static>> {
        a.iter().flatten().map(imap_address).collect()
    };
    Envelope {
        date: nstring_nolf(f.date.as_deref()),
        subject: NString(f.subject.as_deref().map(for_humans)),
        from: list(&f.from),
        sender: list(f.sender.as_ref().map_or(&f.from, |_| &f.sender)),
        reply_to: list(f.reply_to.as_ref().map_or(&f.from, |_| &f.reply_to)),
        to: list(&f.to),
        cc: list(&f.cc),
        bcc: list(&f.bcc),
        in_reply_to: nstring_nolf(f.in_reply_to.as_deref()),
        message_id: nstring_nolf(f.message_id.as_deref()),
    }
}

fn imap_address(a: &Address) -> ImapAddress<'static> {
    ImapAddress {
        name: NString(a.name.as_deref().map(for_humans)),
        adl: nstring(a.route.as_deref()),
        mailbox: nstring(a.mailbox.as_deref()),
        host: nstring(a.domain.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_subject_wins_addresses_merge_and_sender_defaults_to_from() {
        let env =
            envelope(b"Subject: one\r\nFrom: a@x\r\nSubject: two\r\nFrom: b@y\r\nTo:\r\n\r\nbody");
        assert_eq!(
            env.subject.0.map(|s| s.as_ref().to_vec()),
            Some(b"two".to_vec())
        );
        assert_eq!(env.from.len(), 2);
        assert_eq!(env.sender, env.from);
        assert_eq!(env.reply_to, env.from);
        assert!(env.to.is_empty());
        assert_eq!(env.date, NString(None));
    }
}
