//! A proxy session with a gateway and a record of everything that went out, for the
//! table-driven session tests (smtp_proxy.rs, smtp_limits.rs).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::gateway::Gateway;
use aptsim_core::policy::Policy;
use aptsim_core::smtp::proxy::{Event, Output, ProxyConfig, ProxySession, TxnResult};
use aptsim_core::verdict::{ThreatLevel, Thresholds, Verdict};
use aptsim_core::work::{Job, WorkId};

pub const EHLO_REPLY: &[u8] =
    b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-CHUNKING\r\n\
    250-STARTTLS\r\n250-8BITMIME\r\n250 DSN\r\n";

/// A session with a gateway and a record of everything that went out.
pub struct Harness {
    pub s: ProxySession,
    pub gw: Gateway,
    pub now: Timestamp,
    pub to_client: Vec<u8>,
    pub to_upstream: Vec<u8>,
    pub submits: Vec<Vec<Md5>>,
    /// Bytes carried by submissions, per file, when the gateway keeps them.
    pub submitted_bytes: Vec<Option<usize>>,
    pub events: Vec<Event>,
    pub connects: usize,
    pub client_closed: bool,
    pub upstream_closed: bool,
    /// Run jobs at once (the default); off, they wait in `work` for the test to finish.
    pub inline_work: bool,
    pub work: Vec<(WorkId, Job)>,
}

impl Harness {
    pub fn new(policy: Policy) -> Self {
        Self::with(policy, ProxyConfig::default())
    }

    pub fn with(policy: Policy, config: ProxyConfig) -> Self {
        Self::on(Gateway::new(Arc::new(policy)), config)
    }

    /// A session on `gw` (a gateway whose usage counts another harness's sessions too).
    pub fn on(gw: Gateway, config: ProxyConfig) -> Self {
        let s = ProxySession::new(Arc::new(config), "192.0.2.7", &gw, Timestamp::ZERO);
        let mut h = Harness {
            s,
            gw,
            now: Timestamp::ZERO,
            to_client: Vec::new(),
            to_upstream: Vec::new(),
            submits: Vec::new(),
            events: Vec::new(),
            connects: 0,
            client_closed: false,
            upstream_closed: false,
            inline_work: true,
            work: Vec::new(),
            submitted_bytes: Vec::new(),
        };
        h.drain();
        h
    }

    /// A session past the greeting, with the upstream connected and EHLO done.
    pub fn ready(policy: Policy) -> Self {
        Self::ready_with(policy, ProxyConfig::default())
    }

    /// As [`Harness::ready`], with these session limits.
    pub fn ready_with(policy: Policy, config: ProxyConfig) -> Self {
        Self::ready_on(Gateway::new(Arc::new(policy)), config)
    }

    /// As [`Harness::ready_with`], on `gw`.
    pub fn ready_on(gw: Gateway, config: ProxyConfig) -> Self {
        let mut h = Self::on(gw, config);
        h.s.handle_upstream_connected(&mut h.gw, h.now);
        h.upstream(b"220 mx.example ESMTP\r\n");
        h.client(b"EHLO client.example\r\n");
        h.upstream(EHLO_REPLY);
        h.take_client();
        h.take_upstream();
        h
    }

    pub fn drain(&mut self) {
        while let Some(o) = self.s.poll_output() {
            match o {
                Output::ToClient(b) => self.to_client.extend_from_slice(&b),
                Output::ToUpstream(b) => self.to_upstream.extend_from_slice(&b),
                Output::ConnectUpstream => self.connects += 1,
                Output::CloseUpstream => self.upstream_closed = true,
                Output::CloseClient => self.client_closed = true,
                Output::Work { id, job } if self.inline_work => {
                    let result = job.run(&AtomicBool::new(false));
                    self.s.handle_work_done(id, result, &mut self.gw, self.now);
                }
                Output::Work { id, job } => self.work.push((id, *job)),
                Output::Submit { files, .. } => {
                    let md5s: Vec<Md5> = files.iter().map(|f| f.md5).collect();
                    self.submitted_bytes
                        .extend(files.iter().map(|f| f.bytes.as_ref().map(Vec::len)));
                    for m in &md5s {
                        self.gw.claim_upload(*m, self.now);
                    }
                    self.submits.push(md5s);
                }
                Output::Event(e) => self.events.push(e),
            }
        }
    }

    pub fn client(&mut self, bytes: &[u8]) {
        self.s.handle_client_bytes(bytes, &mut self.gw, self.now);
        self.drain();
    }

    /// The client's FIN.
    pub fn eof(&mut self) {
        self.s.handle_client_eof(&mut self.gw, self.now);
        self.drain();
    }

    pub fn upstream(&mut self, bytes: &[u8]) {
        self.s.handle_upstream_bytes(bytes, &mut self.gw, self.now);
        self.drain();
    }

    pub fn verdict(&mut self, md5: Md5, level: ThreatLevel) {
        let v = Verdict::from_level(level, &Thresholds::default());
        self.gw.record_verdict(md5, &v, self.now);
        self.s.handle_verdict(&md5, &v, &mut self.gw, self.now);
        self.drain();
    }

    pub fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        if self.s.poll_timeout().is_some_and(|t| t <= self.now) {
            self.s.handle_timeout(&mut self.gw, self.now);
            self.drain();
        }
    }

    pub fn take_client(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.to_client)).into_owned()
    }

    pub fn take_upstream(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.to_upstream)).into_owned()
    }

    pub fn envelope(&mut self) {
        self.client(b"MAIL FROM:<alice@example.com>\r\n");
        self.upstream(b"250 2.1.0 Ok\r\n");
        self.client(b"RCPT TO:<bob@example.net>\r\n");
        self.upstream(b"250 2.1.5 Ok\r\n");
        self.take_client();
        self.take_upstream();
    }

    /// An envelope and a message with one attachment (`a.pdf`, 300 bytes of `seed`), which
    /// a hold-mode session holds; the attachment's MD5.
    pub fn hold_one(&mut self, seed: &str) -> Md5 {
        self.envelope();
        let file = super::content(seed, 300);
        self.send_message(&super::message(&[("a.pdf", file.clone())]));
        Md5::of(&file)
    }

    /// The held file judged clean and the message relayed: DATA, 354, the body out and its
    /// reply still to come.
    pub fn relay_clean(&mut self, md5: Md5) {
        self.verdict(md5, ThreatLevel::Clean);
        assert_eq!(self.take_upstream(), "DATA\r\n");
        self.upstream(b"354 go\r\n");
        assert!(self.take_upstream().ends_with("\r\n.\r\n"));
    }

    pub fn send_message(&mut self, raw: &[u8]) {
        self.client(b"DATA\r\n");
        assert!(self.take_client().starts_with("354 "));
        let mut wire = aptsim_core::smtp::wire::data::dot_stuff(raw);
        // dot_stuff ends with the terminating dot line already.
        self.client(&std::mem::take(&mut wire));
    }

    pub fn transactions(&self) -> Vec<TxnResult> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Transaction(t) => Some(t.result),
                _ => None,
            })
            .collect()
    }
}
