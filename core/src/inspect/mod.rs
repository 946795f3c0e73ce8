//! The decision engine: one sans-IO machine per message, in an SMTP and an IMAP flavour.
//!
//! An [`Inspection`] is built from the raw message; it extracts the files, looks each MD5 up
//! in the verdict cache, and from then on is driven quinn-style:
//!
//! 1. after creation and after every input, call [`Inspection::poll_submission`] until it
//!    returns `None` and upload what it returns (the driver applies X1 dedupe);
//! 2. feed results in with [`Inspection::handle_verdict`] and
//!    [`Inspection::handle_unreachable`];
//! 3. call [`Inspection::handle_timeout`] when the time from [`Inspection::poll_timeout`] comes;
//! 4. [`Inspection::poll_outcome`] returns the decision once, when it is made.
//!
//! What each flavour does (BEHAVIOUR.md):
//! - SMTP, release mode (S1): decided at once; known files still act (S6); unknown files are
//!   submitted in the background.
//! - SMTP, hold mode (S2): decided when every file is judged. Files go one at a time (S3),
//!   except the members of one archive, which go together (S4). An X2 deadline answers
//!   `451 4.7.0` instead of letting the sender time out.
//! - IMAP (I1, I2): always holds; every unknown file is submitted at once.
//! - Cached MD5s never go to the data center (S6, N7); a data center that cannot be reached
//!   or does not answer in time gets the outage policy (S7, I4, X3).

pub(crate) mod outcome;
mod submission;

pub use outcome::{FileOutcome, Source};
pub use submission::{Submission, SubmittedFile};

use std::borrow::Cow;
use std::collections::{BTreeSet, VecDeque};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::VerdictCache;
use crate::clock::Timestamp;
use crate::digest::Md5;
use crate::mime::{self, Extraction};
use crate::policy::{Action, OutagePolicy, Policy};
use crate::rewrite;
use crate::verdict::{ThreatLevel, Verdict};

/// Which proxy the message passes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// The SMTP proxy: release or hold by policy, one file at a time.
    Smtp,
    /// The IMAP proxy: always hold, all files at once.
    Imap,
}

/// What the transport does with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Deliver (SMTP) or return (IMAP) the message unchanged.
    Deliver,
    /// Deliver or return the message rewritten by this plan instead (drop, block, lock; IMAP
    /// deny and quarantine); [`rewrite::Rewrite::apply`] writes it.
    DeliverRewritten(rewrite::Rewrite),
    /// SMTP: keep the whole message in the quarantine store; the recipient gets nothing.
    Quarantine,
    /// SMTP: refuse the transaction: `554 5.7.1` and this text.
    Reject(String),
    /// Try again later: `451 4.7.0` and this text (X2 deadline, X3 `tempfail`).
    Tempfail(String),
}

/// The engine's decision on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The message-wide action: the strongest of its files' actions (A1 precedence).
    pub action: Action,
    /// What to do with the message.
    pub decision: Decision,
    /// Each file's level, action and source, in message order.
    pub files: Vec<FileOutcome>,
    /// Some file's level asks for an alarm.
    pub alarm: bool,
    /// Some file's level asks for a log record.
    pub log: bool,
    /// `block`: refuse the sending site for this long.
    pub block_for: Option<Duration>,
    /// A file went through unjudged because the data center failed (S7/I4 fail-open). The
    /// hold-means-hold invariant (N3) excepts exactly these.
    pub fail_open: bool,
    /// The message was delivered without waiting for files still unjudged (S1 release).
    pub released: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    /// Unknown, waiting for its turn.
    Waiting,
    /// Uploaded (or waiting on another message's upload) since then.
    Submitted(Timestamp),
    /// Judged.
    Judged(Verdict, Source),
}

/// The decision machine for one message. See the module doc for the calling order.
#[derive(Debug)]
pub struct Inspection {
    flavour: Flavour,
    policy: Arc<Policy>,
    extraction: Extraction,
    /// Status per distinct MD5, in first-seen order.
    status: Vec<(Md5, Status)>,
    /// For each entry of `status`, the index of the first file with that MD5: the one whose
    /// name and bytes a submission carries.
    first_file: Vec<usize>,
    /// The files to upload, as indices into `status`, in message order, grouped by
    /// `groups`.
    waiting: Vec<usize>,
    /// Upload groups not yet submitted, as runs of `waiting`: one list for the whole
    /// message, not one per group.
    groups: VecDeque<Range<usize>>,
    started: Timestamp,
    outcome: Option<Outcome>,
    outcome_taken: bool,
}

