//! [`MailClient`]: one mail program for one account, over time, sans-IO.
//!
//! # Driving it
//! Create it with [`MailClient::new`], then arm a timer for [`MailClient::poll_timeout`] and
//! call [`MailClient::handle_timeout`] when it fires (the first check is due at the
//! configuration's `first_check`). After every call drain [`MailClient::poll_output`] until
//! `None`: [`ClientOutput::Connect`] asks for a connection — answer with
//! [`MailClient::handle_connected`] or [`MailClient::handle_connect_failed`] — then feed the
//! server's bytes to [`MailClient::handle_bytes`] and its hanging up to
//! [`MailClient::handle_closed`]. Every `Connect` is matched by one [`ClientOutput::Close`]
//! once the client is done with the connection (also after the server closed it); input for a
//! connection after its `Close` is ignored. The user's actions come from the configuration's
//! schedule or from [`MailClient::open_message`], [`MailClient::open_attachments`] and
//! [`MailClient::handle_restart`].
//!
//! # What it does
//! Operations ([`Job`]) run one at a time on one connection, queued in order: a check for new
//! mail at each scheduled time (skipped while one is queued or running), the user opening a
//! message that is not on the device, the user opening its attachments (K-9). Each starts
//! with the connection's prologue if it is new (greeting, `CAPABILITY` if needed, `LOGIN`,
//! `SELECT`); when none is left, Thunderbird waits in `IDLE` (a new `EXISTS` there starts a
//! check), the others log out. What each program asks is in its module (`thunderbird`, `k9`,
//! `outlook`, `mbsync`, `fetchmail`) and in docs/imap-clients.md.
//!
//! # Timeouts and failures
//! The read timer runs while the client waits (see [`super::presets::ClientTimeouts`]). On a
//! timeout, a lost connection or bytes it cannot read, the client closes the connection and
//! the operation in progress fails ([`ClientEvent::Failed`]), except: Thunderbird runs it
//! once more on a new connection after a timeout past the greeting
//! ([`ClientEvent::Retrying`]), then fails; Outlook, when it was a fetch during a check,
//! stalls until restarted ([`ClientEvent::SyncStalled`], I5); fetchmail stops polling after
//! more than `max_timeouts` timeouts in a row ([`ClientEvent::PollingStopped`]). The next
//! check picks up what was not downloaded.

use std::collections::{BTreeMap, VecDeque};

use aptsim_core::clock::Timestamp;
use rand_chacha::ChaCha8Rng;
use rand_core::Rng;

use super::config::{ClientConfig, ConfigError};
use super::conn::Conn;
use super::events::{ClientEvent, ClientOutput, ConnId, Job, MessageKey, Step};
use super::job::{Chunking, MailboxInfo, Work};
use super::presets::Program;
use super::store::{Downloaded, Store};

/// A queued operation, and the step where its previous try timed out (Thunderbird's retry).
#[derive(Debug)]
pub(super) struct Queued {
    pub job: Job,
    pub retried: Option<Step>,
}

/// The operation in progress.
#[derive(Debug)]
pub(super) struct Running {
    pub job: Job,
    pub work: Work,
    pub retried: Option<Step>,
}

/// A user action due at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Open(u32),
    Attachments(u32),
}

/// One mail program for one account. See the module doc for the calling order.
#[derive(Debug)]
pub struct MailClient {
    pub(super) config: ClientConfig,
    pub(super) rng: ChaCha8Rng,
    pub(super) store: Store,
    pub(super) chunking: Chunking,
    pub(super) conn: Option<Conn>,
    pub(super) conns_opened: u32,
    pub(super) mailbox: MailboxInfo,
    pub(super) queue: VecDeque<Queued>,
    pub(super) running: Option<Running>,
    pub(super) next_check: Option<Timestamp>,
    pub(super) actions: BTreeMap<(Timestamp, u64), Action>,
    pub(super) actions_added: u64,
    /// Outlook after I5: no syncing until restarted.
    pub(super) stalled: bool,
    /// fetchmail after too many timeouts: no polling until restarted.
    pub(super) wedged: bool,
    /// Timeouts since the last line read (fetchmail's `timeoutcount`).
    pub(super) timeouts_in_row: u32,
    pub(super) out: VecDeque<ClientOutput>,
}

