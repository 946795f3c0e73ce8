//! A mail client actor: one `aptsim_peers::mail_client` program (Thunderbird, K-9, Outlook,
//! mbsync, fetchmail) for one account, connecting to the gateway's IMAP proxy over a link.
//!
//! Its connections are numbered from the proxy's IMAP range ([`FIRST_IMAP_CLIENT`]), one block
//! per client. What the client ends up holding is written to the trace with the MD5s of the
//! files in it, read from the bytes it received (so N3 can check what really reached the
//! user, whatever the proxy says it did).

use std::collections::BTreeMap;

use std::rc::Rc;

use actix::prelude::*;
use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::mime::{self, MimeLimits};
use aptsim_peers::mail_client::{
    ClientEvent, ClientOutput, ConnId as ClientConn, MailClient, MessageKey,
};

use crate::smtp_proxy::FIRST_IMAP_CLIENT;
use aptsim_simulator::clock::Clock;
use aptsim_simulator::link::{ConnId, Link, Wire};
use aptsim_simulator::trace::{Record, Recorder, message_id};

/// Connection ids per client: client `i` numbers from `FIRST_IMAP_CLIENT + i * BLOCK`.
const BLOCK: ConnId = 1 << 20;

/// The user restarts the client (I5: Outlook's stalled sync resumes).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Restart;

/// The mail client actor.
pub struct MailClientActor {
    name: String,
    client: MailClient,
    base: ConnId,
    proxy: Rc<Recipient<Wire>>,
    /// Its own address, for the link.
    me: crate::me::Me,
    link: Link,
    clock: Clock,
    trace: Recorder,
    armed: aptsim_simulator::timer::Armed,
    /// Our connection ids by the client's own.
    open: BTreeMap<ClientConn, ConnId>,
}

impl MailClientActor {
    /// Client number `index` of the world, named `name`, talking to `proxy` over `link`.
    pub fn new(
        name: String,
        index: u64,
        client: MailClient,
        proxy: Recipient<Wire>,
        link: Link,
        clock: Clock,
        trace: Recorder,
    ) -> Self {
        MailClientActor {
            name,
            client,
            base: FIRST_IMAP_CLIENT + index * BLOCK,
            proxy: Rc::new(proxy),
            me: crate::me::Me::default(),
            link,
            clock,
            trace,
            armed: aptsim_simulator::timer::Armed::default(),
            open: BTreeMap::new(),
        }
    }

    fn local(&self, conn: ConnId) -> Option<ClientConn> {
        (conn >= self.base && conn < self.base + BLOCK)
            .then(|| ClientConn((conn - self.base) as u32))
    }

    fn global(&self, conn: ClientConn) -> ConnId {
        self.base + u64::from(conn.0)
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        while let Some(out) = self.client.poll_output() {
            let me = self.me.get(ctx);
            match out {
                ClientOutput::Connect { conn } => {
                    let global = self.global(conn);
                    self.open.insert(conn, global);
                    self.link.send_stream(
                        &me,
                        &self.proxy,
                        Wire::Connect {
                            conn: global,
                            site: format!("client-{}", self.name),
                            reply_to: Recipient::clone(&me),
                        },
                    );
                }
                ClientOutput::Send { conn, bytes } => {
                    if let Some(&global) = self.open.get(&conn) {
                        self.link.send_stream(
                            &me,
                            &self.proxy,
                            Wire::Bytes {
                                conn: global,
                                bytes,
                            },
                        );
                    }
                }
                ClientOutput::Close { conn } => {
                    if let Some(global) = self.open.remove(&conn) {
                        self.link
                            .send_stream(&me, &self.proxy, Wire::Closed { conn: global });
                    }
                }
                ClientOutput::Event(e) => self.record(e, now),
            }
        }
        let clock = self.clock;
        self.armed.arm(self.client.poll_timeout(), |due| {
            let to = ctx.address().recipient();
            aptsim_simulator::timer::after(clock.until(due), to, ClientTimer { due })
        });
    }

