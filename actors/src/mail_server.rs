//! The receiving mail server: one core [`ReceiverSession`] per connection; each message it
//! accepts goes to the IMAP server's INBOX when the world has one.
//!
//! Each stored message is written to the trace with the MD5s of the files it holds *as
//! stored*, so invariants can check what really reached the recipient (N3) independently of
//! what the proxy says it did. The trace is the store: the server keeps no copy of its own,
//! so a day of mail does not pile up in memory.

use std::rc::Rc;

use actix::prelude::*;
use aptsim_core::clock::Timestamp;
use aptsim_core::conn_map::ConnMap;
use aptsim_core::digest::Md5;
use aptsim_core::mime::{self, MimeLimits};

use crate::originals::Originals;
use aptsim_peers::smtp::receiver::{ReceiverConfig, ReceiverOutput, ReceiverSession};

use aptsim_simulator::clock::Clock;
use aptsim_simulator::link::{ConnId, Link, Wire};
use aptsim_simulator::trace::{Record, Recorder, message_id};

struct Slot {
    session: ReceiverSession,
    peer: Rc<Recipient<Wire>>,
    armed: aptsim_simulator::timer::Armed,
}

/// Takes the server down (refusing connections, dropping open ones) or back up.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct SetDown(pub bool);

/// The mail server actor.
pub struct MailServer {
    config: ReceiverConfig,
    link: Link,
    clock: Clock,
    trace: Recorder,
    sessions: ConnMap<Slot>,
    down: bool,
    /// The IMAP server that stores each delivery in its recipients' INBOX, when the world
    /// has one.
    imap: Option<Recipient<crate::imap_server::MailboxDelivery>>,
    /// The sender's messages as sent: a message stored unchanged needs no parsing.
    originals: Originals,
    /// Its own address, for the links and for its timers.
    me: crate::me::Me,
    me_timer: crate::me::Me<ServerTimer>,
}

impl MailServer {
    /// A server, up, with no connections.
    pub fn new(config: ReceiverConfig, link: Link, clock: Clock, trace: Recorder) -> Self {
        MailServer {
            config,
            link,
            clock,
            trace,
            sessions: ConnMap::new(),
            down: false,
            imap: None,
            originals: Originals::default(),
            me: crate::me::Me::default(),
            me_timer: crate::me::Me::default(),
        }
    }

    /// Knows the sender's messages as sent ([`Originals`]).
    pub fn with_originals(mut self, originals: Originals) -> Self {
        self.originals = originals;
        self
    }

    /// Each delivery also goes to this IMAP server, into its recipients' INBOX.
    pub fn delivering_to(mut self, imap: Recipient<crate::imap_server::MailboxDelivery>) -> Self {
        self.imap = Some(imap);
        self
    }

    fn flush(&mut self, conn: ConnId, ctx: &mut Context<Self>, timed_out: bool) {
        let now = self.clock.now();
        let me = self.me.get(ctx);
        // Looked up once: its outputs go out with the other fields borrowed beside it.
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        while let Some(out) = s.session.poll_output() {
            match out {
                ReceiverOutput::Send(bytes) => {
                    self.link
                        .send_stream(&me, &s.peer, Wire::Bytes { conn, bytes })
                }
                ReceiverOutput::Close => {
                    self.link.send_stream(&me, &s.peer, Wire::Closed { conn });
                    self.sessions.remove(&conn);
                    if timed_out {
                        self.trace
                            .record(now, "mail_server", Record::ServerTimeout { conn });
                    }
                    return;
                }
                ReceiverOutput::Delivered(m) => {
                    let msg = message_id(&m.message);
                    let files = match self.originals.files_of(&msg, &m.message) {
                        Some(files) => files.iter().map(Md5::to_hex).collect(),
                        None => mime::extract(&m.message, &MimeLimits::default())
                            .files
                            .iter()
                            .map(|f| f.md5.to_hex())
                            .collect(),
                    };
                    self.trace.record(
                        now,
                        "mail_server",
                        Record::Delivered {
                            msg,
                            rcpts: m.rcpts.clone(),
                            size: m.message.len(),
                            files,
                        },
                    );
                    if let Some(imap) = &self.imap {
                        let message: std::sync::Arc<[u8]> = m.message.as_slice().into();
                        for rcpt in &m.rcpts {
                            imap.do_send(crate::imap_server::MailboxDelivery {
                                rcpt: rcpt.clone(),
                                message: message.clone(),
                            });
                        }
                    }
                }
            }
        }
        s.armed.arm(s.session.poll_timeout(), |due| {
            let to = self.me_timer.get(ctx);
            aptsim_simulator::timer::after(self.clock.until(due), to, ServerTimer { conn, due })
        });
    }
}

/// A connection's timer fired (see [`crate::timer`]).
#[derive(Message)]
#[rtype(result = "()")]
struct ServerTimer {
    conn: ConnId,
    due: Timestamp,
}

impl Handler<ServerTimer> for MailServer {
    type Result = ();

    fn handle(&mut self, t: ServerTimer, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        let Some(slot) = self.sessions.get_mut(&t.conn) else {
            return;
        };
        if !slot.armed.fire(t.due) {
            return;
        }
        slot.session.handle_timeout(now);
        self.flush(t.conn, ctx, true);
    }
}

impl Actor for MailServer {
    type Context = Context<Self>;
}

impl Handler<Wire> for MailServer {
    type Result = ();

    fn handle(&mut self, msg: Wire, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        match msg {
            Wire::Connect { conn, reply_to, .. } => {
                let reply_to = Rc::new(reply_to);
                self.link
                    .answer_connect(&self.me.get(ctx), &reply_to, conn, !self.down);
                if self.down {
                    return;
                }
                let session = ReceiverSession::new(self.config.clone(), now);
                self.sessions.insert(
                    conn,
                    Slot {
                        session,
                        peer: reply_to,
                        armed: aptsim_simulator::timer::Armed::default(),
                    },
                );
                self.flush(conn, ctx, false);
            }
            Wire::Bytes { conn, bytes } => {
                if let Some(s) = self.sessions.get_mut(&conn) {
                    s.session.handle_bytes(&bytes, now);
                    self.flush(conn, ctx, false);
                }
            }
            Wire::Closed { conn } | Wire::Reset { conn } => {
                if let Some(mut s) = self.sessions.remove(&conn) {
                    s.session.handle_closed(now);
                }
            }
            Wire::Accepted { .. } | Wire::Refused { .. } => {}
        }
    }
}

impl Handler<SetDown> for MailServer {
    type Result = ();

    fn handle(&mut self, msg: SetDown, ctx: &mut Context<Self>) {
        self.down = msg.0;
        if self.down {
            // A crash: every open connection drops.
            for (conn, s) in std::mem::take(&mut self.sessions).into_sorted() {
                self.link
                    .send_stream(&self.me.get(ctx), &s.peer, Wire::Closed { conn });
            }
        }
    }
}
