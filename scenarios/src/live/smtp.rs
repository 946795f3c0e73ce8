//! The live SMTP proxy: core [`ProxySession`]s on tokio TCP sockets.
//!
//! One coordinator (this module's [`serve`]) owns everything with state: the [`Gateway`],
//! every session, every session's [`DataTap`], and the built-in [`DataCenter`]. Socket tasks
//! own nothing but their socket; each reports what it reads to the coordinator over one
//! bounded channel and writes what the coordinator sends it over its own unbounded one. See
//! the module doc of [`super`] for why.
//!
//! The coordinator's loop waits on three things (`select!` with `biased;`): a socket event,
//! a new connection, or the earliest deadline (the sessions' `poll_timeout`s and the data
//! center's next finished analysis, one `sleep_until`). After each it drains the data
//! center's answers: a verdict goes to [`Gateway::record_verdict`], then to every session's
//! `handle_verdict`; a refused upload to [`Gateway::record_failure`], then to every session's
//! `handle_unreachable`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use aptsim_core::clock::Timestamp;
use aptsim_core::gateway::{Gateway, UploadDecision};
use aptsim_core::inspect::SubmittedFile;
use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::{Event, Output, ProxyConfig, ProxySession};
use aptsim_core::work::{WorkFailed, WorkId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::datacenter::{Basis, DataCenter, DcAnswer};
use super::log::{Log, secs};
use super::workers::{Finished, Task, Workers};

/// Give up connecting to the upstream after this long (Postfix `smtp_connect_timeout`, 30 s).
/// The session's own upstream timeout starts only once the connection is open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The farthest the coordinator sleeps at once.
const FAR: Duration = Duration::from_secs(30 * 86_400);

/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Socket events queued for the coordinator before readers wait (backpressure): at most
/// this many chunks of [`READ_CHUNK`] bytes.
const INBOX: usize = 256;

/// What the live SMTP proxy needs to run.
#[derive(Debug)]
pub struct SmtpLive {
    /// The upstream server, `host:port`.
    pub upstream: String,
    /// The gateway's policy.
    pub policy: Arc<Policy>,
    /// The sessions' limits and timeouts.
    pub config: Arc<ProxyConfig>,
    /// The built-in data center.
    pub datacenter: DataCenter,
    /// Where log lines go.
    pub log: Log,
    /// Worker threads for extraction and rewriting ([`Workers::default_threads`]).
    pub worker_threads: usize,
    /// How long one message's extraction or rewriting may take before it is cancelled and
    /// the message is treated as unscannable as a whole.
    pub work_budget: Duration,
}

/// Which socket an event is from.
#[derive(Debug, Clone, Copy)]
enum Peer {
    Client(u64),
    Upstream(u64),
}

#[derive(Debug)]
enum SockEvent {
    /// The upstream connection is open.
    Connected,
    /// The upstream could not be reached.
    ConnectFailed(String),
    Bytes(Vec<u8>),
    /// The peer closed the connection, or it broke (the reason, if it broke).
    Closed(Option<String>),
}

#[derive(Debug)]
struct Msg {
    peer: Peer,
    event: SockEvent,
}

/// What the coordinator tells a socket task.
#[derive(Debug)]
enum Cmd {
    Write(Vec<u8>),
    /// Flush and close. Dropping the sender does the same.
    Close,
}

struct Slot {
    session: ProxySession,
    client_ip: IpAddr,
    client: Option<mpsc::UnboundedSender<Cmd>>,
    upstream: Option<(u64, mpsc::UnboundedSender<Cmd>)>,
    /// The deadline this session has in the timer set.
    armed: Option<Timestamp>,
}

struct Coordinator {
    config: Arc<ProxyConfig>,
    upstream_addr: Arc<str>,
    gw: Gateway,
    dc: DataCenter,
    log: Log,
    start: Instant,
    inbox: mpsc::Sender<Msg>,
    sessions: BTreeMap<u64, Slot>,
    /// Upstream connection → its session.
    upstreams: BTreeMap<u64, u64>,
    /// (deadline, session), one entry per session with a deadline.
    timers: BTreeSet<(Timestamp, u64)>,
    next_conn: u64,
    next_upstream: u64,
    /// The worker threads for sessions' heavy work.
    workers: Workers,
    /// Jobs out on the workers, by (session, job): their deadline and cancel flag.
    jobs: BTreeMap<(u64, WorkId), (Timestamp, Arc<AtomicBool>)>,
    /// How long one job may take before it is cancelled.
    work_budget: Duration,
}

/// Runs the proxy on `listener` until the process ends. Errors of one connection end that
/// connection; accept errors (out of file descriptors) are logged and retried.
pub async fn serve(listener: TcpListener, live: SmtpLive) -> std::io::Result<()> {
    let (inbox, mut events) = mpsc::channel(INBOX);
    let (finished, mut done) = mpsc::unbounded_channel();
    let workers = Workers::start(live.worker_threads, finished)?;
    let mut gw = Gateway::new(live.policy);
    // The built-in data center judges files by their bytes, so submissions carry them.
    gw.submit_bytes = true;
    let mut c = Coordinator {
        config: live.config,
        upstream_addr: Arc::from(live.upstream.as_str()),
        gw,
        dc: live.datacenter,
        log: Log {
            wall_start: SystemTime::now(),
            ..live.log
        },
        start: Instant::now(),
        inbox,
        sessions: BTreeMap::new(),
        upstreams: BTreeMap::new(),
        timers: BTreeSet::new(),
        next_conn: 1,
        next_upstream: 1,
        workers,
        jobs: BTreeMap::new(),
        work_budget: live.work_budget,
    };
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
            Some(msg) = events.recv() => c.on_socket(msg),
            Some(f) = done.recv() => c.on_finished(f),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => c.on_accept(stream, peer.ip()),
                Err(e) => {
                    // EMFILE and friends: say so, and do not spin on them.
                    c.log.always(c.now(), "error", &format!("accept: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = sleep => c.on_timers(),
        }
        c.drain_datacenter();
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
        let sessions = self.timers.first().map(|(t, _)| *t);
        let jobs = self.jobs.values().map(|(t, _)| *t).min();
        [sessions, jobs, self.dc.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// A job came back from the workers: to its session, unless its budget ran out first
    /// (the session was told then) or the session is gone.
    fn on_finished(&mut self, f: Finished) {
        if self.jobs.remove(&(f.conn, f.id)).is_none() {
            return;
        }
        if let Err(e) = &f.result {
            let now = self.now();
            self.log.always(
                now,
                "warning",
                &format!(
                    "conn={} job {} failed: {e}; the message fails closed",
                    f.conn, f.id
                ),
            );
        }
        self.with_session(f.conn, |s, gw, now| {
            s.handle_work_done(f.id, f.result, gw, now)
        });
    }

    fn on_accept(&mut self, stream: TcpStream, ip: IpAddr) {
        let conn = self.next_conn;
        self.next_conn += 1;
        let now = self.now();
        let _ = stream.set_nodelay(true);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(socket_loop(
            stream,
            rx,
            self.inbox.clone(),
            Peer::Client(conn),
        ));
        let session = ProxySession::new(self.config.clone(), ip.to_string(), &self.gw, now);
        self.log
            .info(now, "conn", &format!("conn={conn} client={ip} connected"));
        self.sessions.insert(
            conn,
            Slot {
                session,
                client_ip: ip,
                client: Some(tx),
                upstream: None,
                armed: None,
            },
        );
        self.flush(conn, now, now);
    }

    fn on_socket(&mut self, msg: Msg) {
        match msg.peer {
            Peer::Client(conn) => {
                let Some(slot) = self.sessions.get_mut(&conn) else {
                    return;
                };
                match msg.event {
                    SockEvent::Bytes(bytes) => {
                        self.with_session(conn, |s, gw, now| s.handle_client_bytes(&bytes, gw, now))
                    }
                    SockEvent::Closed(why) => {
                        slot.client = None;
                        if let Some(why) = why {
                            let now = self.now();
                            self.log
                                .info(now, "conn", &format!("conn={conn} client lost: {why}"));
                        }
                        self.with_session(conn, |s, gw, now| s.handle_client_closed(gw, now));
                    }
                    SockEvent::Connected | SockEvent::ConnectFailed(_) => {}
                }
            }
            Peer::Upstream(up) => {
                let Some(&conn) = self.upstreams.get(&up) else {
                    // A connection the session has already given up.
                    return;
                };
                match msg.event {
                    SockEvent::Connected => {
                        self.with_session(conn, |s, gw, now| s.handle_upstream_connected(gw, now))
                    }
                    SockEvent::ConnectFailed(why) => {
                        self.drop_upstream(conn, up);
                        let now = self.now();
                        self.log.info(
                            now,
                            "upstream",
                            &format!("conn={conn} cannot reach {}: {why}", self.upstream_addr),
                        );
                        self.with_session(conn, |s, gw, now| {
                            s.handle_upstream_connect_failed(gw, now)
                        });
                    }
                    SockEvent::Bytes(bytes) => self
                        .with_session(conn, |s, gw, now| s.handle_upstream_bytes(&bytes, gw, now)),
                    SockEvent::Closed(why) => {
                        let now = self.now();
                        match why {
                            Some(why) => self.log.info(
                                now,
                                "upstream",
                                &format!("conn={conn} upstream lost: {why}"),
                            ),
                            None if self.log.verbose => self.log.always(
                                now,
                                "upstream",
                                &format!("conn={conn} upstream closed the connection"),
                            ),
                            None => {}
                        }
                        self.drop_upstream(conn, up);
                        self.with_session(conn, |s, gw, now| s.handle_upstream_closed(gw, now));
                    }
                }
            }
        }
    }

    fn drop_upstream(&mut self, conn: u64, up: u64) {
        self.upstreams.remove(&up);
        if let Some(slot) = self.sessions.get_mut(&conn)
            && slot.upstream.as_ref().is_some_and(|(id, _)| *id == up)
        {
            slot.upstream = None;
        }
    }

    /// Every deadline that has passed: finished analyses, jobs over their budget, then
    /// sessions' timers.
    fn on_timers(&mut self) {
        let now = self.now();
        self.dc.handle_timeout(now);
        let late: Vec<(u64, WorkId)> = self
            .jobs
            .iter()
            .filter(|(_, (due, _))| *due <= now)
            .map(|(key, _)| *key)
            .collect();
        for (conn, id) in late {
            if let Some((_, cancel)) = self.jobs.remove(&(conn, id)) {
                cancel.store(true, Ordering::Relaxed);
            }
            self.log.always(
                now,
                "warning",
                &format!(
                    "conn={conn} job {id} over its {} budget: cancelled; the message fails closed",
                    secs(self.work_budget)
                ),
            );
            self.with_session(conn, |s, gw, now| {
                s.handle_work_done(id, Err(WorkFailed::TimedOut), gw, now)
            });
        }
        let due: Vec<(Timestamp, u64)> = self
            .timers
            .iter()
            .take_while(|(t, _)| *t <= now)
            .copied()
            .collect();
        for (t, conn) in due {
            self.timers.remove(&(t, conn));
            if let Some(slot) = self.sessions.get_mut(&conn) {
                slot.armed = None;
            }
            let now = self.now();
            // A deadline that handle_timeout leaves in the past is not re-armed before the
            // next millisecond, so that a session can never make this loop spin.
            if let Some(slot) = self.sessions.get_mut(&conn) {
                slot.session.handle_timeout(&mut self.gw, now);
            }
            self.flush(conn, now, now + Duration::from_millis(1));
        }
    }

    /// Runs `f` on a session, then carries out what it asks.
    fn with_session(
        &mut self,
        conn: u64,
        f: impl FnOnce(&mut ProxySession, &mut Gateway, Timestamp),
    ) {
        let now = self.now();
        let Some(slot) = self.sessions.get_mut(&conn) else {
            return;
        };
        f(&mut slot.session, &mut self.gw, now);
        self.flush(conn, now, now);
    }

    /// Drains a session's outputs, re-arms its timer (not before `earliest`), and forgets
    /// it once it is finished.
    fn flush(&mut self, conn: u64, now: Timestamp, earliest: Timestamp) {
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
                        let _ = c.send(Cmd::Write(bytes));
                    }
                }
                Output::ToUpstream(bytes) => {
                    if let Some((_, u)) = &slot.upstream {
                        let _ = u.send(Cmd::Write(bytes));
                    }
                }
                Output::ConnectUpstream => {
                    let up = self.next_upstream;
                    self.next_upstream += 1;
                    let (tx, rx) = mpsc::unbounded_channel();
                    if let Some((old, _)) = slot.upstream.replace((up, tx)) {
                        // Dropping its sender closes the old connection.
                        self.upstreams.remove(&old);
                    }
                    self.upstreams.insert(up, conn);
                    tokio::spawn(upstream_task(
                        self.upstream_addr.clone(),
                        rx,
                        self.inbox.clone(),
                        up,
                    ));
                }
                Output::CloseUpstream => {
                    if let Some((up, u)) = slot.upstream.take() {
                        let _ = u.send(Cmd::Close);
                        self.upstreams.remove(&up);
                    }
                }
                Output::CloseClient => {
                    if let Some(c) = slot.client.take() {
                        let _ = c.send(Cmd::Close);
                    }
                }
                Output::Work { id, job } => {
                    let cancel = Arc::new(AtomicBool::new(false));
                    let due = now + self.work_budget;
                    self.jobs.insert((conn, id), (due, cancel.clone()));
                    self.workers.submit(Task {
                        conn,
                        id,
                        job,
                        cancel,
                    });
                }
                Output::Submit { txn, files } => {
                    for SubmittedFile { md5, name, bytes } in files {
                        let decision = self.gw.claim_upload(md5, now);
                        let what = match decision {
                            UploadDecision::Upload => {
                                self.dc.upload(md5, bytes.as_deref(), now);
                                "upload"
                            }
                            UploadDecision::Wait => "already in flight, waits (X1)",
                        };
                        self.log.info(
                            now,
                            "submit",
                            &format!(
                                "conn={conn} txn={txn} md5={} name={name:?} {what}",
                                md5.to_hex()
                            ),
                        );
                    }
                }
                Output::Event(e) => {
                    let ip = slot.client_ip;
                    match &e {
                        Event::Transaction(t) => self.log.txn(now, conn, ip, t),
                        _ => self.log.event(now, conn, &e),
                    }
                }
            }
        }
        self.rearm(conn, earliest);
    }

    fn rearm(&mut self, conn: u64, earliest: Timestamp) {
        let Some(slot) = self.sessions.get_mut(&conn) else {
            return;
        };
        let due = slot.session.poll_timeout().map(|t| t.max(earliest));
        if due != slot.armed {
            if let Some(old) = slot.armed.take() {
                self.timers.remove(&(old, conn));
            }
            if let Some(t) = due {
                self.timers.insert((t, conn));
            }
            slot.armed = due;
        }
        if slot.session.is_finished() {
            if let Some(t) = slot.armed {
                self.timers.remove(&(t, conn));
            }
            // Dropping the senders ends the socket tasks (after what they were sent).
            if let Some(slot) = self.sessions.remove(&conn)
                && let Some((up, _)) = slot.upstream
            {
                self.upstreams.remove(&up);
            }
            let now = self.now();
            self.log
                .info(now, "conn", &format!("conn={conn} session finished"));
        }
    }

    /// Hands the data center's answers to the gateway and every session.
    fn drain_datacenter(&mut self) {
        while let Some(answer) = self.dc.poll_answer() {
            let now = self.now();
            match answer {
                DcAnswer::Verdict {
                    md5,
                    verdict,
                    basis,
                    known,
                } => {
                    let threat = verdict.threat.as_deref().unwrap_or("-");
                    let text = format!(
                        "md5={} level={} score={} threat={threat} basis={}{}",
                        md5.to_hex(),
                        verdict.level,
                        verdict.score,
                        basis.as_str(),
                        if known {
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
                    self.gw.record_verdict(md5, &verdict, now);
                    self.broadcast(|s, gw, now| {
                        s.handle_verdict(&md5, &verdict, gw, now);
                    });
                }
                DcAnswer::Unreachable { md5 } => {
                    self.log.info(
                        now,
                        "verdict",
                        &format!(
                            "md5={} data center unreachable (--dc-outage, S7)",
                            md5.to_hex()
                        ),
                    );
                    self.gw.record_failure(&md5);
                    self.broadcast(|s, gw, now| s.handle_unreachable(&md5, gw, now));
                }
            }
        }
    }

    fn broadcast(&mut self, f: impl Fn(&mut ProxySession, &mut Gateway, Timestamp)) {
        let conns: Vec<u64> = self.sessions.keys().copied().collect();
        for conn in conns {
            self.with_session(conn, &f);
        }
    }
}

/// Connects to the upstream, then relays like [`socket_loop`].
async fn upstream_task(
    addr: Arc<str>,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    inbox: mpsc::Sender<Msg>,
    up: u64,
) {
    let peer = Peer::Upstream(up);
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&*addr));
    let given_up = async {
        // Before the connection is open the coordinator sends nothing; a closed channel
        // means the session no longer wants it.
        while cmds.recv().await.is_some() {}
    };
    let result = tokio::select! {
        r = connect => r,
        () = given_up => return,
    };
    let event = match result {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            if inbox
                .send(Msg {
                    peer,
                    event: SockEvent::Connected,
                })
                .await
                .is_err()
            {
                return;
            }
            return socket_loop(stream, cmds, inbox, peer).await;
        }
        Ok(Err(e)) => SockEvent::ConnectFailed(e.to_string()),
        Err(_) => {
            SockEvent::ConnectFailed(format!("no connection after {}", secs(CONNECT_TIMEOUT)))
        }
    };
    let _ = inbox.send(Msg { peer, event }).await;
}

/// Owns one socket: writes what the coordinator sends, reports what it reads, and ends on
/// `Close`, a dropped sender, end of stream or an error (reported as `Closed`).
async fn socket_loop(
    stream: TcpStream,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    inbox: mpsc::Sender<Msg>,
    peer: Peer,
) {
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        tokio::select! {
            biased;
            cmd = cmds.recv() => match cmd {
                Some(Cmd::Write(bytes)) => {
                    if let Err(e) = wr.write_all(&bytes).await {
                        let event = SockEvent::Closed(Some(e.to_string()));
                        let _ = inbox.send(Msg { peer, event }).await;
                        return;
                    }
                }
                Some(Cmd::Close) | None => {
                    let _ = wr.shutdown().await;
                    return;
                }
            },
            read = rd.read(&mut buf) => {
                let event = match read {
                    Ok(0) => SockEvent::Closed(None),
                    Ok(n) => SockEvent::Bytes(buf[..n].to_vec()),
                    Err(e) => SockEvent::Closed(Some(e.to_string())),
                };
                let last = matches!(event, SockEvent::Closed(_));
                if inbox.send(Msg { peer, event }).await.is_err() || last {
                    return;
                }
            }
        }
    }
}
