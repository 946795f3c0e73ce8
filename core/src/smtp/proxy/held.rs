//! The message side of the proxy session: from the end of DATA to the decision and the body
//! relayed, and the inspections that outlive their transaction.
//!
//! A received message goes through two pieces of heavy work the session hands its driver
//! ([`crate::work`]): extracting its files, then — once the engine has decided to deliver —
//! writing the body to relay (rewritten if the decision says so, dot-stuffed). Between the
//! two, the decision engine ([`Inspection`]) holds or releases it; its submissions go out as
//! [`Output::Submit`], carrying the files' bytes when the gateway keeps them. An inspection
//! whose transaction has ended (released unjudged, S1; its client gone, S5; tempfailed, X2)
//! goes on in the background, so later verdicts still reach the cache and exposures (X5)
//! are seen.

use super::*;

/// Where a message's inspection stands.
#[derive(Debug)]
pub(super) enum Stage {
    /// The driver is extracting its files.
    Extracting {
        /// The extraction job.
        work: WorkId,
        /// The message, for the stand-in extraction if the job fails.
        message: Arc<[u8]>,
    },
    /// The engine judges it (boxed: an inspection is a few hundred bytes, the other stage
    /// a few words).
    Judging(Box<Inspection>),
}

impl Stage {
    fn inspection(&mut self) -> Option<&mut Inspection> {
        match self {
            Stage::Judging(i) => Some(i),
            Stage::Extracting { .. } => None,
        }
    }

    fn is_finished(&self) -> bool {
        matches!(self, Stage::Judging(i) if i.is_finished())
    }

    /// Bytes this stage keeps: the message while it is extracted, then the files still to
    /// be submitted.
    fn held_bytes(&self) -> usize {
        match self {
            Stage::Extracting { message, .. } => message.len(),
            Stage::Judging(i) => i.pending_bytes(),
        }
    }
}

/// The current transaction's message, from the end of its data to the decision.
#[derive(Debug)]
pub(super) struct Held {
    pub(super) txn: u64,
    pub(super) since: Timestamp,
    pub(super) message: Arc<[u8]>,
    pub(super) stage: Stage,
}

/// An inspection still running after its transaction ended: a release-mode message whose
/// files are being analysed (X5), or a held one whose client left or was tempfailed (S5).
#[derive(Debug)]
pub(super) struct Background {
    pub(super) txn: u64,
    pub(super) stage: Stage,
    /// Set for a message released unjudged and accepted upstream.
    pub(super) delivered_at: Option<Timestamp>,
}

impl ProxySession {
    /// The result of a job from [`Output::Work`]. A failed extraction makes the whole
    /// message one unscannable piece (fail closed); a failed body answers `451`.
    pub fn handle_work_done(
        &mut self,
        id: WorkId,
        result: Result<Done, WorkFailed>,
        gw: &mut Gateway,
        now: Timestamp,
    ) {
        self.now = now;
        if self.body_work.is_some_and(|(w, _)| w == id) {
            self.body_work = None;
            match result {
                Ok(Done::SmtpBody(bytes)) => {
                    if matches!(self.client, ClientState::Delivering) {
                        self.ops.push_back(Op::Data);
                        self.ops.push_back(Op::Body { bytes });
                    }
                }
                Ok(Done::Extracted(_) | Done::ImapCopy(_)) | Err(_) => {
                    self.delivery_failed("the message could not be prepared for relaying")
                }
            }
        } else {
            self.extracted(id, result, gw, now);
        }
        self.drive(gw, now);
        self.pump(gw, now);
    }

