//! The SMTP proxy actor: a thin shell around the gateway [`Node`] — the same node, with the
//! same sessions, that the live TCP proxy drives — over simulated links.
//!
//! It owns no protocol logic and no gateway state. It hands the node what arrives (client and
//! upstream bytes, connections, the data center's answers), and carries out what the node
//! asks: bytes on the client and upstream links, connections to the mail server, uploads to
//! the data center; it keeps one timer per session and writes the node's events to the trace.
//! The node runs jobs inline (`Node::with_inline_work`), which keeps the world deterministic.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use actix::prelude::*;
use aptsim_core::clock::Timestamp;
use aptsim_core::conn_map::ConnMap;
use aptsim_core::node::{Node, NodeOutput};
use aptsim_core::smtp::proxy::Event;

use crate::datacenter::{DataCenter, DcAnswer, Upload};
use aptsim_simulator::clock::Clock;
use aptsim_simulator::link::{ConnId, Link, Wire};
use aptsim_simulator::trace::{
    DecisionKind, FileRecord, Record, Recorder, Side, find_message_id, message_id,
};

/// Upstream connection ids start here, apart from the senders' connection ids.
pub const FIRST_UPSTREAM: ConnId = 1 << 40;

/// Mail clients number their connections to the proxy from here: a connection in
/// `FIRST_IMAP_CLIENT..FIRST_UPSTREAM` is an IMAP client's (the gateway's IMAP listener).
pub const FIRST_IMAP_CLIENT: ConnId = 1 << 32;

struct Slot {
    client: Option<Rc<Recipient<Wire>>>,
    /// An IMAP client's session (its bytes go over the IMAP links).
    imap: bool,
    /// The message of the transaction in progress, for naming decisions in the trace.
    msg: String,
    armed: aptsim_simulator::timer::Armed,
}

/// The IMAP side of the gateway: its server and links.
pub struct ImapPeers {
    /// The IMAP server.
    pub server: Rc<Recipient<Wire>>,
    /// The link to it.
    pub server_link: Link,
    /// The link back to mail clients.
    pub client_link: Link,
}

/// Where the proxy's peers are.
pub struct ProxyPeers {
    /// The IMAP server and links, when the world has an IMAP side.
    pub imap: Option<ImapPeers>,
    /// The receiving mail server.
    pub upstream: Rc<Recipient<Wire>>,
    /// The link to it.
    pub upstream_link: Link,
    /// The link back to senders.
    pub client_link: Link,
    /// The data center.
    pub datacenter: Addr<DataCenter>,
    /// The link to the data center.
    pub datacenter_link: Link,
}

/// The SMTP proxy actor.
pub struct SmtpProxy {
    node: Rc<RefCell<Node>>,
    peers: ProxyPeers,
    clock: Clock,
    trace: Recorder,
    slots: ConnMap<Slot>,
    /// Upstream connections of IMAP sessions (to the IMAP server, not the mail server).
    imap_upstreams: BTreeSet<ConnId>,
    /// Its own address, for the links and for its timers.
    me: crate::me::Me,
    me_timer: crate::me::Me<SessionTimer>,
}

impl SmtpProxy {
    /// A proxy driving `node` (shared with the world, whose faults reach its gateway). The
    /// node must number upstream connections from [`FIRST_UPSTREAM`] and run jobs inline.
    pub fn new(node: Rc<RefCell<Node>>, peers: ProxyPeers, clock: Clock, trace: Recorder) -> Self {
        SmtpProxy {
            node,
            peers,
            clock,
            trace,
            slots: ConnMap::new(),
            imap_upstreams: BTreeSet::new(),
            me: crate::me::Me::default(),
            me_timer: crate::me::Me::default(),
        }
    }

    /// Runs `f` on the node, then carries out everything it asks.
    fn with_node(&mut self, ctx: &mut Context<Self>, f: impl FnOnce(&mut Node, Timestamp)) {
        let now = self.clock.now();
        f(&mut self.node.borrow_mut(), now);
        loop {
            let Some(out) = self.node.borrow_mut().poll_output() else {
                break;
            };
            self.carry_out(out, now, ctx);
        }
    }

