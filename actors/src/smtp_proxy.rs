//! The SMTP proxy actor: a thin shell that runs one core [`ProxySession`] per client
//! connection — the same session the live TCP proxy runs — over simulated links.
//!
//! It owns no protocol logic. It moves bytes, opens upstream connections to the mail server,
//! uploads files to the data center (applying X1 through the shared [`Gateway`]), fans
//! verdicts out to every session, keeps each session's timer armed, and writes the sessions'
//! events to the trace.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use actix::prelude::*;
use aptsim_core::clock::Timestamp;
use aptsim_core::gateway::{Gateway, UploadDecision};
use aptsim_core::inspect::{Decision, SubmittedFile};
use aptsim_core::smtp::proxy::{Event, Output, ProxyConfig, ProxySession};

use crate::clock::Clock;
use crate::datacenter::{DataCenter, DcAnswer, Upload};
use crate::record::{FileRecord, Record, Recorder, Side, message_id};
use crate::wire::{ConnId, Link, Wire};

struct Slot {
    session: ProxySession,
    client: Option<Recipient<Wire>>,
    upstream: Option<ConnId>,
    /// The message of the transaction in progress, for naming decisions in the trace.
    msg: String,
    armed: crate::timer::Armed,
}

/// Where the proxy's peers are.
pub struct ProxyPeers {
    /// The receiving mail server.
    pub upstream: Recipient<Wire>,
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
    config: Arc<ProxyConfig>,
    gateway: Rc<RefCell<Gateway>>,
    peers: ProxyPeers,
    clock: Clock,
    trace: Recorder,
    sessions: BTreeMap<ConnId, Slot>,
    /// Upstream connection → client connection.
    upstream_of: BTreeMap<ConnId, ConnId>,
    next_upstream: ConnId,
}

impl SmtpProxy {
    /// A proxy sharing `gateway` (and its cache) with the gateway's other proxies.
    pub fn new(
        config: Arc<ProxyConfig>,
        gateway: Rc<RefCell<Gateway>>,
        peers: ProxyPeers,
        clock: Clock,
        trace: Recorder,
    ) -> Self {
        SmtpProxy {
            config,
            gateway,
            peers,
            clock,
            trace,
            sessions: BTreeMap::new(),
            upstream_of: BTreeMap::new(),
            // Upstream connection ids live in their own range, apart from the senders'.
            next_upstream: 1 << 40,
        }
    }

    /// Runs `f` on a session, then carries out its outputs and re-arms its timer.
    fn with_session(
        &mut self,
        conn: ConnId,
        ctx: &mut Context<Self>,
        f: impl FnOnce(&mut ProxySession, &mut Gateway, Timestamp),
    ) {
        let now = self.clock.now();
        {
            let Some(slot) = self.sessions.get_mut(&conn) else {
                return;
            };
            let mut gw = self.gateway.borrow_mut();
            f(&mut slot.session, &mut gw, now);
        }
        self.flush(conn, ctx);
    }

