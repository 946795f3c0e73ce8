//! The live SMTP proxy: the gateway [`Node`] on tokio TCP sockets.
//!
//! One coordinator (this module's [`serve`]) owns the node — every session, the gateway and
//! its cache — the data center ([`Sandbox`]: built in, or over HTTP) and the jobs out on the
//! worker threads. Socket tasks own nothing but their socket; each reports what it reads to
//! the coordinator over one bounded channel and writes what the coordinator sends it over its
//! own unbounded one. See the module doc of [`super`] for why.
//!
//! The coordinator does what the node asks and nothing more: it moves bytes, opens and closes
//! connections, hands jobs to the workers (under a time budget) and uploads to the data
//! center, logs the node's events, and sleeps until the earliest of the node's deadline, the
//! data center's next finished analysis and the next job budget to run out. Its loop waits
//! (`select!` with `biased;`) on a socket event, a finished job, a remote data center's
//! answer, a new connection, or that deadline; after each it hands the data center's answers
//! to the node.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use aptsim_core::clock::{Timestamp, WallClock};
use aptsim_core::gateway::Gateway;
use aptsim_core::imap::proxy::ImapConfig;
use aptsim_core::node::{ConnId, Node, NodeOutput, UpstreamId};
use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::{Event, ProxyConfig};
use aptsim_core::work::{WorkFailed, WorkId};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::control::{Control, Draining};
use super::ops::Ops;
use super::redis_cache::{RedisConfig, SharedCache};

// Reload and shutdown, in their own file; a child module, as they reach into the
// coordinator's state.
#[path = "read_ahead.rs"]
mod read_ahead;
#[path = "smtp_control.rs"]
mod smtp_control;
use super::log::{Log, secs};
use super::sandbox::{self, Sandbox};
use super::sockets::{Accepted, accept_loop, counted, socket_loop, upstream_task};
pub(crate) use super::sockets::{Cmd, Msg, Peer, SockEvent};
use super::workers::{Finished, Task, Workers};
use aptsim_peers::datacenter::{Basis, DcAnswer};

/// Jobs on messages up to this size run on the coordinator itself
/// ([`Node::with_inline_work_up_to`]): at a fraction of a microsecond per byte, well under a
/// millisecond, less than two thread wake-ups to a worker and back.
pub const INLINE_JOB_BYTES: usize = 64 * 1024;

/// What archives in such a message may inflate to on the coordinator (a few milliseconds of
/// inflating at most); one that goes further is extracted again on a worker.
pub const INLINE_ARCHIVE_BYTES: u64 = 1 << 20;

/// The farthest the coordinator sleeps at once.
const FAR: Duration = Duration::from_secs(30 * 86_400);

/// Bytes read from a socket at a time.
pub(crate) const READ_CHUNK: usize = 16 * 1024;

/// Socket events queued for the coordinator before readers wait (backpressure): at most
/// this many chunks of [`READ_CHUNK`] bytes.
const INBOX: usize = 256;

/// What the live SMTP proxy needs to run.
#[derive(Debug)]
pub struct SmtpLive {
    /// The upstream servers, `host:port`, tried in order for each connection.
    pub upstream: Vec<String>,
    /// How long each upstream address is given to accept a connection.
    pub connect_timeout: Duration,
    /// The gateway's policy.
    pub policy: Arc<Policy>,
    /// The sessions' limits and timeouts.
    pub config: Arc<ProxyConfig>,
    /// The data center: built in, or an HTTP one in another process.
    pub datacenter: Sandbox,
    /// Where log lines go.
    pub log: Log,
    /// Worker threads for extraction and rewriting ([`Workers::default_threads`]).
    pub worker_threads: usize,
    /// How long one message's extraction or rewriting may take before it is cancelled and
    /// the message is treated as unscannable as a whole.
    pub work_budget: Duration,
    /// Metrics and the quarantine store (`super::ops`).
    pub ops: Ops,
    /// A verdict cache shared with other gateways (`--cache redis://…`); `None`: in memory.
    pub shared_cache: Option<RedisConfig>,
    /// The IMAP servers, `host:port`, tried in order, for clients of the IMAP listeners.
    pub imap_upstream: Vec<String>,
    /// The IMAP sessions' limits and timers.
    pub imap_config: Arc<ImapConfig>,
}

