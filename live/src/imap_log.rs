//! The IMAP proxy's log lines: one per judged message (kind `imap`), plus refusals, dropped
//! responses and clients that left during a hold; with `--verbose`, the commands.
//!
//! ```text
//! 2026-12-01T12:00:05.123Z imap client=127.0.0.1 conn=4 uid=7 size=1893
//!   files=eicar.com:44d88612fea8a8f36de82e1278abb02f:high action=deny result=notice
//!   held=5.002s served_size=612
//! ```
//!
//! (one line in reality). `files` is written as in the SMTP transaction line
//! ([`super::log`]); in JSON each file carries its `source` (`analysis` or `cache`: a
//! refetch decided from the cache, I3). `result` is `unchanged`, `rewritten`, `notice`,
//! `withheld` (the fetch was answered `NO`) or `abandoned` (the client left before the
//! decision, I3).

use std::net::IpAddr;

use aptsim_core::clock::Timestamp;
use aptsim_core::imap::proxy::{ImapEvent, MessageLog};

use super::log::{Log, TARGET, escape, files, seconds};

impl Log {
    /// A line for an IMAP session's event: every judged message unless `--quiet`, the rest
    /// as the SMTP proxy's dialogue is (`--verbose`), refusals and drops always.
    pub fn imap(&self, now: Timestamp, conn: u64, client: IpAddr, event: &ImapEvent) {
        match event {
            ImapEvent::Message(m) => self.imap_message(now, conn, client, m),
            ImapEvent::Refused { tag, reason } => {
                let text = format!(
                    "conn={conn} tag={} refused: {}",
                    escape(tag),
                    escape(reason)
                );
                self.info(now, "imap", &text);
            }
            ImapEvent::Dropped { reason } => {
                let text = format!(
                    "conn={conn} a server response was not passed on (fail closed): {}",
                    escape(reason)
                );
                self.always(now, "warning", &text);
            }
            ImapEvent::ClientGone { judging } => {
                let text = format!(
                    "conn={conn} client left during a hold; {judging} message(s) still judged \
                     (I3: the next fetch is decided from the cache)"
                );
                self.info(now, "imap", &text);
            }
            _ if self.verbose => {
                let text = match event {
                    ImapEvent::ClientCommand(c) => format!("conn={conn} C: {}", escape(c)),
                    ImapEvent::HoldStarted {
                        tag,
                        messages,
                        body,
                    } => format!(
                        "conn={conn} tag={} held: {messages} message(s) to judge{}",
                        escape(tag),
                        if *body { "" } else { " (header fetch)" }
                    ),
                    ImapEvent::Served { tag, held } => format!(
                        "conn={conn} tag={} served after {}",
                        escape(tag),
                        super::log::secs(*held)
                    ),
                    ImapEvent::KeepaliveSent => format!("conn={conn} keepalive sent (X4)"),
                    ImapEvent::Decided { uid, outcome, .. } => format!(
                        "conn={conn} uid={uid} decided: action={}",
                        outcome.action.as_str()
                    ),
                    _ => return,
                };
                self.always(now, "imap", &text);
            }
            _ => {}
        }
    }

    fn imap_message(&self, now: Timestamp, conn: u64, client: IpAddr, m: &MessageLog) {
        if self.quiet {
            return;
        }
        let result = serde_json::to_value(m.result)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        tracing::info!(
            target: TARGET,
            time = self.time(now).as_str(),
            kind = "imap",
            client = client.to_string().as_str(),
            conn,
            uid = m.uid,
            size = m.size as u64,
            files = ?files(&m.files),
            action = m.action.as_str(),
            result = result.as_str(),
            held = ?seconds(m.held),
            served_size = m.served_size.map(|s| s as u64),
            fail_open = m.fail_open,
        );
    }
}
