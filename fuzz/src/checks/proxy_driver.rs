//! The driver behind `smtp_proxy_session`: it plays the client and the upstream server
//! around one `ProxySession` as a real driver would (connections, replies owed, the DATA
//! gate, timers) and checks every output the session produces.

use super::*;

const EHLO_REPLY: &[u8] = b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
    250-CHUNKING\r\n250-STARTTLS\r\n250-8BITMIME\r\n250 DSN\r\n";

/// The EHLO reply with XFORWARD, as Postfix offers it to a trusted proxy (`kind & 8` in
/// [`Driver::auto_reply`]), so that the session's XFORWARD before each MAIL is exercised.
const EHLO_XFORWARD: &[u8] = b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
    250-XFORWARD NAME ADDR PROTO HELO SOURCE\r\n250-8BITMIME\r\n250 DSN\r\n";

/// Longest XFORWARD command (Postfix XFORWARD_README, note 2), line end excluded.
const MAX_XFORWARD: usize = 510;

/// What the upstream owes a reply for, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owed {
    Greeting,
    Ehlo,
    Data,
    Body,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conn {
    Closed,
    Connecting,
    Open,
}

/// Where the DATA exchange upstream stands: the body may go only after a 3xx to DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataGate {
    Idle,
    AwaitingReply,
    Open,
}

/// Drives one proxy session as a driver would, checking what comes out.
pub(super) struct Driver {
    s: ProxySession,
    gw: Gateway,
    config: Arc<ProxyConfig>,
    now: Timestamp,
    upstream: Conn,
    client_open: bool,
    owed: VecDeque<Owed>,
    gate: DataGate,
    submitted: Vec<Md5>,
    fail_next_work: bool,
    /// Transactions decided for delivery (deliver or rewritten).
    deliverable: BTreeSet<u64>,
    /// Transactions whose client left before the body went upstream.
    abandoned: BTreeSet<u64>,
    /// When it last became the client's turn to send: it sent something, or the proxy
    /// answered it. The idle timeout runs from here.
    client_turn: Timestamp,
    /// The last reply from the upstream, as bytes.
    last_upstream_reply: Option<Vec<u8>>,
    /// XFORWARD went out on this connection and no command after it yet.
    after_xforward: bool,
    /// Every output, when tracing ([`smtp_proxy_trace`]).
    trace: Option<Rc<RefCell<Vec<String>>>>,
}

impl Driver {
    pub(super) fn new(flags: u8, trace: Option<Rc<RefCell<Vec<String>>>>) -> Self {
        let mut policy = Policy::default();
        if flags & 1 != 0 {
            policy.release_immediately = false;
        }
        if flags & 2 != 0 {
            policy.tempfail_deadline = Some(Duration::from_secs(540));
        }
        if flags & 4 != 0 {
            policy.outage = OutagePolicy::Tempfail;
        }
        policy.levels.medium.action = match (flags >> 3) & 3 {
            0 => Action::Drop,
            1 => Action::Lock,
            2 => Action::Block,
            _ => Action::Quarantine,
        };
        if flags & 0x40 != 0 {
            policy.limits = small_mime_limits();
        }
        let mut config = ProxyConfig::default();
        if flags & 0x80 != 0 {
            config.max_message_bytes = 4096;
            config.max_command_line = 64;
            config.max_errors = 3;
            config.max_recipients = 2;
            config.max_junk_commands = 5;
            config.max_held_bytes = 8192;
            config.max_unread_bytes = 4096;
        }
        let config = Arc::new(config);
        let mut gw = Gateway::new(Arc::new(policy));
        gw.submit_bytes = flags & 0x20 != 0;
        let s = ProxySession::new(config.clone(), "192.0.2.7", &gw, Timestamp::ZERO);
        let mut d = Driver {
            s,
            gw,
            config,
            now: Timestamp::ZERO,
            upstream: Conn::Closed,
            client_open: true,
            owed: VecDeque::new(),
            gate: DataGate::Idle,
            submitted: Vec::new(),
            fail_next_work: false,
            deliverable: BTreeSet::new(),
            abandoned: BTreeSet::new(),
            client_turn: Timestamp::ZERO,
            last_upstream_reply: None,
            after_xforward: false,
            trace,
        };
        d.drain();
        d
    }

    /// Carries out everything the session asked for, checking it.
    fn drain(&mut self) {
        loop {
            let batch: Vec<Output> = std::iter::from_fn(|| self.s.poll_output()).collect();
            if batch.is_empty() {
                break;
            }
            for (i, o) in batch.iter().enumerate() {
                let body_txn = match batch.get(i + 1) {
                    Some(Output::Event(Event::BodySent { txn })) => Some(*txn),
                    _ => None,
                };
                self.output(o, body_txn);
            }
        }
    }