    /// The message's data ended: refuse it, or hand its extraction to the driver.
    pub(super) fn end_of_data(
        &mut self,
        received: Result<Vec<u8>, DataError>,
        gw: &mut Gateway,
        now: Timestamp,
    ) {
        let message = match received {
            Ok(m) => m,
            Err(e) => {
                let (r, result) = match e {
                    DataError::TooBig => (
                        Reply::new(552, "5.3.4 Message size exceeds fixed limit"),
                        TxnResult::Refused,
                    ),
                    DataError::LineTooLong => (
                        Reply::new(500, "5.5.2 Line too long (RFC 5321 4.5.3.1.6)"),
                        TxnResult::Refused,
                    ),
                    DataError::BareLineEnd => (
                        Reply::new(550, "5.5.2 Bare LF or CR in message data (RFC 5321 2.3.8)"),
                        TxnResult::Refused,
                    ),
                    DataError::InsufficientStorage => (
                        Reply::new(451, "4.3.1 Insufficient system storage, try again later"),
                        TxnResult::Tempfailed,
                    ),
                };
                self.log_txn(Vec::new(), Action::Allow, result, None, Some(r.clone()));
                self.reply(r);
                self.finish_txn(true);
                return;
            }
        };
        let message: Arc<[u8]> = Arc::from(message);
        let work = self.next_work();
        self.held = Some(Held {
            txn: self.txn.id,
            since: now,
            message: message.clone(),
            stage: Stage::Extracting {
                work,
                message: message.clone(),
            },
        });
        self.client = ClientState::Held;
        self.out.push_back(Output::Work {
            id: work,
            job: Box::new(Job::Extract {
                message,
                limits: gw.policy.limits.clone(),
                keep_contents: gw.submit_bytes,
            }),
        });
    }

    /// An extraction came back: the engine starts on the message, held or in the background.
    fn extracted(
        &mut self,
        id: WorkId,
        result: Result<Done, WorkFailed>,
        gw: &mut Gateway,
        now: Timestamp,
    ) {
        let waiting =
            |stage: &Stage| matches!(stage, Stage::Extracting { work, .. } if *work == id);
        let stage = match self.held.as_mut() {
            Some(h) if waiting(&h.stage) => Some((&mut h.stage, h.since, true)),
            _ => self
                .background
                .iter_mut()
                .find(|b| waiting(&b.stage))
                .map(|b| (&mut b.stage, now, false)),
        };
        let Some((stage, since, held)) = stage else {
            return;
        };
        let Stage::Extracting { message, .. } = stage else {
            return;
        };
        let extraction = match result {
            Ok(Done::Extracted(x)) => x,
            Ok(Done::SmtpBody(_) | Done::ImapCopy(_)) | Err(_) => {
                mime::not_extracted(message, Unscannable::Cancelled)
            }
        };
        let mut inspection = Inspection::with_extraction(
            Flavour::Smtp,
            extraction,
            gw.policy.clone(),
            &*gw.cache,
            now,
        );
        // X2 counts from the end of the data, not from when the files were found.
        inspection.set_started(since);
        let holds = inspection.holds();
        *stage = Stage::Judging(Box::new(inspection));
        if held {
            let txn = self.txn.id;
            self.drive(gw, now);
            if holds && self.held.is_some() {
                self.emit(Event::HoldStarted { txn });
            }
        }
    }

    /// Collects uploads from every inspection, acts on a decision, drops what is finished.
    pub(super) fn drive(&mut self, gw: &mut Gateway, now: Timestamp) {
        let mut submits = Vec::new();
        let held = self.held.iter_mut().map(|h| (h.txn, &mut h.stage));
        let background = self.background.iter_mut().map(|b| (b.txn, &mut b.stage));
        for (txn, stage) in held.chain(background) {
            if let Some(inspection) = stage.inspection() {
                while let Some(sub) = inspection.poll_submission(&*gw.cache, now) {
                    submits.push((txn, sub.files));
                }
            }
        }
        for (txn, files) in submits {
            self.out.push_back(Output::Submit { txn, files });
        }
        let decided = self
            .held
            .as_mut()
            .and_then(|h| h.stage.inspection())
            .and_then(Inspection::poll_outcome);
        if let Some(outcome) = decided
            && let Some(held) = self.held.take()
        {
            self.apply(held, outcome, gw, now);
        }
        self.background.retain(|b| !b.stage.is_finished());
    }

