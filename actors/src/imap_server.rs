//! The IMAP server actor: the mail store the receiving mail server delivers into, and one
//! `aptsim_peers::imap` server session (Dovecot 2.3's behaviour and timers) per connection
//! — the gateway's IMAP proxy connects here for each mail client.
//!
//! A delivery goes to the account named by the recipient's local part (`bob@example.net` →
//! `bob`), whose INBOX must exist (the world creates the scenario's accounts); sessions that
//! have it selected hear of it (`* n EXISTS`). The trace gets each delivery into a mailbox
//! (with its UID, which the IMAP records name) and the server's autologouts.

use std::sync::Arc;

use std::rc::Rc;

use actix::prelude::*;
use aptsim_core::clock::Timestamp;
use aptsim_core::conn_map::ConnMap;
use aptsim_peers::imap::{
    ImapServerConfig, ImapServerEvent, ImapServerOutput, ImapServerSession, Mailstore,
};

use aptsim_simulator::clock::Clock;
use aptsim_simulator::link::{ConnId, Link, Wire};
use aptsim_simulator::trace::{Record, Recorder, message_id};

/// A message for an account's INBOX (from the receiving mail server, or put there by the
/// scenario).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct MailboxDelivery {
    /// The recipient address (its local part names the account) or the account itself.
    pub rcpt: String,
    /// The message.
    pub message: Arc<[u8]>,
}

/// Takes the IMAP server down (refusing connections, dropping open ones) or back up.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct SetImapDown(pub bool);

struct Slot {
    session: ImapServerSession,
    peer: Rc<Recipient<Wire>>,
    armed: aptsim_simulator::timer::Armed,
}

/// The IMAP server actor.
pub struct ImapServer {
    config: ImapServerConfig,
    store: Mailstore,
    link: Link,
    clock: Clock,
    trace: Recorder,
    sessions: ConnMap<Slot>,
    down: bool,
    /// Its own address, for the links.
    me: crate::me::Me,
}

/// The account a recipient address delivers to: its local part.
pub fn account_of(rcpt: &str) -> &str {
    rcpt.split('@').next().unwrap_or(rcpt)
}

impl ImapServer {
    /// A server with these accounts (each `user` with password `password`) and their INBOX.
    pub fn new(
        config: ImapServerConfig,
        accounts: &[(String, String)],
        link: Link,
        clock: Clock,
        trace: Recorder,
    ) -> Self {
        let mut store = Mailstore::new();
        for (user, password) in accounts {
            store.add_account(user, password);
        }
        ImapServer {
            config,
            store,
            link,
            clock,
            trace,
            sessions: ConnMap::new(),
            down: false,
            me: crate::me::Me::default(),
        }
    }

    /// Carries out a session's outputs; when it changed the store, the other sessions hear
    /// of it.
    fn flush(&mut self, conn: ConnId, ctx: &mut Context<Self>) {
        if self.carry_out(conn, ctx) {
            self.store_changed(Some(conn), ctx);
        }
    }

    /// Carries out a session's outputs; whether it changed the store.
    fn carry_out(&mut self, conn: ConnId, ctx: &mut Context<Self>) -> bool {
        let now = self.clock.now();
        let mut changed = false;
        while let Some(out) = self
            .sessions
            .get_mut(&conn)
            .and_then(|s| s.session.poll_output())
        {
            match out {
                ImapServerOutput::Send(bytes) => {
                    if let Some(s) = self.sessions.get(&conn) {
                        self.link.send_stream(
                            &self.me.get(ctx),
                            &s.peer,
                            Wire::Bytes { conn, bytes },
                        );
                    }
                }
                ImapServerOutput::Close => {
                    if let Some(s) = self.sessions.remove(&conn) {
                        self.link
                            .send_stream(&self.me.get(ctx), &s.peer, Wire::Closed { conn });
                    }
                    return changed;
                }
                ImapServerOutput::Event(ImapServerEvent::Autologout { authenticated, .. }) => {
                    self.trace.record(
                        now,
                        "imap_server",
                        Record::ImapServerAutologout {
                            conn,
                            authenticated,
                        },
                    );
                }
                // A STORE, EXPUNGE or fetch that set \Seen: the other sessions hear of it.
                ImapServerOutput::StoreChanged => changed = true,
                ImapServerOutput::Event(_) => {}
            }
        }
        self.arm(conn, ctx);
        changed
    }

    /// Tells every session but `except` that the store changed, and carries out what they
    /// answer.
    fn store_changed(&mut self, except: Option<ConnId>, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        let conns: Vec<ConnId> = self
            .sessions
            .keys()
            .into_iter()
            .filter(|c| Some(*c) != except)
            .collect();
        for conn in conns {
            if let Some(s) = self.sessions.get_mut(&conn) {
                s.session.handle_store_changed(&mut self.store, now);
            }
            // One round: announcing a change changes nothing more.
            self.carry_out(conn, ctx);
        }
    }

    fn arm(&mut self, conn: ConnId, ctx: &mut Context<Self>) {
        let Some(slot) = self.sessions.get_mut(&conn) else {
            return;
        };
        slot.armed.arm(slot.session.poll_timeout(), |due| {
            let to = ctx.address().recipient();
            aptsim_simulator::timer::after(self.clock.until(due), to, SessionTimer { conn, due })
        });
    }
}

impl Actor for ImapServer {
    type Context = Context<Self>;
}

impl Handler<Wire> for ImapServer {
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
                self.sessions.insert(
                    conn,
                    Slot {
                        session: ImapServerSession::new(self.config.clone(), now),
                        peer: reply_to,
                        armed: aptsim_simulator::timer::Armed::default(),
                    },
                );
                self.flush(conn, ctx);
            }
            Wire::Bytes { conn, bytes } => {
                if let Some(s) = self.sessions.get_mut(&conn) {
                    s.session.handle_bytes(&bytes, &mut self.store, now);
                    self.flush(conn, ctx);
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

impl Handler<MailboxDelivery> for ImapServer {
    type Result = ();

    fn handle(&mut self, d: MailboxDelivery, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        let account = account_of(&d.rcpt).to_owned();
        let msg = message_id(&d.message);
        match self.store.deliver(&account, "INBOX", d.message, now) {
            Ok(uid) => self.trace.record(
                now,
                "imap_server",
                Record::MailboxStored { msg, account, uid },
            ),
            // A recipient with no account here: the message stays with the mail server
            // only, as a server with no such mailbox would bounce or drop it.
            Err(_) => return,
        }
        self.store_changed(None, ctx);
    }
}

impl Handler<SetImapDown> for ImapServer {
    type Result = ();

    fn handle(&mut self, SetImapDown(down): SetImapDown, ctx: &mut Context<Self>) {
        self.down = down;
        if down {
            for (conn, s) in std::mem::take(&mut self.sessions).into_sorted() {
                self.link
                    .send_stream(&self.me.get(ctx), &s.peer, Wire::Reset { conn });
            }
        }
    }
}

/// A session's timer fired.
#[derive(Message)]
#[rtype(result = "()")]
struct SessionTimer {
    conn: ConnId,
    due: Timestamp,
}

impl Handler<SessionTimer> for ImapServer {
    type Result = ();

    fn handle(&mut self, t: SessionTimer, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        let Some(slot) = self.sessions.get_mut(&t.conn) else {
            return;
        };
        if !slot.armed.fire(t.due) {
            return;
        }
        slot.session.handle_timeout(&mut self.store, now);
        self.flush(t.conn, ctx);
    }
}