    fn output(&mut self, o: &Output, body_txn: Option<u64>) {
        if let Some(trace) = self.trace.clone() {
            let line = match o {
                Output::ToClient(b) => format!("client <- {:?}", String::from_utf8_lossy(b)),
                Output::ToUpstream(b) => format!("upstream <- {:?}", String::from_utf8_lossy(b)),
                Output::Work { id, .. } => format!("work {id}"),
                Output::Submit { txn, files } => format!(
                    "submit txn {txn}: {:?}",
                    files.iter().map(|f| f.md5.to_hex()).collect::<Vec<_>>()
                ),
                Output::Event(Event::Decided { txn, outcome, .. }) => {
                    format!(
                        "decided txn {txn}: {:?} {:?}",
                        outcome.action, outcome.decision
                    )
                }
                Output::Event(Event::Quarantined { txn, .. }) => format!("quarantined txn {txn}"),
                other => format!("{other:?}"),
            };
            let at = self.now.as_millis();
            trace.borrow_mut().push(format!("{at:>10} {line}"));
        }
        match o {
            Output::ToClient(bytes) => {
                let idle_reply = format!(
                    "421 4.4.2 {} Idle timeout, closing connection\r\n",
                    self.config.hostname
                );
                // The proxy's own reply, not one relayed from the upstream.
                if bytes == idle_reply.as_bytes()
                    && self.last_upstream_reply.as_deref() != Some(bytes.as_slice())
                    && !skipped("idle")
                {
                    let idle = self.now.saturating_since(self.client_turn);
                    assert!(
                        idle >= self.config.idle_timeout,
                        "idle timeout after {idle:?}: the client was answered at {:?} and \
                         it is {:?} (idle_timeout {:?})",
                        self.client_turn,
                        self.now,
                        self.config.idle_timeout
                    );
                }
                self.client_turn = self.now;
                if !skipped("reply_code") {
                    check_client_reply(bytes);
                }
            }
            Output::ToUpstream(bytes) => {
                assert_eq!(
                    self.upstream,
                    Conn::Open,
                    "bytes for an upstream connection that is not open: {:?}",
                    String::from_utf8_lossy(bytes)
                );
                match body_txn {
                    Some(txn) => self.body(bytes, txn),
                    None => self.command(bytes),
                }
            }
            Output::ConnectUpstream => {
                assert_eq!(
                    self.upstream,
                    Conn::Closed,
                    "a second upstream connection while one is still {:?}",
                    self.upstream
                );
                self.upstream = Conn::Connecting;
                self.owed.clear();
                self.gate = DataGate::Idle;
                self.after_xforward = false;
            }
            Output::CloseUpstream => {
                self.upstream = Conn::Closed;
                self.owed.clear();
                self.gate = DataGate::Idle;
                self.after_xforward = false;
            }
            Output::CloseClient => self.client_open = false,
            Output::Submit { files, .. } => {
                for f in files {
                    self.gw.claim_upload(f.md5, self.now);
                    self.submitted.push(f.md5);
                }
            }
            Output::Work { id, job } => {
                let result = if std::mem::take(&mut self.fail_next_work) {
                    Err(WorkFailed::Crashed)
                } else {
                    job.run(&AtomicBool::new(false))
                };
                self.s.handle_work_done(*id, result, &mut self.gw, self.now);
            }
            Output::Event(e) => self.event(e),
        }
    }

    fn event(&mut self, e: &Event) {
        if let Event::UpstreamReply(r) = e {
            self.last_upstream_reply = Some(r.to_bytes());
        }
        match e {
            Event::UpstreamReply(r) if self.gate == DataGate::AwaitingReply => {
                self.gate = if r.is_intermediate() {
                    DataGate::Open
                } else {
                    DataGate::Idle
                };
            }
            Event::Decided { txn, outcome, .. } => {
                if matches!(
                    outcome.decision,
                    Decision::Deliver | Decision::DeliverRewritten(_)
                ) {
                    self.deliverable.insert(*txn);
                }
            }
            Event::ClientGone {
                txn: Some(txn),
                after_body_sent: false,
            } => {
                self.abandoned.insert(*txn);
            }
            _ => {}
        }
    }

