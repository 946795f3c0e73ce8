//! An IMAP proxy session on a gateway node between a test client and the small IMAP server
//! (`imap_server.rs`), with a data center the test answers by hand: the harness of the IMAP
//! session tests. Bytes go both ways in chunks of `chunk` bytes, so that every test can run
//! with every split.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::gateway::Gateway;
use aptsim_core::imap::proxy::{ImapConfig, ImapEvent, MessageLog};
use aptsim_core::node::{Node, NodeOutput, UpstreamId};
use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::ProxyConfig;
use aptsim_core::verdict::{ThreatLevel, Thresholds, Verdict};

use super::imap_server::FakeImap;

pub const CONN: u64 = 1;

pub struct ImapWorld {
    pub node: Node,
    pub server: FakeImap,
    pub now: Timestamp,
    pub chunk: usize,
    pub to_client: Vec<u8>,
    /// Every upload, in order.
    pub uploads: Vec<Md5>,
    /// Submitted files grouped by the session output that asked for them (one group per
    /// message, I2), uploaded or waiting on another message's upload (X1).
    pub submissions: Vec<Vec<Md5>>,
    pub events: Vec<ImapEvent>,
    pub client_closed: bool,
    pub upstream_closed: bool,
    pub finished: bool,
    up: Option<UpstreamId>,
    pending: VecDeque<u8>,
    conn: u64,
    /// The last output was part of a submission (the next upload joins its group).
    in_submission: Option<(u64, u64)>,
}

impl ImapWorld {
    pub fn new(messages: &[Vec<u8>], policy: Policy, config: ImapConfig, chunk: usize) -> Self {
        Self::on(
            Gateway::new(Arc::new(policy)),
            FakeImap::new(messages),
            config,
            chunk,
        )
    }

    pub fn on(gw: Gateway, server: FakeImap, config: ImapConfig, chunk: usize) -> Self {
        let mut node = Node::new(gw, Arc::new(ProxyConfig::default())).with_first_upstream(100);
        node.set_imap_config(Arc::new(config));
        ImapWorld {
            node,
            server,
            now: Timestamp::ZERO,
            chunk: chunk.max(1),
            to_client: Vec::new(),
            uploads: Vec::new(),
            submissions: Vec::new(),
            events: Vec::new(),
            client_closed: false,
            upstream_closed: false,
            finished: false,
            up: None,
            pending: VecDeque::new(),
            conn: CONN,
            in_submission: None,
        }
    }

    /// A client connected, logged in and with INBOX selected; what it received so far is
    /// cleared.
    pub fn ready(messages: &[Vec<u8>], policy: Policy, config: ImapConfig, chunk: usize) -> Self {
        let mut w = Self::new(messages, policy, config, chunk);
        w.login();
        w
    }

    pub fn login(&mut self) {
        self.connect();
        self.client(b"a1 LOGIN bob secret\r\n");
        self.client(b"a2 SELECT INBOX\r\n");
        self.take_client();
    }

    pub fn connect(&mut self) {
        self.node.accept_imap(self.conn, "192.0.2.9", self.now);
        self.pump();
    }

    /// A new client connection (after the last one left): the same server and gateway.
    pub fn reconnect(&mut self) {
        self.conn += 1;
        self.server.reset_connection();
        self.client_closed = false;
        self.upstream_closed = false;
        self.finished = false;
        self.up = None;
        self.pending.clear();
        self.login();
    }

    pub fn client(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(self.chunk) {
            self.node.handle_client_bytes(self.conn, chunk, self.now);
        }
        self.pump();
    }

    pub fn client_leaves(&mut self) {
        self.node.handle_client_closed(self.conn, self.now);
        self.pump();
    }

    pub fn verdict(&mut self, md5: Md5, level: ThreatLevel) {
        let v = Verdict::from_level(level, &Thresholds::default());
        self.node.handle_verdict(md5, &v, self.now);
        self.pump();
    }

    pub fn unreachable(&mut self, md5: Md5) {
        self.node.handle_unreachable(md5, self.now);
        self.pump();
    }

    pub fn advance(&mut self, secs: u64) {
        let end = self.now + Duration::from_secs(secs);
        while let Some(t) = self.node.poll_timeout().filter(|t| *t <= end) {
            self.now = t.max(self.now);
            self.node.handle_timeout(self.now);
            self.pump();
        }
        self.now = end;
    }

    pub fn take_client(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.to_client)
    }

    pub fn take_client_text(&mut self) -> String {
        String::from_utf8_lossy(&self.take_client()).into_owned()
    }

    /// The records of the messages judged so far.
    pub fn message_logs(&self) -> Vec<MessageLog> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ImapEvent::Message(m) => Some((**m).clone()),
                _ => None,
            })
            .collect()
    }

    /// Carries every output out, and the server's answers back, until nothing moves.
    pub fn pump(&mut self) {
        loop {
            while let Some(output) = self.node.poll_output() {
                self.carry(output);
            }
            if self.pending.is_empty() || self.upstream_closed {
                break;
            }
            let Some(up) = self.up else { break };
            let bytes: Vec<u8> = self.pending.drain(..).collect();
            for chunk in bytes.chunks(self.chunk) {
                self.node.handle_upstream_bytes(up, chunk, self.now);
            }
            if self.server.closed {
                self.node.handle_upstream_closed(up, self.now);
                self.upstream_closed = true;
            }
        }
    }

    fn carry(&mut self, output: NodeOutput) {
        let submission = match &output {
            NodeOutput::Submitted { conn, txn, .. } => Some((*conn, *txn)),
            NodeOutput::Upload { .. } => self.in_submission,
            _ => None,
        };
        if let NodeOutput::Submitted { conn, txn, md5, .. } = &output {
            match self.submissions.last_mut() {
                Some(group) if self.in_submission == Some((*conn, *txn)) => group.push(*md5),
                _ => self.submissions.push(vec![*md5]),
            }
        }
        self.in_submission = submission;
        match output {
            NodeOutput::ToClient { conn, bytes } if conn == self.conn => {
                self.to_client.extend_from_slice(&bytes)
            }
            NodeOutput::ToUpstream { up, bytes } if Some(up) == self.up => {
                let answer = self.server.receive(&bytes);
                self.pending.extend(answer);
            }
            NodeOutput::Connect { up, .. } => {
                self.up = Some(up);
                self.node.handle_upstream_connected(up, self.now);
                self.pending.extend(super::imap_server::GREETING);
            }
            NodeOutput::CloseUpstream { up } if Some(up) == self.up => self.upstream_closed = true,
            NodeOutput::CloseClient { conn } if conn == self.conn => self.client_closed = true,
            NodeOutput::Upload { md5, .. } => self.uploads.push(md5),
            NodeOutput::ImapEvent { event, .. } => self.events.push(event),
            NodeOutput::Finished { conn } if conn == self.conn => self.finished = true,
            _ => {}
        }
    }
}