/// Which proxy a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The SMTP proxy.
    Smtp,
    /// The IMAP proxy.
    Imap,
}

/// A client connection's socket task and address.
struct Client {
    ip: IpAddr,
    protocol: Protocol,
    socket: Option<mpsc::UnboundedSender<Cmd>>,
}

struct Coordinator {
    node: Node,
    upstream_addrs: Arc<[String]>,
    imap_upstream_addrs: Arc<[String]>,
    connect_timeout: Duration,
    /// A shutdown under way.
    draining: Option<Draining>,
    /// The tasks accepting connections, one per listening address; aborted on shutdown.
    acceptors: Vec<tokio::task::JoinHandle<()>>,
    /// Socket tasks alive (a shutdown waits for them to flush and close).
    open_sockets: Arc<std::sync::atomic::AtomicUsize>,
    dc: Sandbox,
    log: Log,
    start: Instant,
    inbox: mpsc::Sender<Msg>,
    clients: BTreeMap<ConnId, Client>,
    /// Clients whose sockets are not read for now (`read_ahead.rs`).
    paused: BTreeSet<ConnId>,
    upstreams: BTreeMap<UpstreamId, mpsc::UnboundedSender<Cmd>>,
    next_conn: ConnId,
    /// The worker threads for sessions' heavy work.
    workers: Workers,
    /// Jobs out on the workers, by (session, job): their deadline and cancel flag.
    jobs: BTreeMap<(ConnId, WorkId), (Timestamp, Arc<AtomicBool>)>,
    /// How long one job may take before it is cancelled.
    work_budget: Duration,
    ops: Ops,
    /// The verdict cache shared through Redis, polled for other gateways' verdicts.
    shared: Option<SharedCache>,
}

/// Runs the proxy on `listeners` (each for the SMTP or the IMAP proxy; both share one
/// gateway and its cache, X6) until a [`Control::Shutdown`] has drained it. Errors of one
/// connection end that connection; accept errors (out of file descriptors) are logged and
/// retried.
pub async fn serve(
    listeners: Vec<(TcpListener, Protocol)>,
    live: SmtpLive,
    mut control: mpsc::UnboundedReceiver<Control>,
) -> std::io::Result<()> {
    let (inbox, mut events) = mpsc::channel(INBOX);
    let (accepted_tx, mut accepted) = mpsc::channel(64);
    let acceptors = listeners
        .into_iter()
        .map(|(l, protocol)| tokio::spawn(accept_loop(l, protocol, accepted_tx.clone())))
        .collect();
    let (finished, mut done) = mpsc::unbounded_channel();
    let workers = Workers::start(live.worker_threads, finished)?;
    let mut gw = Gateway::new(live.policy);
    // The built-in data center judges files by their bytes, so submissions carry them.
    gw.submit_bytes = true;
    // Dates in relayed mail (Received:) and in the log count from the same start.
    let wall_start = SystemTime::now();
    gw.wall_clock = WallClock::starting_at(wall_start);
    let mut c = Coordinator {
        node: Node::new(gw, live.config)
            .with_inline_work_up_to(INLINE_JOB_BYTES, INLINE_ARCHIVE_BYTES),
        upstream_addrs: Arc::from(live.upstream),
        imap_upstream_addrs: Arc::from(live.imap_upstream),
        connect_timeout: live.connect_timeout,
        draining: None,
        acceptors,
        open_sockets: Arc::default(),
        dc: live.datacenter,
        log: Log {
            wall_start,
            ..live.log
        },
        start: Instant::now(),
        inbox,
        clients: BTreeMap::new(),
        paused: BTreeSet::new(),
        upstreams: BTreeMap::new(),
        next_conn: 1,
        workers,
        jobs: BTreeMap::new(),
        work_budget: live.work_budget,
        ops: live.ops,
        shared: None,
    };
    c.node.set_imap_config(live.imap_config);
    c.shared = (live.shared_cache)
        .map(|cfg| SharedCache::attach(c.node.gateway_mut(), cfg, &c.log, c.start.into_std()));
    let mut remote_answers = c.dc.take_answers();
    loop {
        let deadline = c.next_deadline().map(|t| c.instant(t));
        let sleep = async move {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            Some(ctl) = control.recv() => c.on_control(ctl),
            Some(msg) = events.recv() => c.on_socket(msg),
            Some(f) = done.recv() => c.on_finished(f),
            answer = sandbox::next_answer(&mut remote_answers) => c.dc.deliver(answer),
            Some(a) = accepted.recv() => match a {
                Accepted::Conn(stream, ip, protocol) if c.draining.is_none() => {
                    c.on_accept(stream, ip, protocol)
                }
                // Accepted just before the listeners stopped: dropping it refuses it.
                Accepted::Conn(..) => {}
                Accepted::Error(e) => c.log.always(c.now(), "error", &format!("accept: {e}")),
            },
            () = sleep => c.on_timers(),
        }
        c.drain_datacenter();
        c.resume_readers();
        if c.drained() {
            return Ok(());
        }
    }
}

