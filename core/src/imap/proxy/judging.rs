//! One message being judged for a held fetch: its files found (a job), the decision
//! engine's IMAP flavour (I1, I2), the served copy written (a job) for a rewritten one, and
//! its log record. A message whose client left (I3) is judged on in the background, so the
//! verdicts reach the cache.

use std::sync::Arc;
use std::time::Duration;

use super::ImapSession;
use super::events::{ImapEvent, MessageLog, MessageResult, Output};
use super::hold::Result_;
use super::judged::Served;
use crate::clock::Timestamp;
use crate::gateway::Gateway;
use crate::inspect::{Decision, Flavour, Inspection, Outcome};
use crate::mime;
use crate::rewrite::Rewrite;
use crate::unscannable::Unscannable;
use crate::work::{Done, Job, WorkFailed, WorkId};

/// One message being judged.
#[derive(Debug)]
pub(super) struct Judging {
    pub(super) txn: u64,
    pub(super) uid: u32,
    /// Its sequence number now (kept in step with EXPUNGE); `None` once it was expunged.
    pub(super) seq: Option<u32>,
    pub(super) since: Timestamp,
    pub(super) message: Arc<[u8]>,
    /// Parts holding none of its files were served before it was decided (K-9's text
    /// parts); it is judged on in the background.
    pub(super) parts_served: bool,
    stage: Stage,
}

#[derive(Debug)]
enum Stage {
    /// Its files are being found.
    Extracting(WorkId),
    /// The engine judges it.
    Judging(Box<Inspection>),
    /// Decided to be rewritten: the copy is being written.
    Copying { work: WorkId, outcome: Box<Outcome> },
    /// Decided, with what to serve.
    Decided {
        outcome: Option<Box<Outcome>>,
        result: Result_,
    },
}

impl ImapSession {
    /// Adds the MD5 of every file of every message being judged to `out`: the verdicts this
    /// session acts on (the node hands a verdict only to the sessions that have its file).
    pub fn watched_files(&self, out: &mut Vec<crate::digest::Md5>) {
        let held = self.hold.iter().flat_map(|h| h.judging.iter());
        for judging in held.chain(self.background.iter()) {
            out.extend(judging.md5s());
        }
    }
}

impl Judging {
    /// The server expunged the message at `seq`: this one's number moves down past it, or
    /// is gone if it was this one.
    pub(super) fn expunged(&mut self, seq: u32) {
        self.seq = match self.seq {
            Some(s) if s == seq => None,
            Some(s) if s > seq => Some(s - 1),
            other => other,
        };
    }

    /// A message fetched to judge; its files are being found by job `work`.
    pub(super) fn new(
        txn: u64,
        uid: u32,
        seq: u32,
        since: Timestamp,
        message: Arc<[u8]>,
        work: WorkId,
    ) -> Self {
        Judging {
            txn,
            uid,
            seq: Some(seq),
            since,
            message,
            parts_served: false,
            stage: Stage::Extracting(work),
        }
    }

    pub(super) fn waits_for(&self, id: WorkId) -> bool {
        matches!(self.stage, Stage::Extracting(w) | Stage::Copying { work: w, .. } if w == id)
    }

    /// The MD5s of its files, once they are found and while the engine judges them.
    fn md5s(&self) -> impl Iterator<Item = &crate::digest::Md5> {
        let inspection = match &self.stage {
            Stage::Judging(i) => Some(i),
            _ => None,
        };
        inspection.into_iter().flat_map(|i| i.md5s())
    }

    pub(super) fn inspection(&mut self) -> Option<&mut Inspection> {
        match &mut self.stage {
            Stage::Judging(i) => Some(i),
            _ => None,
        }
    }

