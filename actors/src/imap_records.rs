//! The IMAP proxy's events as trace records: what the gateway actor writes for an IMAP
//! session (the SMTP ones are in `smtp_proxy.rs`).

use aptsim_core::imap::proxy::ImapEvent;
use aptsim_simulator::trace::{FileRecord, Record, message_id};

/// The trace record for an IMAP session's event, if it has one (`Decided` has none: the
/// `Message` record that follows it carries the decision with what the client gets).
pub fn record(conn: u64, event: ImapEvent) -> Option<Record> {
    Some(match event {
        ImapEvent::ClientCommand(line) => Record::ImapCommand { conn, line },
        ImapEvent::HoldStarted { tag, messages, .. } => Record::ImapHoldStart {
            conn,
            tag,
            messages,
        },
        ImapEvent::Message(m) => Record::ImapDecision {
            conn,
            uid: m.uid,
            msg: message_id(&m.message),
            action: m.action,
            result: m.result,
            held_ms: m.held.as_millis() as u64,
            fail_open: m.fail_open,
            files: m.files.iter().map(FileRecord::of).collect(),
        },
        ImapEvent::Served { tag, held } => Record::ImapServed {
            conn,
            tag,
            held_ms: held.as_millis() as u64,
        },
        ImapEvent::Refused { tag, reason } => Record::ImapRefused { conn, tag, reason },
        ImapEvent::Dropped { reason } => Record::ImapDropped { conn, reason },
        ImapEvent::KeepaliveSent => Record::ImapKeepalive { conn },
        ImapEvent::ClientGone { judging } => Record::ImapClientGone { conn, judging },
        ImapEvent::Decided { .. } => return None,
    })
}
