//! One client connection of the simulated IMAP server, sans-IO, modelled on Dovecot 2.3:
//! framing, the session's states, its timers and its outputs. The commands are answered in
//! [`login`](super::login) (before login) and [`commands`](super::commands) (after).
//!
//! # Driving it
//! Create an [`ImapServerSession`] when a client connects; the greeting is ready at once.
//! Feed the client's bytes with [`ImapServerSession::handle_bytes`] and its hanging up with
//! [`ImapServerSession::handle_closed`]; after each call drain
//! [`ImapServerSession::poll_output`] until `None`: bytes to send, close, events for the
//! trace, and [`ImapServerOutput::StoreChanged`] when the session changed flags or expunged.
//! Arm a timer for
//! [`ImapServerSession::poll_timeout`] and call [`ImapServerSession::handle_timeout`] when
//! it fires. After a delivery into the store, call
//! [`ImapServerSession::handle_store_changed`] on the account's sessions: one in IDLE with
//! the mailbox selected announces the new mail at once (`* n EXISTS`), as Dovecot does;
//! the others at their next command. Every call takes the server's [`Mailstore`].
//!
//! # Timers (Dovecot's; sources at [`ImapServerConfig`])
//! - Before login: `* BYE Disconnected for inactivity.` 3 min after connecting.
//! - After login: the same 30 min after the last input, the end of the last command or the
//!   last IDLE keepalive.
//! - In IDLE: `* OK Still here` every 2 min on a per-user phase; each one resets the
//!   autologout, so an idling client is never logged out.
//! - A failed login is answered 2 s later; the client's further input waits for it.
//!
//! Dovecot's 5 min output timeout (a client that does not read) is left out: it needs
//! socket backpressure, which the simulator does not model (docs/imap.md).

use std::collections::VecDeque;
use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_core::imap::{CommandEvent, CommandReader, WireError, WireLimits};

use super::config::{ImapServerConfig, PRE_LOGIN_CAPABILITY, crc32};
use super::events::{ImapServerEvent, ImapServerOutput};
use super::store::Mailstore;
use super::view::{SyncRules, View};

/// Where the session is.
#[derive(Debug)]
pub(super) enum State {
    /// Before LOGIN or AUTHENTICATE succeeded.
    NotAuthenticated,
    /// Logged in as `user`, with a mailbox selected or not.
    Authenticated {
        user: String,
        selected: Option<View>,
    },
    /// The connection is closed.
    Closed,
}

/// A client in IDLE.
#[derive(Debug, Clone)]
pub(super) struct Idle {
    pub tag: String,
    pub since: Timestamp,
    /// When the next `* OK Still here` is due (none when the interval is zero).
    pub keepalive: Option<Timestamp>,
}

/// A reply held back until `due` (a failed login, Dovecot's `auth_failure_delay`).
#[derive(Debug, Clone)]
pub(super) struct Held {
    pub due: Timestamp,
    pub reply: Vec<u8>,
    pub event: ImapServerEvent,
}

/// One IMAP server connection. See the module doc for the calling order.
#[derive(Debug)]
pub struct ImapServerSession {
    pub(super) config: ImapServerConfig,
    pub(super) state: State,
    reader: CommandReader,
    out: VecDeque<ImapServerOutput>,
    connected: Timestamp,
    /// The last reset of the autologout timer.
    pub(super) last_activity: Timestamp,
    /// The client sent CAPABILITY before logging in: Dovecot then sends the capabilities
    /// after login untagged (imap/main.c `client_send_login_reply`).
    pub(super) asked_capability: bool,
    /// Consecutive command errors.
    pub(super) bad_commands: u32,
    pub(super) held: Option<Held>,
    /// AUTHENTICATE waits for the client's SASL response: the command's tag.
    pub(super) authenticating: Option<String>,
    pub(super) idle: Option<Idle>,
}

impl ImapServerSession {
    /// A session for a client that connected `now`; the greeting is ready to send.
    pub fn new(config: ImapServerConfig, now: Timestamp) -> Self {
        let bound = config.max_command_bytes;
        let limits = WireLimits {
            max_line: usize::try_from(bound).unwrap_or(usize::MAX),
            max_literal: bound,
            max_message: bound,
        };
        let mut session = ImapServerSession {
            config,
            state: State::NotAuthenticated,
            reader: CommandReader::new(limits),
            out: VecDeque::new(),
            connected: now,
            last_activity: now,
            asked_capability: false,
            bad_commands: 0,
            held: None,
            authenticating: None,
            idle: None,
        };
        let greeting = format!(
            "* OK [CAPABILITY {PRE_LOGIN_CAPABILITY}] {}\r\n",
            session.config.greeting
        );
        session.send(greeting.as_bytes());
        session
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<ImapServerOutput> {
        self.out.pop_front()
    }

    /// True once the connection is closed.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&str> {
        match &self.state {
            State::Authenticated { user, .. } => Some(user),
            _ => None,
        }
    }

