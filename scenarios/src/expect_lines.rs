//! The trace lines a scenario's per-message expectations read, kept while the run streams
//! the rest away: a million-message day with three `[[expect]]` tables keeps the lines of
//! those three messages and of their files, not the day.
//!
//! [`crate::expect::check`] then reads the kept lines exactly as it would read the whole
//! trace. What is kept: the SMTP records of the expected messages (queued, attempts,
//! timeouts, decisions, ends), every request and answer about their files (the `uploads`
//! expectation pairs the data center's answers with requests in order, whoever made them),
//! submissions on their connections, and the IMAP records (mailboxes, fetches, IMAP
//! decisions), which the IMAP expectations match by UID as well as by id.

use std::collections::BTreeSet;

use aptsim_simulator::observe::Observer;
use aptsim_simulator::trace::{Record, TraceLine};

/// Keeps the lines expectations read; nothing at all when there are none. Its sets are
/// only asked whether they hold a name (ordered sets all the same, as in all simulation
/// code, so that no order can reach a result).
#[derive(Debug, Default)]
pub struct ExpectLines {
    messages: BTreeSet<String>,
    md5s: BTreeSet<String>,
    conns: BTreeSet<u64>,
    kept: Vec<TraceLine>,
}

impl ExpectLines {
    /// For expectations on `messages`, whose files have `md5s` (hex).
    pub fn new(
        messages: impl IntoIterator<Item = String>,
        md5s: impl IntoIterator<Item = String>,
    ) -> Self {
        ExpectLines {
            messages: messages.into_iter().collect(),
            md5s: md5s.into_iter().collect(),
            conns: BTreeSet::new(),
            kept: Vec::new(),
        }
    }

    /// The lines kept, in trace order.
    pub fn lines(&self) -> &[TraceLine] {
        &self.kept
    }

    fn wanted(&mut self, record: &Record) -> bool {
        match record {
            Record::AttemptStarted { msg, conn, .. } => {
                let ours = self.messages.contains(msg.as_str());
                if ours {
                    self.conns.insert(*conn);
                }
                ours
            }
            Record::Queued { msg }
            | Record::Quarantined { msg }
            | Record::Bounced { msg, .. }
            | Record::SenderTimeout { msg, .. }
            | Record::AttemptEnded { msg, .. }
            | Record::Delivered { msg, .. }
            | Record::Decision { msg, .. } => self.messages.contains(msg.as_str()),
            Record::Submission { conn, md5, .. } => {
                if self.conns.contains(conn) {
                    // Its answers decide the expected message's uploads.
                    self.md5s.insert(md5.clone());
                }
                self.md5s.contains(md5.as_str())
            }
            Record::Verdict { md5, .. }
            | Record::Lookup { md5, .. }
            | Record::Unreachable { md5 }
            | Record::AnalysisLost { md5 } => self.md5s.contains(md5.as_str()),
            Record::MailboxStored { .. }
            | Record::ImapFetched { .. }
            | Record::ImapPartFetched { .. }
            | Record::ImapDecision { .. } => true,
            _ => false,
        }
    }
}

impl Observer for ExpectLines {
    fn observe(&mut self, line: &TraceLine) {
        if !self.messages.is_empty() && self.wanted(&line.record) {
            self.kept.push(line.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(record: Record) -> TraceLine {
        TraceLine {
            t: 0,
            actor: "t",
            record,
        }
    }

    fn submission(conn: u64, md5: &str) -> Record {
        Record::Submission {
            conn,
            txn: 1,
            md5: md5.into(),
            name: String::new(),
            upload: true,
        }
    }

    #[test]
    fn keeps_the_expected_messages_and_their_files_only() {
        let mut keep = ExpectLines::new(["m1".to_owned()], ["aa".to_owned()]);
        let lines = [
            Record::Queued { msg: "m1".into() },
            Record::Queued { msg: "m2".into() },
            Record::AttemptStarted {
                msg: "m1".into(),
                attempt: 1,
                conn: 7,
            },
            submission(7, "bb"),
            submission(8, "aa"),
            submission(8, "cc"),
            Record::Verdict {
                md5: "bb".into(),
                level: aptsim_core::verdict::ThreatLevel::Clean,
                score: 0,
                analysis_ms: 1,
            },
            Record::Lookup {
                md5: "cc".into(),
                level: aptsim_core::verdict::ThreatLevel::Clean,
            },
            Record::HoldStart { conn: 7, txn: 1 },
        ];
        for r in lines {
            keep.observe(&line(r));
        }
        let kept: Vec<String> = keep
            .lines()
            .iter()
            .map(|l| serde_json::to_string(&l.record).unwrap_or_default())
            .collect();
        assert_eq!(kept.len(), 5, "{kept:#?}");
        assert!(kept[0].contains("\"m1\""));
        assert!(kept[2].contains("\"bb\"") && kept[3].contains("\"aa\""));
        assert!(kept[4].contains("verdict"));
    }

    #[test]
    fn keeps_nothing_without_expectations() {
        let mut keep = ExpectLines::default();
        keep.observe(&line(Record::Queued { msg: "m1".into() }));
        assert!(keep.lines().is_empty());
    }
}