impl Inspection {
    /// Extracts the files of `raw` and looks them up in `cache`.
    pub fn new(
        flavour: Flavour,
        raw: &[u8],
        policy: Arc<Policy>,
        cache: &dyn VerdictCache,
        now: Timestamp,
    ) -> Self {
        let extraction = mime::extract(raw, &policy.limits);
        Self::with_extraction(flavour, extraction, policy, cache, now)
    }

    /// As [`Inspection::new`], for a message already extracted (by a driver that extracts
    /// off its event loop). The machine keeps no copy of the message: a rewrite comes out
    /// as a plan, applied to the bytes by whoever holds them.
    pub fn with_extraction(
        flavour: Flavour,
        mut extraction: Extraction,
        policy: Arc<Policy>,
        cache: &dyn VerdictCache,
        now: Timestamp,
    ) -> Self {
        let mut status: Vec<(Md5, Status)> = Vec::with_capacity(extraction.files.len());
        let mut first_file = Vec::with_capacity(extraction.files.len());
        // Digests seen: looked up in `status` itself while a message has few files (nearly
        // every one), in a set once it has many.
        const FEW: usize = 16;
        let mut seen = BTreeSet::new();
        // Groups in message order: a lone file is its own group, the members of one archive
        // attachment share one (S3, S4); IMAP merges them all into one (I2).
        let mut waiting = Vec::new();
        let mut groups: VecDeque<Range<usize>> = VecDeque::new();
        // The attachment of the last group.
        let mut last_attachment = None;
        for (file_index, file) in extraction.files.iter_mut().enumerate() {
            let again = if status.len() < FEW {
                status.iter().any(|(md5, _)| *md5 == file.md5)
            } else {
                if seen.is_empty() {
                    seen.extend(status.iter().map(|(md5, _)| *md5));
                }
                !seen.insert(file.md5)
            };
            if again {
                // Another file has these bytes: its copy is the one submitted.
                file.content = None;
                continue;
            }
            let index = status.len();
            let state = if file.unscannable.is_some() {
                let v = Verdict::from_level(policy.unscannable_level, &policy.thresholds);
                Status::Judged(v, Source::Unscannable)
            } else if let Some(v) = cache.get(&file.md5, now) {
                Status::Judged(v, Source::Cache)
            } else {
                Status::Waiting
            };
            if state == Status::Waiting {
                // The last group ends where `waiting` does: a member joins it.
                match groups.back_mut() {
                    Some(last)
                        if file.archive.is_some() && last_attachment == Some(file.attachment) =>
                    {
                        last.end += 1
                    }
                    _ => {
                        groups.push_back(waiting.len()..waiting.len() + 1);
                        last_attachment = Some(file.attachment);
                    }
                }
                waiting.push(index);
            } else {
                // Judged without the data center: its bytes go nowhere.
                file.content = None;
            }
            status.push((file.md5, state));
            first_file.push(file_index);
        }
        if flavour == Flavour::Imap && groups.len() > 1 {
            groups.clear();
            groups.push_back(0..waiting.len());
        }
        let mut inspection = Inspection {
            flavour,
            policy,
            extraction,
            status,
            first_file,
            waiting,
            groups,
            started: now,
            outcome: None,
            outcome_taken: false,
        };
        inspection.try_decide();
        inspection
    }

    /// Counts the X2 deadline from `at` (the end of the message's data) rather than from
    /// when the machine was made (after its extraction).
    pub fn set_started(&mut self, at: Timestamp) {
        self.started = at;
    }

    /// The files found in the message.
    pub fn extraction(&self) -> &Extraction {
        &self.extraction
    }

    /// The flavour this machine runs.
    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// True when the message is held until its files are judged: SMTP hold mode and IMAP.
    pub fn holds(&self) -> bool {
        self.flavour == Flavour::Imap || !self.policy.release_immediately
    }

    /// The upload groups still to come, in order, as the data center would get them if every
    /// verdict came back unknown-free. For reports; the driver uses `poll_submission`.
    pub fn planned_groups(&self) -> Vec<Submission> {
        let named = |i: &usize| SubmittedFile {
            md5: self.status[*i].0,
            name: self.extraction.files[self.first_file[*i]].name.clone(),
            bytes: None,
        };
        self.groups
            .iter()
            .map(|g| Submission {
                files: self.waiting[g.clone()].iter().map(named).collect(),
            })
            .collect()
    }

    /// Bytes of files kept for submissions still to come (what release mode holds after a
    /// message is delivered: only these, then just MD5s).
    pub fn pending_bytes(&self) -> usize {
        self.extraction
            .files
            .iter()
            .filter_map(|f| f.content.as_ref().map(Vec::len))
            .sum()
    }