    /// A command line sent upstream: one line, CRLF-terminated, no control byte, no longer
    /// than the proxy accepts from its client (XFORWARD, the proxy's own: 512 with its line
    /// end); XFORWARD only right before a MAIL (never inside a transaction), or before the
    /// QUIT of a session that ends there.
    fn command(&mut self, bytes: &[u8]) {
        let line = bytes
            .strip_suffix(b"\r\n")
            .unwrap_or_else(|| panic!("upstream command without CRLF: {bytes:?}"));
        assert!(
            !command::has_control_bytes(line),
            "control byte in a command sent upstream: {:?}",
            String::from_utf8_lossy(line)
        );
        let upper = String::from_utf8_lossy(line).to_ascii_uppercase();
        let xforward = upper.starts_with("XFORWARD ");
        let limit = if xforward {
            MAX_XFORWARD + 1
        } else {
            self.config.max_command_line.max(64)
        };
        assert!(
            line.len() < limit,
            "upstream command of {} bytes",
            line.len()
        );
        if std::mem::replace(&mut self.after_xforward, xforward) {
            assert!(
                upper.starts_with("MAIL ") || upper == "QUIT",
                "XFORWARD followed by {:?}, not MAIL",
                String::from_utf8_lossy(line)
            );
        }
        let owed = if upper.starts_with("EHLO") {
            Owed::Ehlo
        } else if upper == "DATA" {
            Owed::Data
        } else {
            Owed::Other
        };
        self.gate = if owed == Owed::Data {
            DataGate::AwaitingReply
        } else {
            DataGate::Idle
        };
        self.owed.push_back(owed);
    }

    /// A message body sent upstream: only after DATA got 354, only for a transaction decided
    /// for delivery whose client is still there, and one message exactly — canonical line
    /// ends, no CRLF `.` CRLF before its end (no smuggled second message).
    fn body(&mut self, bytes: &[u8], txn: u64) {
        assert_eq!(
            self.gate,
            DataGate::Open,
            "body sent upstream without a 354 to DATA"
        );
        self.gate = DataGate::Idle;
        assert!(
            self.deliverable.contains(&txn),
            "body of transaction {txn} sent without a decision to deliver it"
        );
        assert!(
            !self.abandoned.contains(&txn),
            "body of transaction {txn} sent after its client left (S5)"
        );
        assert!(
            canonical_line_ends(bytes),
            "body sent upstream with a bare CR or LF"
        );
        assert!(
            bytes == b".\r\n" || bytes.ends_with(b"\r\n.\r\n"),
            "body sent upstream without its terminating dot line"
        );
        let first_end = bytes
            .windows(5)
            .position(|w| w == b"\r\n.\r\n")
            .map(|p| p + 5);
        if bytes != b".\r\n" {
            assert!(
                !bytes.starts_with(b".\r\n"),
                "body sent upstream starts with the end of data"
            );
            assert_eq!(
                first_end,
                Some(bytes.len()),
                "CRLF . CRLF inside a body sent upstream (a second message)"
            );
        }
        let mut r = DataReceiver::new(usize::MAX);
        assert_eq!(
            r.ingest(bytes),
            (bytes.len(), true),
            "the upstream would not see the body end exactly at its end"
        );
        assert!(
            r.finish().is_ok(),
            "the body sent upstream is not clean data"
        );
        self.owed.push_back(Owed::Body);
    }

    /// Runs every timer that is due, as a driver whose timer fires at once; a timer that
    /// stays due after it ran is a busy loop.
    pub(super) fn fire_timers(&mut self) {
        let mut rounds = 0;
        while let Some(at) = self.s.poll_timeout() {
            if at > self.now {
                break;
            }
            rounds += 1;
            assert!(
                rounds <= 4,
                "timer livelock: poll_timeout stays at {at:?} after handle_timeout at {:?}",
                self.now
            );
            self.s.handle_timeout(&mut self.gw, self.now);
            self.drain();
        }
    }

    pub(super) fn client(&mut self, bytes: &[u8]) {
        if self.client_open {
            self.client_turn = self.now;
            self.s.handle_client_bytes(bytes, &mut self.gw, self.now);
            self.drain();
        }
    }

    pub(super) fn upstream_bytes(&mut self, bytes: &[u8]) {
        if self.upstream == Conn::Open {
            self.s.handle_upstream_bytes(bytes, &mut self.gw, self.now);
            self.drain();
        }
    }

    /// The upstream answers the oldest thing it owes a reply for: `kind % 8` 5, 6 and 7 a
    /// 451, 554 or 421, else the expected reply (the EHLO list with XFORWARD if `kind & 8`).
    pub(super) fn auto_reply(&mut self, kind: u8) {
        let Some(owed) = self.owed.pop_front() else {
            return;
        };
        let reply: Vec<u8> = match (kind % 8, owed) {
            (5, _) => b"451 4.3.0 try later\r\n".to_vec(),
            (6, _) => b"554 5.7.1 refused\r\n".to_vec(),
            (7, _) => b"421 4.4.2 closing\r\n".to_vec(),
            (_, Owed::Greeting) => b"220 mx.example ESMTP\r\n".to_vec(),
            (_, Owed::Ehlo) if kind & 8 != 0 => EHLO_XFORWARD.to_vec(),
            (_, Owed::Ehlo) => EHLO_REPLY.to_vec(),
            (_, Owed::Data) => b"354 End data with <CR><LF>.<CR><LF>\r\n".to_vec(),
            (_, Owed::Body) => b"250 2.0.0 Ok: queued as 1\r\n".to_vec(),
            (_, Owed::Other) => b"250 2.0.0 Ok\r\n".to_vec(),
        };
        self.upstream_bytes(&reply);
    }

