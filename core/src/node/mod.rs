//! The gateway node: every proxy session of one gateway and what they share, sans-IO.
//!
//! A transport — the simulator's proxy actor on simulated links, the live proxy on tokio
//! sockets — only moves bytes, opens and closes connections, runs jobs and arms a timer.
//! Everything else is here, written once: the sessions by connection id and the upstream
//! connections they open, the [`Gateway`] (verdict cache, in-flight table and X1, blocked
//! sites, usage counts), the X1 decision for each file a session submits, the hand-out of a
//! data-center answer to the sessions that have the file, and the sessions' deadlines as one
//! table. The model
//! is quinn-proto's `Endpoint`, which owns the routing between its connections so that its
//! runtime crate only moves datagrams.
//!
//! # Driving it
//! Feed inputs with the `accept` and `handle_*` methods, passing `now`; after each, drain
//! [`Node::poll_output`] until `None` and carry the outputs out: bytes to a client or an
//! upstream connection, connecting or closing one, an upload to the data center, a job to
//! run (its result goes to [`Node::handle_work_done`]), an event to trace or log. Then
//! arm a timer for [`Node::poll_timeout`] and call [`Node::handle_timeout`] when it fires.
//! A data center's answers go to [`Node::handle_verdict`] and [`Node::handle_unreachable`]:
//! the node records a verdict in the cache first, then hands it to every session that has
//! the file (`watchers.rs`).
//!
//! A transport that keeps one timer per session instead (the simulator's actor does, so that
//! sessions due at the same instant keep the order they always had) arms each at the time
//! of the session's [`NodeOutput::Deadline`] and calls [`Node::handle_session_timeout`].

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::conn_map::ConnMap;
use crate::digest::Md5;
use crate::gateway::{Gateway, UploadDecision};
use crate::imap::proxy::{ImapConfig, ImapEvent, ImapSession};
use crate::inspect::SubmittedFile;
use crate::smtp::proxy::{Drained, Event, ProxyConfig, ProxySession};
use crate::verdict::Verdict;
use crate::work::{Done, Job, WorkFailed, WorkId};

mod any_session;
mod entry;
mod read_ahead;
mod watchers;

use crate::session_output::Output;
use any_session::{AnyEvent, AnySession};
use entry::Entry;
use watchers::Watchers;

/// A client connection, numbered by the transport.
pub type ConnId = u64;

/// An upstream connection, numbered by the node (from [`Node::with_first_upstream`]).
pub type UpstreamId = u64;