impl Coordinator {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// The `Instant` of a deadline. A far one (a saturated "never") is capped at 30 days
    /// from now, which `Instant` can hold; waking up early for it does nothing.
    fn instant(&self, t: Timestamp) -> Instant {
        let far = self.start.elapsed().saturating_add(FAR);
        self.start + Duration::from_millis(t.as_millis()).min(far)
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        let jobs = self.jobs.values().map(|(t, _)| *t).min();
        // While draining, look again soon: socket tasks end without telling the loop.
        let grace = self
            .draining
            .map(|d| d.until.min(self.now() + Duration::from_millis(20)));
        let redis = self.shared.as_ref().and_then(SharedCache::poll_timeout);
        [
            self.node.poll_timeout(),
            jobs,
            self.dc.poll_timeout(),
            grace,
            redis,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs `f` on the node, then carries out everything it asks.
    fn with_node(&mut self, f: impl FnOnce(&mut Node, Timestamp)) {
        let now = self.now();
        f(&mut self.node, now);
        while let Some(out) = self.node.poll_output() {
            self.carry_out(out, now);
        }
    }

    fn on_accept(&mut self, stream: TcpStream, ip: IpAddr, protocol: Protocol) {
        let conn = self.next_conn;
        self.next_conn += 1;
        let _ = stream.set_nodelay(true);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(counted(
            self.open_sockets.clone(),
            socket_loop(stream, rx, self.inbox.clone(), Peer::Client(conn)),
        ));
        self.log.info(
            self.now(),
            "conn",
            &format!("conn={conn} client={ip} connected"),
        );
        self.clients.insert(
            conn,
            Client {
                ip,
                protocol,
                socket: Some(tx),
            },
        );
        match protocol {
            Protocol::Smtp => self.with_node(|n, now| n.accept(conn, ip.to_string(), now)),
            Protocol::Imap => self.with_node(|n, now| n.accept_imap(conn, ip.to_string(), now)),
        }
    }

    fn on_socket(&mut self, msg: Msg) {
        let now = self.now();
        match (msg.peer, msg.event) {
            (Peer::Client(conn), SockEvent::Bytes(bytes)) => {
                self.with_node(|n, now| n.handle_client_bytes(conn, &bytes, now));
                self.pause_if_ahead(conn);
            }
            (Peer::Client(conn), SockEvent::Eof) => {
                if self.log.verbose {
                    let text = format!("conn={conn} client sent end of stream");
                    self.log.always(now, "conn", &text);
                }
                self.with_node(|n, now| n.handle_client_eof(conn, now));
            }
            (Peer::Client(conn), SockEvent::Closed(why)) => {
                if let Some(client) = self.clients.get_mut(&conn) {
                    client.socket = None;
                }
                if let Some(why) = why {
                    self.log
                        .info(now, "conn", &format!("conn={conn} client lost: {why}"));
                }
                self.with_node(|n, now| n.handle_client_closed(conn, now));
            }
            (Peer::Client(_), SockEvent::Connected | SockEvent::ConnectFailed(_)) => {}
            (Peer::Upstream(up), SockEvent::Connected) => {
                self.with_node(|n, now| n.handle_upstream_connected(up, now))
            }
            (Peer::Upstream(up), SockEvent::ConnectFailed(why)) => {
                if self.upstreams.remove(&up).is_none() {
                    // A connection the session has already given up.
                    return;
                }
                self.log.info(
                    now,
                    "upstream",
                    &format!("upstream={up} cannot connect: {why}"),
                );
                self.with_node(|n, now| n.handle_upstream_connect_failed(up, now));
            }
            (Peer::Upstream(up), SockEvent::Bytes(bytes)) => {
                self.with_node(|n, now| n.handle_upstream_bytes(up, &bytes, now))
            }
            (Peer::Upstream(up), SockEvent::Eof) => {
                // A server that stops sending is done with the connection: the socket is
                // closed from this side too.
                if let Some(socket) = self.upstreams.get(&up) {
                    let _ = socket.send(Cmd::Close);
                }
                self.on_socket(Msg {
                    peer: Peer::Upstream(up),
                    event: SockEvent::Closed(None),
                    _credit: None,
                });
            }
            (Peer::Upstream(up), SockEvent::Closed(why)) => {
                if self.upstreams.remove(&up).is_none() {
                    return;
                }
                match why {
                    Some(why) => {
                        self.log
                            .info(now, "upstream", &format!("upstream={up} lost: {why}"))
                    }
                    None if self.log.verbose => self.log.always(
                        now,
                        "upstream",
                        &format!("upstream={up} closed the connection"),
                    ),
                    None => {}
                }
                self.with_node(|n, now| n.handle_upstream_closed(up, now));
            }
        }
    }

    /// A job came back from the workers: to its session, unless its budget ran out first
    /// (the session was told then) or the session is gone.
    fn on_finished(&mut self, f: Finished) {
        if self.jobs.remove(&(f.conn, f.id)).is_none() {
            return;
        }
        if let Err(e) = &f.result {
            let text = format!(
                "conn={} job {} failed: {e}; the message fails closed",
                f.conn, f.id
            );
            self.log.always(self.now(), "warning", &text);
        }
        self.with_node(|n, now| n.handle_work_done(f.conn, f.id, f.result, now));
    }

    /// Every deadline that has passed: finished analyses, jobs over their budget, then the
    /// sessions' deadlines.
    fn on_timers(&mut self) {
        let now = self.now();
        self.dc.handle_timeout(now);
        let late: Vec<(ConnId, WorkId)> = self
            .jobs
            .iter()
            .filter(|(_, (due, _))| *due <= now)
            .map(|(key, _)| *key)
            .collect();
        for (conn, id) in late {
            if let Some((_, cancel)) = self.jobs.remove(&(conn, id)) {
                cancel.store(true, Ordering::Relaxed);
            }
            let text = format!(
                "conn={conn} job {id} over its {} budget: cancelled; the message fails closed",
                secs(self.work_budget)
            );
            self.log.always(now, "warning", &text);
            self.with_node(|n, now| n.handle_work_done(conn, id, Err(WorkFailed::TimedOut), now));
        }
        self.with_node(|n, now| n.handle_timeout(now));
        // Verdicts other gateways stored on files this one waits for (`--cache redis://`).
        for learned in (self.shared.as_ref()).map_or_else(Vec::new, |s| s.handle_timeout(now)) {
            self.with_node(|n, now| learned.apply(n, now));
        }
        self.end_grace(now);
    }

    /// True while the client's socket can still take bytes.
    fn client_open(&self, conn: ConnId) -> bool {
        self.clients.get(&conn).is_some_and(|c| c.socket.is_some())
    }

    /// Carries out one thing the node asks.
    fn carry_out(&mut self, out: NodeOutput, now: Timestamp) {
        let clients = &self.clients;
        let client = |conn| clients.get(&conn).map(|c| c.ip);
        self.ops.carry_out(&out, &self.node, &self.log, now, client);
        match out {
            NodeOutput::ToClient { conn, bytes } => {
                if let Some(socket) = self.clients.get(&conn).and_then(|c| c.socket.as_ref()) {
                    let _ = socket.send(Cmd::Write(bytes));
                }
            }
            NodeOutput::ToUpstream { up, bytes } => {
                if let Some(socket) = self.upstreams.get(&up) {
                    let _ = socket.send(Cmd::Write(bytes));
                }
            }
            NodeOutput::Connect { conn, up } => {
                let (tx, rx) = mpsc::unbounded_channel();
                self.upstreams.insert(up, tx);
                let imap = self
                    .clients
                    .get(&conn)
                    .is_some_and(|c| c.protocol == Protocol::Imap);
                let addrs = if imap {
                    self.imap_upstream_addrs.clone()
                } else {
                    self.upstream_addrs.clone()
                };
                tokio::spawn(counted(
                    self.open_sockets.clone(),
                    upstream_task(addrs, self.connect_timeout, rx, self.inbox.clone(), up),
                ));
            }
            NodeOutput::CloseUpstream { up } => {
                if let Some(socket) = self.upstreams.remove(&up) {
                    let _ = socket.send(Cmd::Close);
                }
            }
            NodeOutput::CloseClient { conn } => {
                if let Some(socket) = self.clients.get_mut(&conn).and_then(|c| c.socket.take()) {
                    let _ = socket.send(Cmd::Close);
                }
            }
            NodeOutput::Submitted {
                conn,
                txn,
                md5,
                name,
                upload,
            } => {
                let what = if upload {
                    "upload"
                } else {
                    "already in flight, waits (X1)"
                };
                let text = format!(
                    "conn={conn} txn={txn} md5={} name=\"{}\" {what}",
                    md5.to_hex(),
                    super::log::escape(&name)
                );
                self.log.info(now, "submit", &text);
            }
            NodeOutput::Upload { md5, name, bytes } => self.dc.upload(md5, &name, bytes, now),
            NodeOutput::Work { conn, id, job } => {
                let cancel = Arc::new(AtomicBool::new(false));
                self.jobs
                    .insert((conn, id), (now + self.work_budget, cancel.clone()));
                self.workers.submit(Task {
                    conn,
                    id,
                    job,
                    cancel,
                });
            }
            NodeOutput::VerdictRecorded { .. } | NodeOutput::Deadline { .. } => {}
            NodeOutput::ImapEvent { conn, event } => {
                let ip = self
                    .clients
                    .get(&conn)
                    .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.ip);
                self.log.imap(now, conn, ip, &event);
            }
            NodeOutput::Event { conn, event } => {
                let ip = self
                    .clients
                    .get(&conn)
                    .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.ip);
                match &event {
                    // The log says what was sent: a reply to a client whose socket is
                    // already gone never went out.
                    Event::Transaction(t) if t.reply.is_some() && !self.client_open(conn) => {
                        let mut t = t.clone();
                        t.reply = None;
                        self.log.txn(now, conn, ip, &t);
                    }
                    Event::Transaction(t) => self.log.txn(now, conn, ip, t),
                    _ => self.log.event(now, conn, &event),
                }
            }
            NodeOutput::Finished { conn } => {
                // Dropping its socket's sender ends the task, after what it was sent.
                self.clients.remove(&conn);
                self.log
                    .info(now, "conn", &format!("conn={conn} session finished"));
            }
        }
    }