    /// The selected mailbox, if any.
    pub fn selected(&self) -> Option<&str> {
        match &self.state {
            State::Authenticated {
                selected: Some(view),
                ..
            } => Some(&view.name),
            _ => None,
        }
    }

    /// Whether the client is in IDLE.
    pub fn is_idle(&self) -> bool {
        self.idle.is_some()
    }

    /// Bytes from the client.
    pub fn handle_bytes(&mut self, bytes: &[u8], store: &mut Mailstore, now: Timestamp) {
        if self.is_closed() {
            return;
        }
        self.reader.push(bytes);
        self.last_activity = now;
        self.process(store, now);
    }

    /// The client closed the connection (or it broke).
    pub fn handle_closed(&mut self, now: Timestamp) {
        let _ = now;
        self.state = State::Closed;
        self.held = None;
        self.idle = None;
    }

    /// The store changed (a delivery, another session's STORE or EXPUNGE): a session in
    /// IDLE with a mailbox selected tells its client now.
    pub fn handle_store_changed(&mut self, store: &mut Mailstore, now: Timestamp) {
        if self.idle.is_none() {
            return;
        }
        let before = self.out.len();
        self.sync(
            store,
            SyncRules {
                expunges: true,
                send_uid: false,
            },
        );
        if self.out.len() != before {
            // Dovecot re-arms the keepalive after output in IDLE (cmd-idle.c).
            let keepalive = self.next_keepalive(now);
            if let Some(idle) = &mut self.idle {
                idle.keepalive = keepalive;
            }
        }
    }