    /// The next group of files to upload now, if any.
    ///
    /// SMTP gives the next group only when the previous one is judged (one at a time, S3;
    /// N5). IMAP gives all at once (I2; N6). Files that `cache` learnt meanwhile (from another
    /// message) are judged from it instead of being uploaded (N7).
    pub fn poll_submission(
        &mut self,
        cache: &dyn VerdictCache,
        now: Timestamp,
    ) -> Option<Submission> {
        if self.flavour == Flavour::Smtp && self.any_submitted() {
            return None;
        }
        while let Some(group) = self.groups.pop_front() {
            let mut upload = Vec::new();
            for k in group {
                let i = self.waiting[k];
                if self.status[i].1 != Status::Waiting {
                    continue;
                }
                let file = &mut self.extraction.files[self.first_file[i]];
                match cache.get(&self.status[i].0, now) {
                    Some(v) => {
                        self.status[i].1 = Status::Judged(v, Source::Cache);
                        file.content = None;
                    }
                    None => {
                        self.status[i].1 = Status::Submitted(now);
                        upload.push(SubmittedFile {
                            md5: self.status[i].0,
                            name: file.name.clone(),
                            bytes: file.content.take(),
                        });
                    }
                }
            }
            if !upload.is_empty() {
                return Some(Submission { files: upload });
            }
        }
        self.try_decide();
        None
    }

    /// The data center's verdict for `md5`. Returns false when this message has no such file
    /// (the driver may broadcast verdicts).
    pub fn handle_verdict(&mut self, md5: &Md5, verdict: &Verdict, _now: Timestamp) -> bool {
        let Some(i) = self.index_of(md5) else {
            return false;
        };
        if matches!(
            self.status[i].1,
            Status::Judged(_, Source::Cache | Source::Unscannable)
        ) {
            return true;
        }
        self.status[i].1 = Status::Judged(verdict.clone(), Source::Analysis);
        self.try_decide();
        true
    }

    /// The data center refused the connection for `md5`'s upload (S7, I4, X3).
    pub fn handle_unreachable(&mut self, md5: &Md5, now: Timestamp) -> bool {
        self.outage(md5, Source::Unreachable, now)
    }