    /// Hands the data center's answers to the gateway and every session.
    fn drain_datacenter(&mut self) {
        while let Some(answer) = self.dc.poll_answer() {
            let now = self.now();
            self.ops.datacenter(&answer);
            match answer {
                DcAnswer::Verdict {
                    md5,
                    verdict,
                    basis,
                    analysed,
                } => {
                    let threat = verdict.threat.as_deref().unwrap_or("-");
                    let text = format!(
                        "md5={} level={} score={} threat={threat} basis={}{}",
                        md5.to_hex(),
                        verdict.level,
                        verdict.score,
                        basis.as_str(),
                        if analysed.is_none() {
                            " (known, answered at once)"
                        } else {
                            ""
                        }
                    );
                    if basis == Basis::Unseen {
                        self.log.always(
                            now,
                            "warning",
                            &format!("data center never saw the bytes of this file: {text}"),
                        );
                    } else {
                        self.log.info(now, "verdict", &text);
                    }
                    self.with_node(|n, now| n.handle_verdict(md5, &verdict, now));
                }
                DcAnswer::Unreachable { md5, .. } => {
                    let text = format!(
                        "md5={} data center unreachable ({})",
                        md5.to_hex(),
                        self.dc.unreachable_reason()
                    );
                    self.log.info(now, "verdict", &text);
                    self.with_node(|n, now| n.handle_unreachable(md5, now));
                }
            }
        }
    }
}