    fn carry_out(&mut self, out: NodeOutput, now: Timestamp, ctx: &mut Context<Self>) {
        let me = self.me.get(ctx);
        match out {
            NodeOutput::ToClient { conn, bytes } => {
                if let Some(slot) = self.slots.get(&conn)
                    && let Some(c) = slot.client.as_ref()
                {
                    self.client_link(slot.imap)
                        .send_stream(&me, c, Wire::Bytes { conn, bytes });
                }
            }
            NodeOutput::ToUpstream { up, bytes } => {
                let (to, link) = self.upstream(up);
                link.send_stream(&me, to, Wire::Bytes { conn: up, bytes });
            }
            NodeOutput::Connect { conn, up } => {
                if self.slots.get(&conn).is_some_and(|s| s.imap) {
                    self.imap_upstreams.insert(up);
                }
                let reply_to = Recipient::clone(&me);
                let (to, link) = self.upstream(up);
                link.send_stream(
                    &me,
                    to,
                    Wire::Connect {
                        conn: up,
                        site: "gateway".to_owned(),
                        reply_to,
                    },
                );
            }
            NodeOutput::CloseUpstream { up } => {
                let (to, link) = self.upstream(up);
                link.send_stream(&me, to, Wire::Closed { conn: up });
            }
            NodeOutput::CloseClient { conn } => {
                if let Some(slot) = self.slots.get_mut(&conn)
                    && let Some(c) = slot.client.take()
                {
                    let imap = slot.imap;
                    self.client_link(imap)
                        .send_stream(&me, &c, Wire::Closed { conn });
                }
            }
            NodeOutput::Submitted {
                conn,
                txn,
                md5,
                name,
                upload,
            } => self.trace.record(
                now,
                // The IMAP sessions' submissions are the IMAP proxy's (N6 reads them).
                if self.slots.get(&conn).is_some_and(|s| s.imap) {
                    "imap_proxy"
                } else {
                    "smtp_proxy"
                },
                Record::Submission {
                    conn,
                    txn,
                    md5: md5.to_hex(),
                    name,
                    upload,
                },
            ),
            NodeOutput::Upload { md5, name, .. } => self.peers.datacenter_link.send(
                &self.peers.datacenter.clone().recipient(),
                Upload {
                    md5,
                    name,
                    reply_to: ctx.address().recipient(),
                },
            ),
            // Jobs run inline in the node: none comes out.
            NodeOutput::Work { .. } => {}
            NodeOutput::VerdictRecorded { md5 } => {
                self.trace
                    .record(now, "smtp_proxy", Record::CacheStored { md5: md5.to_hex() })
            }
            NodeOutput::Event { conn, event } => self.record_event(conn, event, now),
            NodeOutput::ImapEvent { conn, event } => {
                if let Some(record) = crate::imap_records::record(conn, event) {
                    self.trace.record(now, "imap_proxy", record);
                }
            }
            NodeOutput::Deadline { conn, at } => self.arm(conn, at, ctx),
            NodeOutput::Finished { conn } => {
                self.slots.remove(&conn);
            }
        }
    }

    fn record_event(&mut self, conn: ConnId, e: Event, now: Timestamp) {
        // The command and reply lines are most of the trace: built only if somebody reads
        // them.
        let record = match e {
            Event::ClientCommand(line) => {
                return self
                    .trace
                    .record_wire(now, "smtp_proxy", move || Record::SmtpCommand {
                        conn,
                        side: Side::Client,
                        line,
                    });
            }
            Event::ClientReply(r) => {
                return self
                    .trace
                    .record_wire(now, "smtp_proxy", move || Record::SmtpReply {
                        conn,
                        side: Side::Client,
                        code: r.code,
                        text: r.text(),
                    });
            }
            Event::UpstreamCommand(line) => {
                return self
                    .trace
                    .record_wire(now, "smtp_proxy", move || Record::SmtpCommand {
                        conn,
                        side: Side::Upstream,
                        line,
                    });
            }
            Event::UpstreamReply(r) => {
                return self
                    .trace
                    .record_wire(now, "smtp_proxy", move || Record::SmtpReply {
                        conn,
                        side: Side::Upstream,
                        code: r.code,
                        text: r.text(),
                    });
            }
            Event::HoldStarted { txn } => Record::HoldStart { conn, txn },
            Event::Decided { txn, outcome, held } => {
                let msg = self
                    .slots
                    .get(&conn)
                    .map(|s| s.msg.clone())
                    .unwrap_or_default();
                Record::Decision {
                    conn,
                    txn,
                    msg,
                    action: outcome.action,
                    decision: DecisionKind::from(&outcome.decision),
                    held_ms: held.map(|d| d.as_millis() as u64),
                    released: outcome.released,
                    fail_open: outcome.fail_open,
                    files: outcome.files.iter().map(FileRecord::of).collect(),
                }
            }
            Event::BodySent { txn } => Record::BodyRelayed { conn, txn },
            Event::Quarantined { message, .. } => Record::Quarantined {
                msg: message_id(&message),
            },
            Event::SiteBlocked { site, until } => Record::SiteBlocked {
                site,
                until_ms: until.as_millis(),
            },
            Event::ClientGone {
                txn,
                after_body_sent,
            } => Record::ClientGone {
                conn,
                txn,
                after_body_sent,
            },
            Event::Exposure {
                txn,
                md5,
                level,
                window,
            } => Record::Exposure {
                conn,
                txn,
                md5: md5.to_hex(),
                level,
                window_ms: window.as_millis() as u64,
            },
            // Its reply is in the trace already, as the upstream's.
            Event::Transaction(_) | Event::XforwardRefused(_) => return,
        };
        self.trace.record(now, "smtp_proxy", record);
    }