    fn apply(&mut self, held: Held, outcome: Outcome, gw: &mut Gateway, now: Timestamp) {
        let waited = now.saturating_since(held.since);
        let held_it = matches!(&held.stage, Stage::Judging(i) if i.holds());
        let hold = held_it.then_some(waited);
        self.emit(Event::Decided {
            txn: held.txn,
            outcome: Box::new(outcome.clone()),
            held: hold,
        });
        if let Some(d) = outcome.block_for {
            let until = now + d;
            gw.block(&self.site, until);
            self.emit(Event::SiteBlocked {
                site: self.site.clone(),
                until,
            });
        }
        let files = outcome.files.clone();
        if hold.is_some() {
            // X2 protects until the body is relayed, not only until the decision.
            self.relay_deadline = gw.policy.tempfail_deadline.map(|d| held.since + d);
        }
        let (result, reply) = match outcome.decision {
            Decision::Deliver => {
                self.prepare_body(held.message.clone(), None, gw);
                (TxnResult::Delivered, None)
            }
            Decision::DeliverRewritten(rewrite) => {
                self.prepare_body(held.message.clone(), Some(rewrite), gw);
                (TxnResult::Delivered, None)
            }
            Decision::Quarantine => {
                self.emit(Event::Quarantined {
                    txn: held.txn,
                    message: held.message.clone(),
                });
                (
                    TxnResult::Quarantined,
                    Some(Reply::new(250, "2.0.0 Message accepted")),
                )
            }
            Decision::Reject(text) => (TxnResult::Denied, Some(Reply::new(554, text))),
            Decision::Tempfail(text) => (TxnResult::Tempfailed, Some(Reply::new(451, text))),
        };
        self.log_txn(files, outcome.action, result, hold, reply.clone());
        if let Some(r) = reply {
            self.reply(r);
            self.finish_txn(true);
        }
        if !held.stage.is_finished() {
            self.background.push(Background {
                txn: held.txn,
                stage: held.stage,
                delivered_at: None,
            });
        }
    }

    /// Hands the writing of the body to relay to the driver; DATA goes upstream when it is
    /// back.
    fn prepare_body(&mut self, message: Arc<[u8]>, rewrite: Option<Rewrite>, gw: &Gateway) {
        self.client = ClientState::Delivering;
        let id = self.next_work();
        self.body_work = Some((id, message.len()));
        let header = self.received_header(gw);
        self.out.push_back(Output::Work {
            id,
            job: Box::new(Job::SmtpBody {
                message,
                rewrite,
                limits: gw.policy.limits.clone(),
                header,
            }),
        });
    }

    /// The client left with a message held: it is never delivered later (S5), and its
    /// inspection goes on in the background so that the retry finds the cache.
    pub(super) fn abandon_held(&mut self, now: Timestamp) -> bool {
        let Some(held) = self.held.take() else {
            return false;
        };
        let files = held.files_so_far();
        self.log_txn(
            files,
            Action::Allow,
            TxnResult::Abandoned,
            Some(now.saturating_since(held.since)),
            None,
        );
        self.background.push(Background {
            txn: held.txn,
            stage: held.stage,
            delivered_at: None,
        });
        true
    }

    /// A verdict, already recorded in the gateway. Returns whether any of this session's
    /// messages had the file.
    pub fn handle_verdict(
        &mut self,
        md5: &Md5,
        verdict: &Verdict,
        gw: &mut Gateway,
        now: Timestamp,
    ) -> bool {
        self.now = now;
        let mut relevant = false;
        if let Some(inspection) = self.held.as_mut().and_then(|h| h.stage.inspection()) {
            relevant |= inspection.handle_verdict(md5, verdict, now);
        }
        let policy = gw.policy.clone();
        let mut exposures = Vec::new();
        for bg in &mut self.background {
            let Some(inspection) = bg.stage.inspection() else {
                continue;
            };
            if inspection.handle_verdict(md5, verdict, now) {
                relevant = true;
                if let Some(at) = bg.delivered_at
                    && policy.level(verdict.level).action != Action::Allow
                {
                    exposures.push(Event::Exposure {
                        txn: bg.txn,
                        md5: *md5,
                        level: verdict.level,
                        window: now.saturating_since(at),
                    });
                }
            }
        }
        for e in exposures {
            self.emit(e);
        }
        self.drive(gw, now);
        self.pump(gw, now);
        relevant
    }