impl MailClient {
    /// A client as `config` says; `rng` draws whether the user opens attachments.
    pub fn new(config: ClientConfig, rng: ChaCha8Rng) -> Result<Self, ConfigError> {
        config.validate()?;
        let (size, threshold) = match &config.preset.program {
            Program::Thunderbird(p) => (p.chunk_size, p.chunk_threshold),
            _ => (0, 0),
        };
        let mut client = MailClient {
            next_check: Some(Timestamp::ZERO + config.first_check),
            config,
            rng,
            store: Store::default(),
            chunking: Chunking { size, threshold },
            conn: None,
            conns_opened: 0,
            mailbox: MailboxInfo::default(),
            queue: VecDeque::new(),
            running: None,
            actions: BTreeMap::new(),
            actions_added: 0,
            stalled: false,
            wedged: false,
            timeouts_in_row: 0,
            out: VecDeque::new(),
        };
        for open in client.config.opens.clone() {
            client.add_action(Timestamp::ZERO + open.at, Action::Open(open.uid));
        }
        Ok(client)
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        self.out.pop_front()
    }

    /// When [`MailClient::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let check = self.next_check.filter(|_| !self.blocked());
        let action = self.actions.keys().next().map(|(t, _)| *t);
        let conn = self.conn.as_ref().and_then(Conn::deadline);
        [check, action, conn].into_iter().flatten().min()
    }

    /// Acts on every deadline that has passed: the read or connect timer, scheduled checks,
    /// the user's actions.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if let Some(conn) = &self.conn
            && conn.deadline().is_some_and(|d| d <= now)
        {
            self.timed_out(now);
        }
        if let Some(due) = self.next_check
            && due <= now
        {
            self.next_check = self.config.preset.check_interval.map(|every| {
                let mut next = due + every;
                while next <= now {
                    next += every;
                }
                next
            });
            self.enqueue(Job::Check);
        }
        while let Some(entry) = self.actions.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let action = entry.remove();
            self.act(action, now);
        }
        self.pump(now);
    }

    /// The connection `conn` is open.
    pub fn handle_connected(&mut self, conn: ConnId, now: Timestamp) {
        self.connected(conn, now);
        self.pump(now);
    }

    /// The connection `conn` could not be opened.
    pub fn handle_connect_failed(&mut self, conn: ConnId, now: Timestamp) {
        if self.is_current(conn) {
            self.lose(super::session::Lost::ConnectFailed, now);
        }
        self.pump(now);
    }

    /// Bytes from the server on `conn`.
    pub fn handle_bytes(&mut self, conn: ConnId, bytes: &[u8], now: Timestamp) {
        if !self.is_current(conn) {
            return;
        }
        // Bytes prove the connection is up, whatever the driver reported.
        self.connected(conn, now);
        self.received(bytes, now);
        self.pump(now);
    }

    /// The server closed `conn` (or it broke).
    pub fn handle_closed(&mut self, conn: ConnId, now: Timestamp) {
        if self.is_current(conn) {
            self.event(ClientEvent::Closed { conn });
            self.server_closed(now);
        }
        self.pump(now);
    }

    /// The user restarts the program: the connection is dropped, whatever was in progress
    /// is forgotten, a stalled Outlook or a stopped fetchmail works again, and a check
    /// starts. What is on the device stays.
    pub fn handle_restart(&mut self, now: Timestamp) {
        if let Some(conn) = self.conn.take() {
            self.out.push_back(ClientOutput::Close { conn: conn.id });
        }
        self.queue.clear();
        self.running = None;
        self.stalled = false;
        self.wedged = false;
        self.timeouts_in_row = 0;
        self.event(ClientEvent::Restarted);
        self.enqueue(Job::Check);
        self.pump(now);
    }

    /// The user opens message `uid` now.
    pub fn open_message(&mut self, uid: u32, now: Timestamp) {
        self.act(Action::Open(uid), now);
        self.pump(now);
    }

    /// The user opens the attachments of message `uid` now.
    pub fn open_attachments(&mut self, uid: u32, now: Timestamp) {
        self.act(Action::Attachments(uid), now);
        self.pump(now);
    }

    /// A check now, besides the schedule (a user pressing "Get Messages").
    pub fn check_now(&mut self, now: Timestamp) {
        self.enqueue(Job::Check);
        self.pump(now);
    }

    /// Everything on the device.
    pub fn downloaded(&self) -> &BTreeMap<MessageKey, Downloaded> {
        self.store.downloaded()
    }

    /// One message on the device.
    pub fn message(&self, key: MessageKey) -> Option<&Downloaded> {
        self.store.downloaded().get(&key)
    }

    /// Outlook's I5 stall: no syncing until [`MailClient::handle_restart`].
    pub fn is_stalled(&self) -> bool {
        self.stalled
    }

    /// fetchmail stopped polling after too many timeouts.
    pub fn is_wedged(&self) -> bool {
        self.wedged
    }

    /// Whether nothing is queued, running or connected.
    pub fn is_quiet(&self) -> bool {
        self.conn.is_none() && self.running.is_none() && self.queue.is_empty()
    }

    pub(super) fn blocked(&self) -> bool {
        self.stalled || self.wedged
    }

    pub(super) fn is_current(&self, conn: ConnId) -> bool {
        self.conn.as_ref().is_some_and(|c| c.id == conn)
    }

    pub(super) fn event(&mut self, e: ClientEvent) {
        self.out.push_back(ClientOutput::Event(e));
    }

    /// Queues `job`, unless the client is blocked or a check is already queued or running.
    pub(super) fn enqueue(&mut self, job: Job) {
        if self.blocked() {
            return;
        }
        let pending = |j: &Job| *j == job && job == Job::Check;
        if self.queue.iter().any(|q| pending(&q.job))
            || self.running.as_ref().is_some_and(|r| pending(&r.job))
        {
            return;
        }
        self.queue.push_back(Queued { job, retried: None });
    }

    fn add_action(&mut self, at: Timestamp, action: Action) {
        self.actions_added += 1;
        self.actions.insert((at, self.actions_added), action);
    }

    /// A user action, now.
    fn act(&mut self, action: Action, now: Timestamp) {
        let program = &self.config.preset.program;
        let interactive = !matches!(program, Program::Mbsync(_) | Program::Fetchmail(_));
        let k9 = matches!(program, Program::K9(_));
        match action {
            Action::Open(uid) => {
                let local = self.store.has(MessageKey::Uid(uid));
                self.event(ClientEvent::Opened { uid, local });
                if !local && interactive {
                    self.enqueue(Job::Open { uid });
                }
                let habit = &self.config.attachments;
                if k9 && habit.probability > 0.0 {
                    let draw = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    if draw < habit.probability {
                        let at = now + habit.delay;
                        self.add_action(at, Action::Attachments(uid));
                    }
                }
            }
            // Only K-9 leaves attachments on the server until they are opened, and only
            // those of messages it fetched by parts.
            Action::Attachments(uid) if k9 => {
                let store = &self.store;
                let missing = !store.has(MessageKey::Uid(uid))
                    || store
                        .layout(uid)
                        .is_some_and(|l| l.attachments.iter().any(|p| !store.has_part(uid, p)));
                if missing {
                    self.enqueue(Job::Attachments { uid });
                }
            }
            Action::Attachments(_) => {}
        }
    }
}
