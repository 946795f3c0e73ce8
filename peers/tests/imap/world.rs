//! The real IMAP proxy session of a gateway node (`Node::accept_imap`, core/src/imap/proxy)
//! between scripted client bytes and the simulated IMAP server (one [`ImapServerSession`]
//! per upstream connection, over one [`Mailstore`]), with a data center the test answers by
//! hand. Bytes go both ways in chunks of `chunk` bytes; the clock runs the node's and the
//! server's timers together. What core/tests/common/imap_world.rs does with its fake server.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::gateway::Gateway;
use aptsim_core::imap::proxy::{ImapConfig, ImapEvent};
use aptsim_core::node::{Node, NodeOutput, UpstreamId};
use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::ProxyConfig;
use aptsim_core::verdict::{ThreatLevel, Thresholds, Verdict};
use aptsim_peers::imap::{
    ImapServerConfig, ImapServerEvent, ImapServerOutput, ImapServerSession, Mailstore,
};

const CONN: u64 = 1;

pub struct ProxyWorld {
    pub node: Node,
    pub store: Mailstore,
    pub server_config: ImapServerConfig,
    pub server: Option<(UpstreamId, ImapServerSession)>,
    pub now: Timestamp,
    pub chunk: usize,
    pub to_client: Vec<u8>,
    pub uploads: Vec<Md5>,
    pub proxy_events: Vec<ImapEvent>,
    pub server_events: Vec<(Timestamp, ImapServerEvent)>,
    /// What the proxy sent the server, line by line, with the time.
    pub upstream_lines: Vec<(Timestamp, String)>,
    pub client_closed: bool,
    pub upstream_closed: bool,
    to_server: VecDeque<(UpstreamId, Vec<u8>)>,
}

impl ProxyWorld {
    pub fn new(store: Mailstore, policy: Policy, config: ImapConfig, chunk: usize) -> Self {
        let gw = Gateway::new(Arc::new(policy));
        let mut node = Node::new(gw, Arc::new(ProxyConfig::default())).with_first_upstream(100);
        node.set_imap_config(Arc::new(config));
        ProxyWorld {
            node,
            store,
            server_config: ImapServerConfig::default(),
            server: None,
            now: Timestamp::ZERO,
            chunk: chunk.max(1),
            to_client: Vec::new(),
            uploads: Vec::new(),
            proxy_events: Vec::new(),
            server_events: Vec::new(),
            upstream_lines: Vec::new(),
            client_closed: false,
            upstream_closed: false,
            to_server: VecDeque::new(),
        }
    }

    pub fn connect(&mut self) {
        self.node.accept_imap(CONN, "192.0.2.9", self.now);
        self.pump();
    }

    pub fn client(&mut self, bytes: &[u8]) {
        for piece in bytes.chunks(self.chunk) {
            self.node.handle_client_bytes(CONN, piece, self.now);
        }
        self.pump();
    }

    pub fn verdict(&mut self, md5: Md5, level: ThreatLevel) {
        let v = Verdict::from_level(level, &Thresholds::default());
        self.node.handle_verdict(md5, &v, self.now);
        self.pump();
    }

    pub fn take_client_text(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.to_client)).into_owned()
    }

    /// Runs the clock `secs` forward through the node's and the server's timers.
    pub fn advance(&mut self, secs: u64) {
        let end = self.now + Duration::from_secs(secs);
        loop {
            let node = self.node.poll_timeout();
            let server = self.server.as_ref().and_then(|(_, s)| s.poll_timeout());
            let Some(due) = [node, server]
                .into_iter()
                .flatten()
                .min()
                .filter(|t| *t <= end)
            else {
                break;
            };
            self.now = due.max(self.now);
            if node == Some(due) {
                self.node.handle_timeout(self.now);
            }
            if server == Some(due)
                && let Some((_, s)) = &mut self.server
            {
                s.handle_timeout(&mut self.store, self.now);
            }
            self.pump();
        }
        self.now = end;
    }

    /// Carries every output until nothing moves.
    pub fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(output) = self.node.poll_output() {
                moved = true;
                self.carry(output);
            }
            if let Some((up, session)) = &mut self.server {
                let up = *up;
                while let Some((to, bytes)) = self.to_server.pop_front() {
                    if to == up {
                        for piece in bytes.chunks(self.chunk) {
                            session.handle_bytes(piece, &mut self.store, self.now);
                        }
                    }
                }
                while let Some(output) = session.poll_output() {
                    moved = true;
                    match output {
                        ImapServerOutput::Send(bytes) => {
                            for piece in bytes.chunks(self.chunk) {
                                self.node.handle_upstream_bytes(up, piece, self.now);
                            }
                        }
                        ImapServerOutput::Close => {
                            self.node.handle_upstream_closed(up, self.now);
                            self.upstream_closed = true;
                        }
                        ImapServerOutput::Event(e) => self.server_events.push((self.now, e)),
                        // One server session here: nobody else to tell.
                        ImapServerOutput::StoreChanged => {}
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn carry(&mut self, output: NodeOutput) {
        match output {
            NodeOutput::ToClient { bytes, .. } => self.to_client.extend_from_slice(&bytes),
            NodeOutput::ToUpstream { up, bytes } => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                for line in text.split_terminator("\r\n") {
                    self.upstream_lines.push((self.now, line.to_owned()));
                }
                self.to_server.push_back((up, bytes));
            }
            NodeOutput::Connect { up, .. } => {
                let session = ImapServerSession::new(self.server_config.clone(), self.now);
                self.server = Some((up, session));
                self.node.handle_upstream_connected(up, self.now);
            }
            NodeOutput::CloseUpstream { up } => {
                if let Some((ours, session)) = &mut self.server
                    && *ours == up
                {
                    session.handle_closed(self.now);
                    self.upstream_closed = true;
                }
            }
            NodeOutput::CloseClient { .. } => self.client_closed = true,
            NodeOutput::Upload { md5, .. } => self.uploads.push(md5),
            NodeOutput::ImapEvent { event, .. } => self.proxy_events.push(event),
            _ => {}
        }
    }
}