    /// When [`ImapServerSession::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let logout = match &self.state {
            State::Closed => return None,
            State::NotAuthenticated => self.connected + self.config.login_timeout,
            State::Authenticated { .. } => self.last_activity + self.config.autologout,
        };
        let keepalive = self.idle.as_ref().and_then(|i| i.keepalive);
        let held = self.held.as_ref().map(|h| h.due);
        [Some(logout), keepalive, held].into_iter().flatten().min()
    }

    /// Acts on the deadlines that have passed.
    pub fn handle_timeout(&mut self, store: &mut Mailstore, now: Timestamp) {
        if self.is_closed() {
            return;
        }
        if let Some(held) = self.held.take_if(|h| now >= h.due) {
            self.send(&held.reply);
            self.event(held.event);
            self.process(store, now);
        }
        if let Some(idle) = &self.idle
            && idle.keepalive.is_some_and(|due| now >= due)
        {
            // Dovecot skips the line while output waits in its buffer, which never
            // happens here (no backpressure).
            self.send(b"* OK Still here\r\n");
            self.event(ImapServerEvent::Keepalive);
            self.last_activity = now;
            let next = self.next_keepalive(now);
            if let Some(idle) = &mut self.idle {
                idle.keepalive = next;
            }
        }
        match &self.state {
            State::NotAuthenticated if now >= self.connected + self.config.login_timeout => {
                let text = if self.authenticating.is_some() {
                    "* BYE Disconnected for inactivity during authentication.\r\n"
                } else {
                    "* BYE Disconnected for inactivity.\r\n"
                };
                self.send(text.as_bytes());
                self.event(ImapServerEvent::Autologout {
                    authenticated: false,
                    idle: now.saturating_since(self.connected),
                });
                self.close();
            }
            State::Authenticated { .. } if now >= self.last_activity + self.config.autologout => {
                self.send(b"* BYE Disconnected for inactivity.\r\n");
                self.event(ImapServerEvent::Autologout {
                    authenticated: true,
                    idle: now.saturating_since(self.last_activity),
                });
                self.close();
            }
            _ => {}
        }
    }

    /// Reads and answers what the client sent, until more bytes are needed, a reply is
    /// held back, or the connection closes.
    fn process(&mut self, store: &mut Mailstore, now: Timestamp) {
        while !self.is_closed() && self.held.is_none() {
            match self.reader.next_event() {
                Ok(None) => return,
                // Dovecot's imap-parser says "+ OK" to a synchronising literal.
                Ok(Some(CommandEvent::SendContinuation { .. })) => self.send(b"+ OK\r\n"),
                Ok(Some(CommandEvent::Command(command))) => {
                    self.on_message(command.raw(), store, now);
                    self.last_activity = now;
                }
                Err(error) => self.wire_error(&error),
            }
        }
    }

    fn on_message(&mut self, raw: &[u8], store: &mut Mailstore, now: Timestamp) {
        if let Some(tag) = self.authenticating.take() {
            return self.sasl_response(&tag, line_of(raw), store, now);
        }
        if let Some(idle) = self.idle.take() {
            return self.idle_input(idle, line_of(raw), now);
        }
        match self.state {
            State::NotAuthenticated => self.pre_login(raw, store, now),
            State::Authenticated { .. } => self.command(raw, store, now),
            State::Closed => {}
        }
    }

    fn idle_input(&mut self, idle: Idle, line: &[u8], now: Timestamp) {
        let wait = now.saturating_since(idle.since);
        let text = if line.eq_ignore_ascii_case(b"DONE") {
            "OK Idle completed."
        } else {
            "BAD Expected DONE."
        };
        self.tagged(&idle.tag, text, wait);
        self.event(ImapServerEvent::IdleDone { after: wait });
    }

    /// Starts IDLE (`+ idling`), announcing what changed at once (cmd-idle.c).
    pub(super) fn start_idle(&mut self, tag: &str, store: &mut Mailstore, now: Timestamp) {
        self.send(b"+ idling\r\n");
        self.event(ImapServerEvent::IdleStarted);
        self.idle = Some(Idle {
            tag: tag.to_owned(),
            since: now,
            keepalive: self.next_keepalive(now),
        });
        self.sync(
            store,
            SyncRules {
                expunges: true,
                send_uid: false,
            },
        );
    }

    /// Dovecot's `imap_keepalive_interval_msecs`: the interval minus `(time + hash) %
    /// interval` seconds, the hash being the CRC-32 of the user name (the address of a
    /// client behind the gateway is private, so Dovecot would not use it).
    fn next_keepalive(&self, now: Timestamp) -> Option<Timestamp> {
        let interval = self.config.idle_notify_interval.as_secs();
        if interval == 0 {
            return None;
        }
        let hash = u64::from(crc32(self.user().unwrap_or_default().as_bytes()));
        let secs = now.as_millis() / 1_000;
        let wait = interval - (secs.wrapping_add(hash) % interval);
        Some(now + Duration::from_secs(wait))
    }

    /// Brings the selected mailbox's view up to the store and sends what changed.
    pub(super) fn sync(&mut self, store: &mut Mailstore, rules: SyncRules) {
        let State::Authenticated {
            user,
            selected: Some(view),
        } = &mut self.state
        else {
            return;
        };
        let Some(mailbox) = store.mailbox_mut(user, &view.name) else {
            return;
        };
        let mut out = Vec::new();
        let synced = view.sync(mailbox, rules, &mut out);
        self.send(&out);
        if !synced.expunged.is_empty() {
            self.event(ImapServerEvent::Expunged {
                uids: synced.expunged,
            });
        }
        if let Some(exists) = synced.exists {
            self.event(ImapServerEvent::NewMail { exists });
        }
    }

    fn wire_error(&mut self, error: &WireError) {
        // Dovecot: `client_disconnect_with_error` (a literal over the limit) or "Too long
        // argument." (a line over it; Dovecot skips that line and goes on, which the
        // command reader cannot do).
        let text = match error {
            WireError::LiteralTooLarge { .. } => "Literal size too large",
            WireError::LineTooLong { .. } | WireError::MessageTooLarge { .. } => {
                "Too long argument."
            }
        };
        self.bye(text);
    }

    /// `* BYE text`, then the connection closes.
    pub(super) fn bye(&mut self, text: &str) {
        self.send(format!("* BYE {text}\r\n").as_bytes());
        self.event(ImapServerEvent::Disconnected {
            reason: text.to_owned(),
        });
        self.close();
    }

    /// A tagged reply after login, with Dovecot's timing: `tag OK Fetch completed (0.001 +
    /// 0.000 secs).` (imap-client.c `client_cmd_append_timing_stats`; the first number is
    /// the time spent in the command, nominal here, the second the time waited, as for
    /// IDLE).
    pub(super) fn tagged(&mut self, tag: &str, text: &str, wait: Duration) {
        let text = text.strip_suffix('.').unwrap_or(text);
        let line = format!(
            "{tag} {text} (0.001 + {}.{:03} secs).\r\n",
            wait.as_secs(),
            wait.subsec_millis()
        );
        self.send(line.as_bytes());
    }

    pub(super) fn send(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        // One command's lines go out in one write, as Dovecot corks its output.
        if let Some(ImapServerOutput::Send(last)) = self.out.back_mut() {
            last.extend_from_slice(bytes);
        } else {
            self.out.push_back(ImapServerOutput::Send(bytes.to_vec()));
        }
    }

    pub(super) fn event(&mut self, event: ImapServerEvent) {
        self.out.push_back(ImapServerOutput::Event(event));
    }

    /// Tells the driver that the store changed, for the other sessions.
    pub(super) fn changed(&mut self) {
        self.out.push_back(ImapServerOutput::StoreChanged);
    }

    pub(super) fn close(&mut self) {
        if !self.is_closed() {
            self.state = State::Closed;
            self.held = None;
            self.idle = None;
            self.out.push_back(ImapServerOutput::Close);
        }
    }
}

/// A message's first line without its line end (`DONE`, a SASL response).
pub(super) fn line_of(raw: &[u8]) -> &[u8] {
    let end = raw
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(raw.len());
    &raw[..end]
}