    /// The data center refused the upload of `md5` (S7).
    pub fn handle_unreachable(&mut self, md5: &Md5, gw: &mut Gateway, now: Timestamp) {
        self.now = now;
        for inspection in self.inspections() {
            inspection.handle_unreachable(md5, now);
        }
        self.drive(gw, now);
        self.pump(gw, now);
    }

    /// Every inspection the engine is running, held or in the background.
    pub(super) fn inspections(&mut self) -> impl Iterator<Item = &mut Inspection> {
        let held = self.held.iter_mut().map(|h| &mut h.stage);
        let background = self.background.iter_mut().map(|b| &mut b.stage);
        held.chain(background).filter_map(Stage::inspection)
    }

    /// Adds the MD5 of every file of every inspection to `out`: the verdicts this session
    /// acts on (the node hands a verdict only to the sessions that have its file).
    pub fn watched_files(&self, out: &mut Vec<Md5>) {
        let held = self.held.iter().map(|h| &h.stage);
        let background = self.background.iter().map(|b| &b.stage);
        for stage in held.chain(background) {
            if let Stage::Judging(inspection) = stage {
                out.extend(inspection.md5s());
            }
        }
    }

    /// Bytes this session holds now (for the gateway's `max_held_bytes`): data being
    /// received, the held message, the body being written or waiting to go, and files kept
    /// until they are submitted.
    pub(super) fn held_bytes(&self) -> usize {
        let receiving = match &self.client {
            ClientState::Data(r) => r.len(),
            _ => 0,
        };
        // While it is extracted, the stage shares the held message's bytes.
        let held = self.held.as_ref().map_or(0, |h| match &h.stage {
            Stage::Extracting { .. } => h.message.len(),
            Stage::Judging(i) => h.message.len() + i.pending_bytes(),
        });
        let body = self.body_work.map_or(0, |(_, len)| len);
        let queued: usize = self
            .ops
            .iter()
            .map(|op| match op {
                Op::Body { bytes } => bytes.len(),
                _ => 0,
            })
            .sum();
        let background: usize = self.background.iter().map(|b| b.stage.held_bytes()).sum();
        self.client_in.unread().len() + receiving + held + body + queued + background
    }

    /// Prepares the transaction record; it is emitted with the final reply.
    pub(super) fn log_txn(
        &mut self,
        files: Vec<FileOutcome>,
        action: Action,
        result: TxnResult,
        held: Option<Duration>,
        reply: Option<Reply>,
    ) {
        let log = TxnLog {
            txn: self.txn.id,
            from: self.txn.from.clone().unwrap_or_default(),
            rcpts: self.txn.rcpts.clone(),
            files,
            action,
            result,
            held,
            reply,
        };
        if matches!(result, TxnResult::Delivered) {
            self.pending_log = Some(log);
        } else {
            self.emit(Event::Transaction(Box::new(log)));
        }
    }

    fn next_work(&mut self) -> WorkId {
        self.next_work += 1;
        self.next_work
    }
}

impl Held {
    /// The files as far as they are known, each with its level so far and no action (the
    /// message was never decided): empty while its extraction is still out.
    pub(super) fn files_so_far(&self) -> Vec<FileOutcome> {
        let Stage::Judging(inspection) = &self.stage else {
            return Vec::new();
        };
        let extraction = inspection.extraction();
        let verdicts: Vec<_> = inspection.verdicts().collect();
        extraction
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let v = verdicts
                    .iter()
                    .find(|(m, _)| *m == f.md5)
                    .and_then(|(_, v)| *v);
                FileOutcome {
                    file: i,
                    md5: f.md5,
                    name: f.name.clone(),
                    level: v.map_or(ThreatLevel::Clean, |v| v.level),
                    score: v.map_or(0, |v| v.score),
                    threat: v.and_then(|v| v.threat.clone()),
                    action: Action::Allow,
                    source: crate::inspect::Source::Released,
                }
            })
            .collect()
    }
}