    pub(super) fn verdict(&mut self, index: u8, level: u8) {
        if self.submitted.is_empty() {
            return;
        }
        let md5 = self.submitted[usize::from(index) % self.submitted.len()];
        let level = ThreatLevel::ALL[usize::from(level % 4)];
        let v = Verdict::from_level(level, &Thresholds::default());
        self.gw.record_verdict(md5, &v, self.now);
        self.s.handle_verdict(&md5, &v, &mut self.gw, self.now);
        self.drain();
    }

    pub(super) fn unreachable(&mut self, index: u8) {
        if self.submitted.is_empty() {
            return;
        }
        let md5 = self.submitted[usize::from(index) % self.submitted.len()];
        self.gw.record_failure(&md5);
        self.s.handle_unreachable(&md5, &mut self.gw, self.now);
        self.drain();
    }

    /// Both sides close, time runs until nothing is due: the session must be finished and
    /// hold nothing.
    /// The upstream connection opens, if one was being made.
    pub(super) fn upstream_connected(&mut self) {
        if self.upstream == Conn::Connecting {
            self.upstream = Conn::Open;
            self.owed.push_back(Owed::Greeting);
            self.s.handle_upstream_connected(&mut self.gw, self.now);
            self.drain();
        }
    }

    /// The upstream connection attempt fails, if one was being made.
    pub(super) fn upstream_connect_failed(&mut self) {
        if self.upstream == Conn::Connecting {
            self.upstream = Conn::Closed;
            self.s
                .handle_upstream_connect_failed(&mut self.gw, self.now);
            self.drain();
        }
    }

    /// The upstream hangs up, if it was connected.
    pub(super) fn upstream_closed(&mut self) {
        if self.upstream == Conn::Open {
            self.upstream = Conn::Closed;
            self.owed.clear();
            self.gate = DataGate::Idle;
            self.s.handle_upstream_closed(&mut self.gw, self.now);
            self.drain();
        }
    }

    /// The client hangs up, if it was connected.
    pub(super) fn client_closed(&mut self) {
        if self.client_open {
            self.client_open = false;
            self.s.handle_client_closed(&mut self.gw, self.now);
            self.drain();
        }
    }

    /// Time passes (timers fire after each operation).
    pub(super) fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// The next inspection job fails.
    pub(super) fn fail_next_work(&mut self) {
        self.fail_next_work = true;
    }

    pub(super) fn finish(&mut self) {
        if self.client_open {
            self.client_open = false;
            self.s.handle_client_closed(&mut self.gw, self.now);
            self.drain();
        }
        match self.upstream {
            Conn::Open => {
                self.upstream = Conn::Closed;
                self.s.handle_upstream_closed(&mut self.gw, self.now);
            }
            Conn::Connecting => {
                self.upstream = Conn::Closed;
                self.s
                    .handle_upstream_connect_failed(&mut self.gw, self.now);
            }
            Conn::Closed => {}
        }
        self.drain();
        assert_eq!(
            self.upstream,
            Conn::Closed,
            "upstream reopened after both sides closed"
        );
        let mut rounds = 0;
        while let Some(at) = self.s.poll_timeout() {
            rounds += 1;
            assert!(rounds <= 10_000, "timers never run out");
            self.now = self.now.max(at);
            self.fire_timers();
        }
        assert_eq!(self.gw.usage.connections(), 0, "connection slot kept");
        assert!(
            self.s.is_finished(),
            "session not finished with both sides closed and no timer left"
        );
        assert_eq!(
            self.gw.usage.held_bytes(),
            0,
            "a finished session still holds bytes"
        );
    }
}

/// What the proxy writes to its client is whole reply lines, each ending in CRLF and
/// starting with a three-digit code (RFC 5321 §4.2), whatever the upstream sent it.
fn check_client_reply(bytes: &[u8]) {
    assert!(
        bytes.ends_with(b"\r\n"),
        "reply to the client without CRLF: {:?}",
        String::from_utf8_lossy(bytes)
    );
    for line in bytes[..bytes.len() - 2].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let code_ok = line.len() >= 3
            && line[..3].iter().all(u8::is_ascii_digit)
            && matches!(line.get(3), None | Some(b' ' | b'-'));
        assert!(
            code_ok,
            "reply line to the client without a three-digit code: {:?}",
            String::from_utf8_lossy(line)
        );
    }
}