    /// The link back to a client: the IMAP one for mail clients.
    fn client_link(&self, imap: bool) -> &Link {
        match (&self.peers.imap, imap) {
            (Some(i), true) => &i.client_link,
            _ => &self.peers.client_link,
        }
    }

    /// Where an upstream connection goes: the IMAP server for an IMAP session's, the mail
    /// server otherwise.
    fn upstream(&self, up: ConnId) -> (&Rc<Recipient<Wire>>, &Link) {
        match &self.peers.imap {
            Some(i) if self.imap_upstreams.contains(&up) => (&i.server, &i.server_link),
            _ => (&self.peers.upstream, &self.peers.upstream_link),
        }
    }

    /// Keeps one timer per session at its earliest deadline.
    fn arm(&mut self, conn: ConnId, at: Option<Timestamp>, ctx: &mut Context<Self>) {
        let Some(slot) = self.slots.get_mut(&conn) else {
            return;
        };
        slot.armed.arm(at, |due| {
            let to = self.me_timer.get(ctx);
            aptsim_simulator::timer::after(self.clock.until(due), to, SessionTimer { conn, due })
        });
    }
}

impl Actor for SmtpProxy {
    type Context = Context<Self>;
}

impl Handler<Wire> for SmtpProxy {
    type Result = ();

    fn handle(&mut self, msg: Wire, ctx: &mut Context<Self>) {
        match msg {
            Wire::Connect {
                conn,
                site,
                reply_to,
            } => {
                let imap = (FIRST_IMAP_CLIENT..FIRST_UPSTREAM).contains(&conn);
                let reply_to = Rc::new(reply_to);
                let me = self.me.get(ctx);
                self.client_link(imap)
                    .send_stream(&me, &reply_to, Wire::Accepted { conn });
                self.slots.insert(
                    conn,
                    Slot {
                        client: Some(reply_to),
                        imap,
                        msg: String::new(),
                        armed: aptsim_simulator::timer::Armed::default(),
                    },
                );
                if imap {
                    self.with_node(ctx, |n, now| n.accept_imap(conn, site, now));
                } else {
                    self.with_node(ctx, |n, now| n.accept(conn, site, now));
                }
            }
            Wire::Bytes { conn, bytes } if conn >= FIRST_UPSTREAM => {
                self.with_node(ctx, |n, now| n.handle_upstream_bytes(conn, &bytes, now));
            }
            Wire::Bytes { conn, bytes } => {
                if let Some(slot) = self.slots.get_mut(&conn).filter(|s| !s.imap)
                    && let Some(id) = find_message_id(&bytes).filter(|id| id != "?")
                {
                    slot.msg = id;
                }
                self.with_node(ctx, |n, now| n.handle_client_bytes(conn, &bytes, now));
            }
            Wire::Accepted { conn } => {
                self.with_node(ctx, |n, now| n.handle_upstream_connected(conn, now));
            }
            Wire::Refused { conn } => {
                self.with_node(ctx, |n, now| n.handle_upstream_connect_failed(conn, now));
            }
            Wire::Closed { conn } | Wire::Reset { conn } if conn >= FIRST_UPSTREAM => {
                self.with_node(ctx, |n, now| n.handle_upstream_closed(conn, now));
            }
            // A sender's close arrives as a TCP FIN: the session tells a half-close (the
            // sender still reads) from a departure; its link stays for the replies until
            // the session closes it.
            Wire::Closed { conn } => {
                self.with_node(ctx, |n, now| n.handle_client_eof(conn, now));
            }
            Wire::Reset { conn } => {
                if let Some(slot) = self.slots.get_mut(&conn) {
                    slot.client = None;
                }
                self.with_node(ctx, |n, now| n.handle_client_closed(conn, now));
            }
        }
    }
}

/// A session's timer fired (see [`crate::timer`]).
#[derive(Message)]
#[rtype(result = "()")]
struct SessionTimer {
    conn: ConnId,
    due: Timestamp,
}

impl Handler<SessionTimer> for SmtpProxy {
    type Result = ();

    fn handle(&mut self, t: SessionTimer, ctx: &mut Context<Self>) {
        // A later arming replaced this timer, or the session is gone.
        if !self
            .slots
            .get_mut(&t.conn)
            .is_some_and(|slot| slot.armed.fire(t.due))
        {
            return;
        }
        self.with_node(ctx, |n, now| n.handle_session_timeout(t.conn, now));
    }
}

impl Handler<DcAnswer> for SmtpProxy {
    type Result = ();

    fn handle(&mut self, answer: DcAnswer, ctx: &mut Context<Self>) {
        match answer {
            DcAnswer::Verdict { md5, verdict } => {
                self.with_node(ctx, |n, now| n.handle_verdict(md5, &verdict, now));
            }
            DcAnswer::Unreachable { md5 } => {
                self.with_node(ctx, |n, now| n.handle_unreachable(md5, now));
            }
        }
    }
}
