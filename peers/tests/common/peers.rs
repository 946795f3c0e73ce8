//! Helpers for tests that drive the SMTP peer machines.

use aptsim_core::clock::Timestamp;
use aptsim_core::smtp::wire::reply::Reply;
use aptsim_peers::smtp::presets::SenderTimeouts;
use aptsim_peers::smtp::receiver::{
    ReceivedMessage, ReceiverConfig, ReceiverOutput, ReceiverSession,
};
use aptsim_peers::smtp::sender::{AttemptResult, SenderEvent, SenderOutput, SenderSession};

use super::t;

pub const FROM: &str = "alice@example.com";
pub const BOB: &str = "bob@example.net";

/// A message that exercises dot-stuffing and LF line ends, besides an attachment.
pub fn tricky_message() -> Vec<u8> {
    let mut m = b"From: alice@example.com\nTo: bob@example.net\nSubject: dots\n\n\
        .leading dot\n..two dots\n.\nlast line without a line end"
        .to_vec();
    m.extend_from_slice(b"\n");
    m
}

pub fn sender(
    timeouts: SenderTimeouts,
    rcpts: &[&str],
    raw: &[u8],
    now: Timestamp,
) -> SenderSession {
    SenderSession::new(
        timeouts,
        "mta.example.com",
        FROM,
        rcpts.iter().map(|r| r.to_string()).collect(),
        raw,
        now,
    )
}

/// A sender and a receiver joined by a zero-latency wire.
pub struct Peers {
    pub now: Timestamp,
    pub sender: SenderSession,
    pub receiver: ReceiverSession,
    /// Every transfer is fed in pieces of this size.
    pub chunk: usize,
    /// Drop everything the receiver says once it has accepted a message (a server that
    /// hangs after the final dot).
    pub mute_after_delivery: bool,
    pub muted: bool,
    pub to_server: Vec<u8>,
    pub to_client: Vec<u8>,
    pub delivered: Vec<ReceivedMessage>,
    pub events: Vec<(Timestamp, SenderEvent)>,
    pub sender_closed: bool,
    pub receiver_closed: bool,
}

impl Peers {
    /// The sender connects to the receiver at `now`.
    pub fn new(sender: SenderSession, config: ReceiverConfig, now: Timestamp) -> Self {
        let mut p = Peers {
            now,
            sender,
            receiver: ReceiverSession::new(config, now),
            chunk: usize::MAX,
            mute_after_delivery: false,
            muted: false,
            to_server: Vec::new(),
            to_client: Vec::new(),
            delivered: Vec::new(),
            events: Vec::new(),
            sender_closed: false,
            receiver_closed: false,
        };
        p.sender.handle_connected(p.now);
        p
    }

    pub fn deliver(message: &[u8], rcpts: &[&str], config: ReceiverConfig) -> Self {
        let mut p = Peers::new(
            sender(SenderTimeouts::rfc5321(), rcpts, message, Timestamp::ZERO),
            config,
            Timestamp::ZERO,
        );
        p.run(t(3_600));
        p
    }

    /// Moves bytes until both sides are quiet, then time to the next deadline, until the
    /// sender is done or `limit`.
    pub fn run(&mut self, limit: Timestamp) {
        let mut fired = None;
        loop {
            let mut moved = false;
            while let Some(o) = self.sender.poll_output() {
                moved = true;
                match o {
                    SenderOutput::Send(bytes) => {
                        self.to_server.extend_from_slice(&bytes);
                        if !self.receiver_closed {
                            for piece in bytes.chunks(self.chunk) {
                                self.receiver.handle_bytes(piece, self.now);
                            }
                        }
                    }
                    SenderOutput::Close => {
                        self.sender_closed = true;
                        if !self.receiver_closed {
                            self.receiver_closed = true;
                            self.receiver.handle_closed(self.now);
                        }
                    }
                    // The receiver model reads until QUIT; a FIN adds nothing it acts on.
                    SenderOutput::HalfClose => {}
                    SenderOutput::Event(e) => self.events.push((self.now, e)),
                }
            }
            while let Some(o) = self.receiver.poll_output() {
                moved = true;
                match o {
                    ReceiverOutput::Delivered(m) => {
                        self.delivered.push(m);
                        self.muted |= self.mute_after_delivery;
                    }
                    _ if self.muted => {}
                    ReceiverOutput::Send(bytes) => {
                        self.to_client.extend_from_slice(&bytes);
                        if !self.sender_closed {
                            for piece in bytes.chunks(self.chunk) {
                                self.sender.handle_bytes(piece, self.now);
                            }
                        }
                    }
                    ReceiverOutput::Close => {
                        self.receiver_closed = true;
                        if !self.sender_closed {
                            self.sender.handle_closed(self.now);
                        }
                    }
                }
            }
            if moved {
                fired = None;
                continue;
            }
            if self.sender.is_finished() {
                return;
            }
            let next = [self.sender.poll_timeout(), self.receiver.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at <= limit => {
                    assert_ne!(fired, Some(at), "a deadline was due and nothing happened");
                    fired = Some(at);
                    self.now = self.now.max(at);
                    self.sender.handle_timeout(self.now);
                    self.receiver.handle_timeout(self.now);
                }
                _ => return,
            }
        }
    }

    pub fn result(&self) -> AttemptResult {
        self.sender.result().cloned().expect("the attempt is over")
    }

    pub fn event_at(&self, want: &SenderEvent) -> Option<Timestamp> {
        self.events
            .iter()
            .find(|(_, e)| e == want)
            .map(|(at, _)| *at)
    }
}

pub fn delivered_reply(result: &AttemptResult) -> &Reply {
    match result {
        AttemptResult::Delivered { reply, .. } => reply,
        other => panic!("not delivered: {other:?}"),
    }
}