    /// Where the message's files lie in it (each attachment's part, or an unwalked piece),
    /// once they are found.
    pub(super) fn file_spans(&self) -> Option<Vec<std::ops::Range<usize>>> {
        match &self.stage {
            Stage::Judging(i) => Some(
                i.extraction()
                    .attachments
                    .iter()
                    .map(|a| a.span.clone())
                    .collect(),
            ),
            _ => None,
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Timestamp> {
        match &self.stage {
            Stage::Judging(i) => i.poll_timeout(),
            _ => None,
        }
    }

    pub(super) fn handle_timeout(&mut self, now: Timestamp) {
        if let Stage::Judging(i) = &mut self.stage
            && i.poll_timeout().is_some_and(|t| t <= now)
        {
            i.handle_timeout(now);
        }
    }

    pub(super) fn is_decided(&self) -> bool {
        matches!(self.stage, Stage::Decided { .. })
    }

    /// A job came back: the files found (the engine starts), or the copy written.
    pub(super) fn work_done(
        &mut self,
        result: Result<Done, WorkFailed>,
        gw: &mut Gateway,
        now: Timestamp,
    ) {
        match std::mem::replace(
            &mut self.stage,
            Stage::Decided {
                outcome: None,
                result: Err(String::new()),
            },
        ) {
            Stage::Extracting(_) => {
                let extraction = match result {
                    Ok(Done::Extracted(x)) => x,
                    // Fail closed: what could not be read is one unscannable piece.
                    _ => mime::not_extracted(&self.message, Unscannable::Cancelled),
                };
                let mut inspection = Inspection::with_extraction(
                    Flavour::Imap,
                    extraction,
                    gw.policy.clone(),
                    &*gw.cache,
                    now,
                );
                inspection.set_started(self.since);
                self.stage = Stage::Judging(Box::new(inspection));
            }
            Stage::Copying { outcome, .. } => {
                let result = match result {
                    Ok(Done::ImapCopy(copy)) => Ok(Served::Rewritten(Arc::from(copy))),
                    _ => Err("the message could not be rewritten".to_owned()),
                };
                self.stage = Stage::Decided {
                    outcome: Some(outcome),
                    result,
                };
            }
            other => self.stage = other,
        }
    }
}

impl ImapSession {
    /// Collects submissions from every inspection, acts on decisions, files what is decided.
    pub(super) fn drive(&mut self, gw: &mut Gateway, now: Timestamp) {
        let client_open = self.client_open;
        let hold = self
            .hold
            .iter_mut()
            .flat_map(|h| h.judging.iter_mut().map(|j| (j, true)));
        let background = self.background.iter_mut().map(|j| (j, false));
        for (j, held) in hold.chain(background) {
            let Stage::Judging(inspection) = &mut j.stage else {
                continue;
            };
            while let Some(sub) = inspection.poll_submission(&*gw.cache, now) {
                self.out.push_back(Output::Submit {
                    txn: j.txn,
                    files: sub.files,
                });
            }
            let Some(outcome) = inspection.poll_outcome() else {
                continue;
            };
            self.out.push_back(Output::Event(ImapEvent::Decided {
                uid: j.uid,
                outcome: Box::new(outcome.clone()),
                held: now.saturating_since(j.since),
            }));
            if let Some(d) = outcome.block_for {
                gw.block(&self.site, now + d);
            }
            j.stage = match &outcome.decision {
                // Only a client still waiting needs the copy written.
                Decision::DeliverRewritten(plan) if held && client_open => {
                    self.next_work += 1;
                    self.out.push_back(Output::Work {
                        id: self.next_work,
                        job: Box::new(Job::ImapCopy {
                            message: j.message.clone(),
                            rewrite: plan.clone(),
                            limits: gw.policy.limits.clone(),
                        }),
                    });
                    Stage::Copying {
                        work: self.next_work,
                        outcome: Box::new(outcome),
                    }
                }
                Decision::Deliver | Decision::DeliverRewritten(_) => Stage::Decided {
                    outcome: Some(Box::new(outcome)),
                    result: Ok(Served::Original),
                },
                Decision::Tempfail(text) | Decision::Reject(text) => Stage::Decided {
                    result: Err(text.clone()),
                    outcome: Some(Box::new(outcome)),
                },
                Decision::Quarantine => Stage::Decided {
                    outcome: Some(Box::new(outcome)),
                    result: Err("withheld by the gateway".to_owned()),
                },
            };
        }
        self.file_decided(now);
    }

    /// Moves decided messages out of judging: into the hold's results and the judged store,
    /// each with its log record; abandoned ones (I3) are only logged.
    fn file_decided(&mut self, now: Timestamp) {
        let mut decided = Vec::new();
        if let Some(hold) = self.hold.as_mut() {
            let (done, still): (Vec<Judging>, Vec<Judging>) =
                hold.judging.drain(..).partition(Judging::is_decided);
            hold.judging = still;
            decided.extend(done.into_iter().map(|j| (j, true)));
        }
        let (done, still): (Vec<Judging>, Vec<Judging>) =
            self.background.drain(..).partition(Judging::is_decided);
        self.background = still;
        decided.extend(done.into_iter().map(|j| (j, false)));
        for (j, served_to_client) in decided {
            let Stage::Decided { outcome, result } = &j.stage else {
                continue;
            };
            let log = message_log(&j, outcome.as_deref(), result, served_to_client, now);
            let result = result.clone();
            self.emit(ImapEvent::Message(Box::new(log)));
            if served_to_client {
                if let Ok(served) = &result {
                    self.judged.insert(j.uid, j.seq, served.clone());
                }
                if let Some(hold) = self.hold.as_mut() {
                    hold.results.insert(j.uid, result);
                }
            }
        }
        self.next_step(now);
    }
}

/// The record of one decided message.
fn message_log(
    j: &Judging,
    outcome: Option<&Outcome>,
    result: &Result_,
    served_to_client: bool,
    now: Timestamp,
) -> MessageLog {
    let rewrite_kind = outcome.map(|o| match &o.decision {
        Decision::DeliverRewritten(Rewrite::Message { .. }) => MessageResult::Notice,
        Decision::DeliverRewritten(_) => MessageResult::Rewritten,
        _ => MessageResult::Unchanged,
    });
    let (result_kind, served_size) = match (served_to_client, result) {
        (false, _) if j.parts_served => (MessageResult::PartsServed, None),
        (false, _) => (MessageResult::Abandoned, None),
        (true, Err(_)) => (MessageResult::Withheld, None),
        (true, Ok(Served::Original)) => (MessageResult::Unchanged, None),
        (true, Ok(Served::Rewritten(copy))) => (
            rewrite_kind.unwrap_or(MessageResult::Rewritten),
            Some(copy.len()),
        ),
    };
    MessageLog {
        uid: j.uid,
        size: j.message.len(),
        files: outcome.map(|o| o.files.clone()).unwrap_or_default(),
        action: outcome.map_or(crate::policy::Action::Allow, |o| o.action),
        result: result_kind,
        held: now.saturating_since(j.since).max(Duration::ZERO),
        fail_open: outcome.is_some_and(|o| o.fail_open),
        served_size,
        message: j.message.clone(),
    }
}