    /// When [`Inspection::handle_timeout`] is next due, if ever.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let analysis = self.status.iter().filter_map(|(_, s)| match s {
            Status::Submitted(at) => Some(*at + self.policy.analysis_timeout),
            _ => None,
        });
        let tempfail = self.x2_deadline().filter(|_| self.outcome.is_none());
        analysis.chain(tempfail).min()
    }

    /// Acts on every deadline that has passed: an X2 tempfail, or files whose analysis took
    /// longer than the policy's analysis timeout (the data center is *slow*).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let late: Vec<Md5> = self
            .status
            .iter()
            .filter_map(|(md5, s)| match s {
                Status::Submitted(at) if now >= *at + self.policy.analysis_timeout => Some(*md5),
                _ => None,
            })
            .collect();
        for md5 in late {
            self.outage(&md5, Source::Slow, now);
        }
        if self.outcome.is_none() && self.x2_deadline().is_some_and(|d| now >= d) {
            self.outcome =
                Some(self.tempfail("4.7.0 Message held for attachment analysis; try again later"));
        }
    }

    /// The decision, once, when it has been made.
    pub fn poll_outcome(&mut self) -> Option<Outcome> {
        if self.outcome_taken {
            return None;
        }
        let outcome = self.outcome.clone()?;
        self.outcome_taken = true;
        Some(outcome)
    }

    /// The MD5s of the message's files: the verdicts and outages this inspection acts on
    /// (any other is ignored by [`Inspection::handle_verdict`]).
    pub fn md5s(&self) -> impl Iterator<Item = &Md5> {
        self.status.iter().map(|(md5, _)| md5)
    }

    /// True when the message is decided and no file is still waiting or under analysis, so
    /// the machine can be dropped.
    pub fn is_finished(&self) -> bool {
        self.outcome.is_some() && self.groups.is_empty() && !self.any_submitted()
    }

    /// The current level of each distinct file, for reports: `None` while unjudged.
    pub fn verdicts(&self) -> impl Iterator<Item = (Md5, Option<&Verdict>)> {
        self.status.iter().map(|(md5, s)| match s {
            Status::Judged(v, _) => (*md5, Some(v)),
            _ => (*md5, None),
        })
    }

    fn x2_deadline(&self) -> Option<Timestamp> {
        if self.flavour != Flavour::Smtp || !self.holds() {
            return None;
        }
        self.policy.tempfail_deadline.map(|d| self.started + d)
    }

    fn index_of(&self, md5: &Md5) -> Option<usize> {
        self.status.iter().position(|(m, _)| m == md5)
    }

    fn any_submitted(&self) -> bool {
        self.status
            .iter()
            .any(|(_, s)| matches!(s, Status::Submitted(_)))
    }

    fn outage(&mut self, md5: &Md5, source: Source, _now: Timestamp) -> bool {
        let Some(i) = self.index_of(md5) else {
            return false;
        };
        if matches!(self.status[i].1, Status::Judged(..)) {
            return true;
        }
        let level = match self.policy.outage {
            OutagePolicy::Allow => ThreatLevel::Clean,
            OutagePolicy::Apply => self.policy.outage_level,
            OutagePolicy::Tempfail => {
                self.status[i].1 = Status::Judged(
                    Verdict::from_level(ThreatLevel::Clean, &self.policy.thresholds),
                    source,
                );
                if self.outcome.is_none() && self.holds() {
                    self.outcome = Some(
                        self.tempfail("4.7.0 Attachment analysis unavailable; try again later"),
                    );
                }
                return true;
            }
        };
        self.status[i].1 =
            Status::Judged(Verdict::from_level(level, &self.policy.thresholds), source);
        self.try_decide();
        true
    }

    fn tempfail(&self, text: &str) -> Outcome {
        Outcome {
            action: Action::Allow,
            decision: Decision::Tempfail(text.to_owned()),
            files: self.file_outcomes(),
            alarm: false,
            log: true,
            block_for: None,
            fail_open: false,
            released: false,
        }
    }

    /// Decides when it can: at once in release mode, when every file is judged otherwise.
    fn try_decide(&mut self) {
        if self.outcome.is_some() {
            return;
        }
        let all_judged = self
            .status
            .iter()
            .all(|(_, s)| matches!(s, Status::Judged(..)));
        // A known file whose action is `deny` settles the message at once (S6): deny is the
        // strongest action, so no verdict still to come can change the outcome. The other
        // files' analyses go on for the cache.
        let denied = self.status.iter().any(|(_, s)| {
            matches!(s, Status::Judged(v, _) if self.policy.level(v.level).action == Action::Deny)
        });
        if !all_judged && self.holds() && !denied {
            return;
        }
        let files = self.file_outcomes();
        let policy = &self.policy;
        // Whatever limits kept the walk out of is among the files, as unscannable pieces
        // (`mime::Attachment::unwalked`), so their level's action is in this maximum too.
        let action = files
            .iter()
            .map(|f| f.action)
            .max()
            .unwrap_or(Action::Allow);
        let mut alarm = false;
        let mut log = false;
        for f in &files {
            let lp = policy.level(f.level);
            alarm |= lp.alarm && f.source != Source::Released;
            log |= lp.log && f.source != Source::Released;
        }
        let fail_open = files.iter().any(|f| {
            matches!(f.source, Source::Unreachable | Source::Slow) && f.action == Action::Allow
        });
        let decision = self.decision_for(action, &files);
        // Released means delivered without waiting for files still unjudged (S1); a
        // release-mode refusal, or a message whose files were all known, is not.
        let released = !self.holds()
            && matches!(decision, Decision::Deliver | Decision::DeliverRewritten(_))
            && files.iter().any(|f| f.source == Source::Released);
        self.outcome = Some(Outcome {
            action,
            decision,
            block_for: (action == Action::Block).then_some(policy.block_duration),
            files,
            alarm,
            log,
            fail_open,
            released,
        });
    }

    fn decision_for(&self, action: Action, files: &[FileOutcome]) -> Decision {
        let smtp = self.flavour == Flavour::Smtp;
        match action {
            Action::Allow => Decision::Deliver,
            Action::Deny if smtp => Decision::Reject(format!(
                "5.7.1 Message refused: {}",
                rewrite::reason_summary(files, &self.extraction)
            )),
            Action::Quarantine if smtp => Decision::Quarantine,
            Action::Deny | Action::Quarantine => Decision::DeliverRewritten(
                rewrite::Rewrite::message(&self.extraction, files, action, &self.policy),
            ),
            Action::Lock | Action::Drop | Action::Block => Decision::DeliverRewritten(
                rewrite::Rewrite::pieces(&self.extraction, files, &self.policy),
            ),
        }
    }

    fn file_outcomes(&self) -> Vec<FileOutcome> {
        self.extraction
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let (verdict, source) = match self.index_of(&f.md5).map(|j| &self.status[j].1) {
                    Some(Status::Judged(v, s)) => (Cow::Borrowed(v), *s),
                    _ => (
                        Cow::Owned(Verdict::from_level(
                            ThreatLevel::Clean,
                            &self.policy.thresholds,
                        )),
                        Source::Released,
                    ),
                };
                let level = verdict.level;
                FileOutcome {
                    file: i,
                    md5: f.md5,
                    name: f.name.clone(),
                    level,
                    score: verdict.score,
                    threat: verdict.threat.clone(),
                    action: self.policy.level(level).action,
                    source,
                }
            })
            .collect()
    }
}