    fn flush(&mut self, conn: ConnId, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        loop {
            let Some(slot) = self.sessions.get_mut(&conn) else {
                return;
            };
            let Some(out) = slot.session.poll_output() else {
                break;
            };
            match out {
                Output::ToClient(bytes) => {
                    if let Some(c) = &slot.client {
                        self.peers.client_link.send(c, Wire::Bytes { conn, bytes });
                    }
                }
                Output::ToUpstream(bytes) => {
                    if let Some(up) = slot.upstream {
                        self.peers
                            .upstream_link
                            .send(&self.peers.upstream, Wire::Bytes { conn: up, bytes });
                    }
                }
                Output::ConnectUpstream => {
                    let up = self.next_upstream;
                    self.next_upstream += 1;
                    if let Some(old) = slot.upstream.replace(up) {
                        self.upstream_of.remove(&old);
                    }
                    self.upstream_of.insert(up, conn);
                    let reply_to = ctx.address().recipient();
                    self.peers.upstream_link.send(
                        &self.peers.upstream,
                        Wire::Connect {
                            conn: up,
                            site: "gateway".to_owned(),
                            reply_to,
                        },
                    );
                }
                Output::CloseUpstream => {
                    if let Some(up) = slot.upstream.take() {
                        self.upstream_of.remove(&up);
                        self.peers
                            .upstream_link
                            .send(&self.peers.upstream, Wire::Closed { conn: up });
                    }
                }
                Output::CloseClient => {
                    if let Some(c) = slot.client.take() {
                        self.peers.client_link.send(&c, Wire::Closed { conn });
                    }
                }
                Output::Work { id, job } => {
                    // Inline: the world is one thread on virtual time, so heavy work takes
                    // no simulated time and the run stays deterministic.
                    let result = job.run(&AtomicBool::new(false));
                    let mut gw = self.gateway.borrow_mut();
                    slot.session.handle_work_done(id, result, &mut gw, now);
                }
                Output::Submit { txn, files } => {
                    let mut gw = self.gateway.borrow_mut();
                    for SubmittedFile { md5, name, .. } in files {
                        let upload = gw.claim_upload(md5, now) == UploadDecision::Upload;
                        self.trace.record(
                            now,
                            "smtp_proxy",
                            Record::Submission {
                                conn,
                                txn,
                                md5: md5.to_hex(),
                                name: name.clone(),
                                upload,
                            },
                        );
                        if upload {
                            self.peers.datacenter_link.send(
                                &self.peers.datacenter.clone().recipient(),
                                Upload {
                                    md5,
                                    name,
                                    reply_to: ctx.address().recipient(),
                                },
                            );
                        }
                    }
                }
                Output::Event(e) => self.record_event(conn, e, now),
            }
        }
        self.arm(conn, ctx);
        if self
            .sessions
            .get(&conn)
            .is_some_and(|s| s.session.is_finished())
        {
            self.sessions.remove(&conn);
        }
    }

    fn record_event(&mut self, conn: ConnId, e: Event, now: Timestamp) {
        let record = match e {
            Event::ClientCommand(line) => Record::SmtpCommand {
                conn,
                side: Side::Client,
                line,
            },
            Event::ClientReply(r) => Record::SmtpReply {
                conn,
                side: Side::Client,
                code: r.code,
                text: r.text(),
            },
            Event::UpstreamCommand(line) => Record::SmtpCommand {
                conn,
                side: Side::Upstream,
                line,
            },
            Event::UpstreamReply(r) => Record::SmtpReply {
                conn,
                side: Side::Upstream,
                code: r.code,
                text: r.text(),
            },
            Event::HoldStarted { txn } => Record::HoldStart { conn, txn },
            Event::Decided { txn, outcome } => {
                let msg = self
                    .sessions
                    .get(&conn)
                    .map(|s| s.msg.clone())
                    .unwrap_or_default();
                let decision = match &outcome.decision {
                    Decision::Deliver => "deliver",
                    Decision::DeliverRewritten(_) => "deliver_rewritten",
                    Decision::Quarantine => "quarantine",
                    Decision::Reject(_) => "reject",
                    Decision::Tempfail(_) => "tempfail",
                };
                Record::Decision {
                    conn,
                    txn,
                    msg,
                    action: outcome.action.to_string(),
                    decision: decision.to_owned(),
                    held_ms: None,
                    released: outcome.released,
                    fail_open: outcome.fail_open,
                    files: outcome
                        .files
                        .iter()
                        .map(|f| FileRecord {
                            name: f.name.clone(),
                            md5: f.md5.to_hex(),
                            level: f.level.to_string(),
                            action: f.action.to_string(),
                            source: source_name(f.source),
                        })
                        .collect(),
                }
            }
            Event::BodySent { .. } => return,
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
                level: level.to_string(),
                window_ms: window.as_millis() as u64,
            },
            Event::Transaction(_) => return,
        };
        self.trace.record(now, "smtp_proxy", record);
    }

    /// Keeps one timer per session at its earliest deadline.
    fn arm(&mut self, conn: ConnId, ctx: &mut Context<Self>) {
        let Some(slot) = self.sessions.get_mut(&conn) else {
            return;
        };
        if let Some(due) = slot.armed.rearm(slot.session.poll_timeout()) {
            let to = ctx.address().recipient();
            crate::timer::after(self.clock.until(due), to, SessionTimer { conn, due });
        }
    }

    /// Runs `f` on every session (verdict fan-out).
    fn broadcast(
        &mut self,
        ctx: &mut Context<Self>,
        f: impl Fn(&mut ProxySession, &mut Gateway, Timestamp),
    ) {
        let conns: Vec<ConnId> = self.sessions.keys().copied().collect();
        for conn in conns {
            self.with_session(conn, ctx, &f);
        }
    }
}