/// What the node asks its transport to do, or tells it happened.
#[derive(Debug)]
pub enum NodeOutput {
    /// Send to a client.
    ToClient {
        /// The client connection.
        conn: ConnId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Send on an upstream connection.
    ToUpstream {
        /// The upstream connection.
        up: UpstreamId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Open upstream connection `up` for client `conn`; answer with
    /// [`Node::handle_upstream_connected`] or [`Node::handle_upstream_connect_failed`].
    Connect {
        /// The client it is for.
        conn: ConnId,
        /// Its id.
        up: UpstreamId,
    },
    /// Close an upstream connection (nothing more comes from it that the node wants).
    CloseUpstream {
        /// The connection.
        up: UpstreamId,
    },
    /// Close a client connection, after the bytes already sent to it.
    CloseClient {
        /// The connection.
        conn: ConnId,
    },
    /// A file a session submitted, and what X1 made of it: uploaded, or waiting for the
    /// analysis of the same file already under way.
    Submitted {
        /// The session.
        conn: ConnId,
        /// Its transaction.
        txn: u64,
        /// The file.
        md5: Md5,
        /// Its name.
        name: String,
        /// True when it goes to the data center ([`NodeOutput::Upload`] follows).
        upload: bool,
    },
    /// Upload a file to the data center; its answer goes to [`Node::handle_verdict`] or
    /// [`Node::handle_unreachable`].
    Upload {
        /// The file.
        md5: Md5,
        /// Its name.
        name: String,
        /// Its bytes, when the gateway keeps them (`Gateway::submit_bytes`).
        bytes: Option<Vec<u8>>,
    },
    /// Run a job and hand its result to [`Node::handle_work_done`]. Only for jobs the node
    /// does not run itself ([`Node::with_inline_work`], [`Node::with_inline_work_up_to`]).
    Work {
        /// The session.
        conn: ConnId,
        /// The job's id within the session.
        id: WorkId,
        /// What to do (boxed, as in the session's output).
        job: Box<Job>,
    },
    /// A verdict went into the gateway's cache, before any session hears of it.
    VerdictRecorded {
        /// The file.
        md5: Md5,
    },
    /// Something an SMTP session observed, for the trace or the log.
    Event {
        /// The session.
        conn: ConnId,
        /// What happened.
        event: Event,
    },
    /// Something an IMAP session observed, for the trace or the log.
    ImapEvent {
        /// The session.
        conn: ConnId,
        /// What happened.
        event: ImapEvent,
    },
    /// A session's next deadline changed (for a transport that keeps a timer per session).
    Deadline {
        /// The session.
        conn: ConnId,
        /// When its `handle_session_timeout` is due, if ever.
        at: Option<Timestamp>,
    },
    /// A session ended: both its connections are closed and no analysis is left to follow.
    Finished {
        /// The session.
        conn: ConnId,
    },
}

// Every output is moved several times on its way to the transport, at the size of the
// largest variant: what is big (a job, a transaction's log) is boxed to keep them all small.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<NodeOutput>() <= 72);

/// The gateway node. See the module doc for the calling order.
#[derive(Debug)]
pub struct Node {
    gw: Gateway,
    config: Arc<ProxyConfig>,
    imap_config: Arc<ImapConfig>,
    sessions: ConnMap<Entry>,
    /// Upstream connection → its session.
    session_of: ConnMap<ConnId>,
    /// (deadline, session), one entry per session with a deadline.
    timers: BTreeSet<(Timestamp, ConnId)>,
    /// The sessions each verdict is for.
    watchers: Watchers,
    /// Room to collect a session's files in, kept between turns.
    files: Vec<Md5>,
    next_upstream: UpstreamId,
    /// Jobs on messages up to this many bytes are run on the spot; larger ones are handed
    /// out. `usize::MAX`: all (the simulator); 0: none.
    inline_up_to: usize,
    /// Archive bytes an on-the-spot job may inflate in all; a job that reaches it is handed
    /// out after all (`None`: no cap, the simulator's).
    inline_archive_cap: Option<u64>,
    out: VecDeque<NodeOutput>,
}

impl Node {
    /// A node around `gw`, whose sessions have the limits of `config`. It runs jobs itself
    /// and numbers upstream connections from 1 unless told otherwise.
    pub fn new(gw: Gateway, config: Arc<ProxyConfig>) -> Self {
        Node {
            gw,
            config,
            imap_config: Arc::new(ImapConfig::default()),
            sessions: ConnMap::new(),
            session_of: ConnMap::new(),
            timers: BTreeSet::new(),
            watchers: Watchers::default(),
            files: Vec::new(),
            next_upstream: 1,
            inline_up_to: usize::MAX,
            inline_archive_cap: None,
            out: VecDeque::new(),
        }
    }

    /// Numbers upstream connections from `first` (the simulator keeps them apart from the
    /// senders' connection ids).
    pub fn with_first_upstream(mut self, first: UpstreamId) -> Self {
        self.next_upstream = first;
        self
    }

    /// Runs jobs where they are asked for (`true`, the default: deterministic, as the
    /// simulator needs), or hands them out as [`NodeOutput::Work`] (`false`: the live proxy
    /// runs them on worker threads).
    pub fn with_inline_work(mut self, inline: bool) -> Self {
        self.inline_up_to = if inline { usize::MAX } else { 0 };
        self.inline_archive_cap = None;
        self
    }

    /// Runs the jobs of messages up to `bytes` on the spot and hands out the rest: a small
    /// message's work (linear in its size, under the extraction's work budget) costs less
    /// than the hand-over to a worker thread and back, while a large one would hold up every
    /// other session (the live proxy).
    ///
    /// A small message may still hold an archive that inflates to megabytes: on the spot,
    /// archives may inflate to `archive_cap` bytes in all, and a job that reaches the cap is
    /// handed out to run uncapped.
    pub fn with_inline_work_up_to(mut self, bytes: usize, archive_cap: u64) -> Self {
        self.inline_up_to = bytes;
        self.inline_archive_cap = Some(archive_cap);
        self
    }

    /// The gateway the sessions share.
    pub fn gateway(&self) -> &Gateway {
        &self.gw
    }

    /// The gateway, to change it from outside (a fault that flushes the cache).
    pub fn gateway_mut(&mut self) -> &mut Gateway {
        &mut self.gw
    }

    /// The sessions' limits.
    pub fn config(&self) -> &Arc<ProxyConfig> {
        &self.config
    }

    /// New limits for sessions that connect from now on (a configuration reload); the
    /// sessions already open keep theirs.
    pub fn set_config(&mut self, config: Arc<ProxyConfig>) {
        self.config = config;
    }

    /// The IMAP sessions' limits and timers.
    pub fn imap_config(&self) -> &Arc<ImapConfig> {
        &self.imap_config
    }

    /// New limits for IMAP sessions that connect from now on.
    pub fn set_imap_config(&mut self, config: Arc<ImapConfig>) {
        self.imap_config = config;
    }

    /// A new policy for decisions from now on (a reload); inspections under way keep the
    /// policy they started with, and the verdict cache stays.
    pub fn set_policy(&mut self, policy: Arc<crate::policy::Policy>) {
        self.gw.policy = policy;
    }

    /// The gateway is shutting down: sessions with nothing in progress are answered
    /// `421 4.3.2` and closed, the others let finish — unless `force` (the grace period is
    /// over), which closes them all the same. Returns how many were closed now and how
    /// many are still busy.
    pub fn shut_down(&mut self, force: bool, now: Timestamp) -> (usize, usize) {
        let conns: Vec<ConnId> = self.sessions.keys();
        let (mut closed, mut busy) = (0, 0);
        for conn in conns {
            let mut drained = None;
            self.with_session(conn, now, |s, gw| {
                drained = Some(s.shut_down(force, gw, now))
            });
            match drained {
                Some(Drained::Idle) => closed += 1,
                Some(Drained::Busy) => busy += 1,
                Some(Drained::Gone) | None => {}
            }
        }
        (closed, busy)
    }

    /// Sessions alive now (client connected, or an analysis still followed).
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<NodeOutput> {
        self.out.pop_front()
    }

    /// An SMTP client connected from `site` (its address) as `conn`.
    pub fn accept(&mut self, conn: ConnId, site: impl Into<String>, now: Timestamp) {
        let session = ProxySession::new(self.config.clone(), site, &self.gw, now);
        self.sessions
            .insert(conn, Entry::new(AnySession::Smtp(Box::new(session))));
        self.flush(conn, now);
    }

    /// An IMAP client connected from `site` (its address) as `conn`.
    pub fn accept_imap(&mut self, conn: ConnId, site: impl Into<String>, now: Timestamp) {
        let session = ImapSession::new(self.imap_config.clone(), site, &self.gw, now);
        self.sessions
            .insert(conn, Entry::new(AnySession::Imap(Box::new(session))));
        self.flush(conn, now);
    }

    /// Bytes from a client.
    pub fn handle_client_bytes(&mut self, conn: ConnId, bytes: &[u8], now: Timestamp) {
        self.with_session(conn, now, |s, gw| s.handle_client_bytes(bytes, gw, now));
    }

    /// A client's end of stream (FIN): for SMTP a half-close or a departure, as
    /// [`ProxySession::handle_client_eof`] tells them apart; for IMAP a departure.
    pub fn handle_client_eof(&mut self, conn: ConnId, now: Timestamp) {
        self.with_session(conn, now, |s, gw| s.handle_client_eof(gw, now));
    }

    /// A client's connection broke (reset, a failed write) or is otherwise gone.
    pub fn handle_client_closed(&mut self, conn: ConnId, now: Timestamp) {
        self.with_session(conn, now, |s, gw| s.handle_client_closed(gw, now));
    }

    /// An upstream connection is open.
    pub fn handle_upstream_connected(&mut self, up: UpstreamId, now: Timestamp) {
        if let Some(conn) = self.session_of.get(&up).copied() {
            self.with_session(conn, now, |s, gw| s.handle_upstream_connected(gw, now));
        }
    }

    /// An upstream connection could not be opened.
    pub fn handle_upstream_connect_failed(&mut self, up: UpstreamId, now: Timestamp) {
        if let Some(conn) = self.forget_upstream(up) {
            self.with_session(conn, now, |s, gw| s.handle_upstream_connect_failed(gw, now));
        }
    }

    /// Bytes from an upstream connection.
    pub fn handle_upstream_bytes(&mut self, up: UpstreamId, bytes: &[u8], now: Timestamp) {
        if let Some(conn) = self.session_of.get(&up).copied() {
            self.with_session(conn, now, |s, gw| s.handle_upstream_bytes(bytes, gw, now));
        }
    }

    /// An upstream connection closed, or broke.
    pub fn handle_upstream_closed(&mut self, up: UpstreamId, now: Timestamp) {
        if let Some(conn) = self.forget_upstream(up) {
            self.with_session(conn, now, |s, gw| s.handle_upstream_closed(gw, now));
        }
    }

    /// A job's result ([`NodeOutput::Work`]).
    pub fn handle_work_done(
        &mut self,
        conn: ConnId,
        id: WorkId,
        result: Result<Done, WorkFailed>,
        now: Timestamp,
    ) {
        self.with_session(conn, now, |s, gw| s.handle_work_done(id, result, gw, now));
    }

    /// The data center's verdict on `md5`: into the cache, then to every session that has
    /// the file.
    pub fn handle_verdict(&mut self, md5: Md5, verdict: &Verdict, now: Timestamp) {
        self.gw.record_verdict(md5, verdict, now);
        self.out.push_back(NodeOutput::VerdictRecorded { md5 });
        for conn in self.watchers.of(&md5) {
            self.with_session(conn, now, |s, gw| {
                s.handle_verdict(&md5, verdict, gw, now);
            });
        }
    }

    /// The data center refused the upload of `md5` (S7): nothing is in flight for it now,
    /// and the outage policy of every session that has the file decides.
    pub fn handle_unreachable(&mut self, md5: Md5, now: Timestamp) {
        self.gw.record_failure(&md5);
        for conn in self.watchers.of(&md5) {
            self.with_session(conn, now, |s, gw| s.handle_unreachable(&md5, gw, now));
        }
    }

    /// When [`Node::handle_timeout`] is next due: the earliest deadline of any session.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Acts on every session deadline that has passed, in deadline order. A session whose
    /// deadline is still not later than `now` afterwards is re-armed a millisecond on, so
    /// that no session can make its transport spin.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let due: Vec<ConnId> = self
            .timers
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, c)| *c)
            .collect();
        for conn in due {
            self.disarm(conn);
            self.with_session_not_before(conn, now, now + Duration::from_millis(1), |s, gw| {
                s.handle_timeout(gw, now)
            });
        }
    }

    /// Acts on the deadlines of one session (for a transport with a timer per session).
    pub fn handle_session_timeout(&mut self, conn: ConnId, now: Timestamp) {
        self.with_session(conn, now, |s, gw| s.handle_timeout(gw, now));
    }

    // ---- internals ----

    fn with_session(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        f: impl FnOnce(&mut AnySession, &mut Gateway),
    ) {
        self.with_session_not_before(conn, now, now, f);
    }

    /// Runs `f` on a session, then carries out what it asks; its deadline goes into the
    /// table not before `earliest`.
    fn with_session_not_before(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        earliest: Timestamp,
        f: impl FnOnce(&mut AnySession, &mut Gateway),
    ) {
        let Some(entry) = self.sessions.get_mut(&conn) else {
            return;
        };
        f(&mut entry.session, &mut self.gw);
        self.flush_not_before(conn, now, earliest);
    }

    fn flush(&mut self, conn: ConnId, now: Timestamp) {
        self.flush_not_before(conn, now, now);
    }

    /// Turns a session's outputs into the node's, re-arms its deadline, brings its files up
    /// to date in the verdict index, and forgets it once it is finished. The session is
    /// looked up once: its outputs are carried out with the node's other fields borrowed
    /// beside it.
    fn flush_not_before(&mut self, conn: ConnId, now: Timestamp, earliest: Timestamp) {
        let Some(entry) = self.sessions.get_mut(&conn) else {
            return;
        };
        while let Some(output) = entry.session.poll_output() {
            match output {
                Output::ToClient(bytes) => self.out.push_back(NodeOutput::ToClient { conn, bytes }),
                Output::ToUpstream(bytes) => {
                    if let Some(up) = entry.upstream {
                        self.out.push_back(NodeOutput::ToUpstream { up, bytes });
                    }
                }
                Output::ConnectUpstream => {
                    let up = self.next_upstream;
                    self.next_upstream += 1;
                    if let Some(old) = entry.upstream.replace(up) {
                        // A session has one upstream at a time; the old one is given up.
                        self.session_of.remove(&old);
                    }
                    self.session_of.insert(up, conn);
                    self.out.push_back(NodeOutput::Connect { conn, up });
                }
                Output::CloseUpstream => {
                    if let Some(up) = entry.upstream.take() {
                        self.session_of.remove(&up);
                        self.out.push_back(NodeOutput::CloseUpstream { up });
                    }
                }
                Output::CloseClient => self.out.push_back(NodeOutput::CloseClient { conn }),
                Output::Submit { txn, files } => {
                    submit(&mut self.gw, &mut self.out, conn, txn, files, now)
                }
                Output::Work { id, job } if job.input_len() <= self.inline_up_to => {
                    // The job's own thread is this one: run it, and feed the result back
                    // before anything else happens, as if it took no time.
                    let result = match self.inline_archive_cap {
                        None => job.run(&AtomicBool::new(false)),
                        Some(cap) => {
                            let result = job.capped(cap).run(&AtomicBool::new(false));
                            if result.as_ref().is_ok_and(Done::hit_archive_cap) {
                                self.out.push_back(NodeOutput::Work { conn, id, job });
                                continue;
                            }
                            result
                        }
                    };
                    entry
                        .session
                        .handle_work_done(id, result, &mut self.gw, now);
                }
                Output::Work { id, job } => self.out.push_back(NodeOutput::Work { conn, id, job }),
                Output::Event(AnyEvent::Smtp(event)) => {
                    self.out.push_back(NodeOutput::Event { conn, event })
                }
                Output::Event(AnyEvent::Imap(event)) => {
                    self.out.push_back(NodeOutput::ImapEvent { conn, event })
                }
            }
        }
        // Its deadline.
        let next = entry.session.poll_timeout();
        let due = next.map(|t| t.max(earliest));
        if due != entry.armed {
            if let Some(t) = entry.armed.take() {
                self.timers.remove(&(t, conn));
            }
            if let Some(t) = due {
                self.timers.insert((t, conn));
                entry.armed = Some(t);
            }
        }
        self.out.push_back(NodeOutput::Deadline { conn, at: next });
        // Its files: sorted and compared with the index only when they changed since its
        // last turn, so that a message of many files pays no sort on every turn it is held.
        self.files.clear();
        entry.session.watched_files(&mut self.files);
        if self.files != entry.files_seen {
            entry.files_seen.clone_from(&self.files);
            self.files.sort_unstable();
            self.files.dedup();
            self.watchers.update(conn, &mut entry.watching, &self.files);
        }
        if entry.session.is_finished() {
            self.disarm(conn);
            if let Some(entry) = self.sessions.remove(&conn) {
                if let Some(up) = entry.upstream {
                    self.session_of.remove(&up);
                }
                self.watchers.forget(conn, &entry.watching);
            }
            self.out.push_back(NodeOutput::Finished { conn });
        }
    }

    fn disarm(&mut self, conn: ConnId) {
        if let Some(t) = self.sessions.get_mut(&conn).and_then(|e| e.armed.take()) {
            self.timers.remove(&(t, conn));
        }
    }

    /// Forgets an upstream connection that is gone; returns its session.
    fn forget_upstream(&mut self, up: UpstreamId) -> Option<ConnId> {
        let conn = self.session_of.remove(&up)?;
        if let Some(entry) = self.sessions.get_mut(&conn)
            && entry.upstream == Some(up)
        {
            entry.upstream = None;
        }
        Some(conn)
    }
}

/// X1: each file is uploaded, or waits for the analysis of the same file under way.
fn submit(
    gw: &mut Gateway,
    out: &mut VecDeque<NodeOutput>,
    conn: ConnId,
    txn: u64,
    files: Vec<SubmittedFile>,
    now: Timestamp,
) {
    for SubmittedFile { md5, name, bytes } in files {
        let upload = gw.claim_upload(md5, now) == UploadDecision::Upload;
        out.push_back(NodeOutput::Submitted {
            conn,
            txn,
            md5,
            name: name.clone(),
            upload,
        });
        if upload {
            out.push_back(NodeOutput::Upload { md5, name, bytes });
        }
    }
}