    fn record(&mut self, e: ClientEvent, now: Timestamp) {
        let client = self.name.clone();
        let record = match e {
            ClientEvent::Fetched { key, attempts, .. } => {
                let bytes = self
                    .client
                    .message(key)
                    .and_then(|d| d.message.clone())
                    .unwrap_or_default();
                let (uid, seq) = match key {
                    MessageKey::Uid(u) => (Some(u), None),
                    MessageKey::Seq(n) => (None, Some(n)),
                };
                Record::ImapFetched {
                    client,
                    uid,
                    seq,
                    msg: message_id(&bytes),
                    size: bytes.len(),
                    files: files_of(&bytes),
                    attempts,
                }
            }
            ClientEvent::PartFetched {
                uid,
                part,
                attempts,
                ..
            } => {
                let bytes = self
                    .client
                    .message(MessageKey::Uid(uid))
                    .and_then(|d| d.parts.get(&part).cloned())
                    .unwrap_or_default();
                Record::ImapPartFetched {
                    client,
                    uid,
                    part,
                    md5: part_md5(&bytes),
                    attempts,
                }
            }
            ClientEvent::TimedOut { conn, what } => Record::ImapClientTimeout {
                client,
                conn: self.global(conn),
                what: format!("{what:?}"),
            },
            ClientEvent::Failed { job, reason } => Record::ImapClientFailed {
                client,
                what: format!("{job:?}: {reason:?}"),
            },
            ClientEvent::SyncStalled { .. } => Record::ImapSyncStalled { client },
            ClientEvent::Discarded { key, .. } => Record::ImapDiscarded {
                client,
                key: key.to_string(),
            },
            ClientEvent::Restarted => Record::ImapClientRestarted { client },
            _ => return,
        };
        self.trace.record(now, "mail_client", record);
    }
}

/// The MD5s of the files in a message the client holds.
fn files_of(message: &[u8]) -> Vec<String> {
    if message.is_empty() {
        return Vec::new();
    }
    mime::extract(message, &MimeLimits::default())
        .files
        .iter()
        .map(|f| f.md5.to_hex())
        .collect()
}

/// The MD5 of an attachment section as the user gets it: its base64 decoded (how a client
/// writes an attachment to disk), or the bytes as they came when they are not base64.
fn part_md5(bytes: &[u8]) -> String {
    let compact: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    match base64_simd::STANDARD.decode_to_vec(&compact) {
        Ok(decoded) if !compact.is_empty() => Md5::of(&decoded).to_hex(),
        _ => Md5::of(bytes).to_hex(),
    }
}

impl Actor for MailClientActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.flush(ctx);
    }
}

impl Handler<Wire> for MailClientActor {
    type Result = ();

    fn handle(&mut self, msg: Wire, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        match msg {
            Wire::Accepted { conn } => {
                if let Some(c) = self.local(conn) {
                    self.client.handle_connected(c, now);
                }
            }
            Wire::Refused { conn } => {
                if let Some(c) = self.local(conn) {
                    self.open.remove(&c);
                    self.client.handle_connect_failed(c, now);
                }
            }
            Wire::Bytes { conn, bytes } => {
                if let Some(c) = self.local(conn) {
                    self.client.handle_bytes(c, &bytes, now);
                }
            }
            Wire::Closed { conn } | Wire::Reset { conn } => {
                if let Some(c) = self.local(conn) {
                    self.client.handle_closed(c, now);
                }
            }
            Wire::Connect { .. } => {}
        }
        self.flush(ctx);
    }
}

impl Handler<Restart> for MailClientActor {
    type Result = ();

    fn handle(&mut self, _: Restart, ctx: &mut Context<Self>) {
        self.client.handle_restart(self.clock.now());
        self.flush(ctx);
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct ClientTimer {
    due: Timestamp,
}

impl Handler<ClientTimer> for MailClientActor {
    type Result = ();

    fn handle(&mut self, t: ClientTimer, ctx: &mut Context<Self>) {
        if !self.armed.fire(t.due) {
            return;
        }
        self.client.handle_timeout(self.clock.now());
        self.flush(ctx);
    }
}