fn source_name(s: aptsim_core::inspect::Source) -> String {
    use aptsim_core::inspect::Source;
    match s {
        Source::Cache => "cache",
        Source::Analysis => "analysis",
        Source::Unscannable => "unscannable",
        Source::Unreachable => "unreachable",
        Source::Slow => "slow",
        Source::Released => "released",
    }
    .to_owned()
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
                let now = self.clock.now();
                self.peers
                    .client_link
                    .send(&reply_to, Wire::Accepted { conn });
                let session = {
                    let gw = self.gateway.borrow();
                    ProxySession::new(self.config.clone(), site, &gw, now)
                };
                self.sessions.insert(
                    conn,
                    Slot {
                        session,
                        client: Some(reply_to),
                        upstream: None,
                        msg: String::new(),
                        armed: crate::timer::Armed::default(),
                    },
                );
                self.flush(conn, ctx);
            }
            Wire::Bytes { conn, bytes } => {
                if let Some(client) = self.upstream_of.get(&conn).copied() {
                    self.with_session(client, ctx, |s, gw, now| {
                        s.handle_upstream_bytes(&bytes, gw, now)
                    });
                } else {
                    if let Some(slot) = self.sessions.get_mut(&conn) {
                        let id = message_id(&bytes);
                        if id != "?" {
                            slot.msg = id;
                        }
                    }
                    self.with_session(conn, ctx, |s, gw, now| {
                        s.handle_client_bytes(&bytes, gw, now)
                    });
                }
            }
            Wire::Accepted { conn } => {
                if let Some(client) = self.upstream_of.get(&conn).copied() {
                    self.with_session(client, ctx, |s, gw, now| {
                        s.handle_upstream_connected(gw, now)
                    });
                }
            }
            Wire::Refused { conn } => {
                if let Some(client) = self.upstream_of.remove(&conn) {
                    self.with_session(client, ctx, |s, gw, now| {
                        s.handle_upstream_connect_failed(gw, now)
                    });
                }
            }
            Wire::Closed { conn } => {
                if let Some(client) = self.upstream_of.remove(&conn) {
                    if let Some(slot) = self.sessions.get_mut(&client) {
                        slot.upstream = None;
                    }
                    self.with_session(client, ctx, |s, gw, now| s.handle_upstream_closed(gw, now));
                } else {
                    if let Some(slot) = self.sessions.get_mut(&conn) {
                        slot.client = None;
                    }
                    self.with_session(conn, ctx, |s, gw, now| s.handle_client_closed(gw, now));
                }
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
            .sessions
            .get_mut(&t.conn)
            .is_some_and(|slot| slot.armed.fire(t.due))
        {
            return;
        }
        self.with_session(t.conn, ctx, |s, gw, now| s.handle_timeout(gw, now));
    }
}

impl Handler<DcAnswer> for SmtpProxy {
    type Result = ();

    fn handle(&mut self, answer: DcAnswer, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        match answer {
            DcAnswer::Verdict { md5, verdict } => {
                self.gateway.borrow_mut().record_verdict(md5, &verdict, now);
                self.trace
                    .record(now, "smtp_proxy", Record::CacheStored { md5: md5.to_hex() });
                self.broadcast(ctx, |s, gw, now| {
                    s.handle_verdict(&md5, &verdict, gw, now);
                });
            }
            DcAnswer::Unreachable { md5 } => {
                self.gateway.borrow_mut().record_failure(&md5);
                self.broadcast(ctx, |s, gw, now| s.handle_unreachable(&md5, gw, now));
            }
        }
    }
}
