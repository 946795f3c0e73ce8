//! Helpers for the IMAP server tests: a client wired to one [`ImapServerSession`] over a
//! store, feeding every transfer in pieces of `chunk` bytes, and a virtual clock.
#![allow(dead_code)]

pub mod world;

use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_peers::imap::{
    ImapServerConfig, ImapServerEvent, ImapServerOutput, ImapServerSession, Mailstore,
};

pub const USER: &str = "bob";
pub const PASSWORD: &str = "secret";

/// A store with bob's account and these messages in his INBOX, delivered at t = 0.
pub fn store_with(messages: &[&[u8]]) -> Mailstore {
    let mut store = Mailstore::new();
    store.add_account(USER, PASSWORD);
    for m in messages {
        store
            .deliver(USER, "INBOX", m.to_vec(), Timestamp::ZERO)
            .expect("deliver");
    }
    store
}

/// One client connection to the server.
pub struct Conn {
    pub session: ImapServerSession,
    pub now: Timestamp,
    pub chunk: usize,
    pub received: Vec<u8>,
    pub events: Vec<(Timestamp, ImapServerEvent)>,
    pub closed: bool,
    /// `StoreChanged` outputs seen.
    pub changes: u32,
}

impl Conn {
    pub fn new(config: ImapServerConfig, now: Timestamp, chunk: usize) -> Self {
        let mut c = Conn {
            session: ImapServerSession::new(config, now),
            now,
            chunk: chunk.max(1),
            received: Vec::new(),
            events: Vec::new(),
            closed: false,
            changes: 0,
        };
        c.drain();
        c
    }

    /// Sends `bytes` in pieces; returns what the server answered since the last call.
    pub fn send(&mut self, store: &mut Mailstore, bytes: &[u8]) -> String {
        String::from_utf8_lossy(&self.send_bytes(store, bytes)).into_owned()
    }

    /// [`Conn::send`], the answer as bytes.
    pub fn send_bytes(&mut self, store: &mut Mailstore, bytes: &[u8]) -> Vec<u8> {
        for piece in bytes.chunks(self.chunk) {
            self.session.handle_bytes(piece, store, self.now);
            self.drain();
        }
        self.take_bytes()
    }

    /// Logs in and selects INBOX; forgets the answers.
    pub fn ready(&mut self, store: &mut Mailstore) {
        self.send(store, b"a1 LOGIN bob secret\r\na2 SELECT INBOX\r\n");
    }

    /// Runs the clock `secs` forward, firing the session's timers on the way.
    pub fn advance(&mut self, store: &mut Mailstore, secs: u64) -> String {
        let end = self.now + Duration::from_secs(secs);
        while let Some(due) = self.session.poll_timeout().filter(|t| *t <= end) {
            self.now = due.max(self.now);
            self.session.handle_timeout(store, self.now);
            self.drain();
        }
        self.now = end;
        self.take()
    }

    pub fn store_changed(&mut self, store: &mut Mailstore) -> String {
        self.session.handle_store_changed(store, self.now);
        self.drain();
        self.take()
    }

    pub fn take(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.received)).into_owned()
    }

    pub fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.received)
    }

    /// Collects what the session has output, without taking it.
    pub fn pump(&mut self) {
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(output) = self.session.poll_output() {
            match output {
                ImapServerOutput::Send(b) => {
                    assert!(!self.closed, "bytes after close");
                    self.received.extend_from_slice(&b);
                }
                ImapServerOutput::Close => self.closed = true,
                ImapServerOutput::StoreChanged => self.changes += 1,
                ImapServerOutput::Event(e) => self.events.push((self.now, e)),
            }
        }
    }
}

/// Without Dovecot's timing after a tagged reply (`(0.001 + 0.000 secs).` → `.`), as the
/// fixture recorder strips it.
pub fn untimed(answer: &[u8]) -> Vec<u8> {
    const TIMING: &[u8] = b" (0.001 + ";
    let mut out = Vec::with_capacity(answer.len());
    let mut rest = answer;
    while !rest.is_empty() {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(rest.len(), |p| p + 2);
        let line = &rest[..end];
        match line.windows(TIMING.len()).position(|w| w == TIMING) {
            Some(at) if line.ends_with(b" secs).\r\n") => {
                out.extend_from_slice(&line[..at]);
                out.extend_from_slice(b".\r\n");
            }
            _ => out.extend_from_slice(line),
        }
        rest = &rest[end..];
    }
    out
}

/// [`untimed`] as text.
pub fn untimed_text(answer: &str) -> String {
    String::from_utf8_lossy(&untimed(answer.as_bytes())).into_owned()
}
