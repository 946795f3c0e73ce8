//! The live proxy's built-in data center: a stand-in sandbox that judges files by a fixed
//! rule, takes a fixed analysis time, and can be told to refuse every upload (S7).
//!
//! It is sans-IO like the sessions it serves, driven by the coordinator in [`super::smtp`]:
//! [`DataCenter::upload`] for each file the gateway decided to upload, then
//! [`DataCenter::poll_answer`] until `None`; [`DataCenter::poll_timeout`] says when
//! [`DataCenter::handle_timeout`] is next due (an analysis finishing).
//!
//! # How it judges
//! In this order, the first that applies:
//! 1. the verdict file (`--dc-verdicts`, the format of `aptsim inspect --verdicts`): MD5 →
//!    level, score, or `{"score": N, "threat": "name"}`;
//! 2. a file whose bytes contain the EICAR test string is `high`, threat `EICAR-Test-File`;
//! 3. anything else is `clean`.
//!
//! # Where the bytes come from
//! The gateway keeps each file's bytes until it submits the file (`Gateway::submit_bytes`),
//! and a submission hands them to [`DataCenter::upload`], which judges them at once and keeps
//! only MD5 → verdict (the rule is a function of the bytes, so judging on upload and
//! answering after the analysis time is the same as judging at the end, without keeping
//! megabytes of attachments around). An upload without bytes (it should not happen) is
//! judged by the verdict file or `clean`, and the answer says so ([`Basis::Unseen`]) so that
//! the driver can warn.
//!
//! # Timing
//! An upload is answered after the analysis time (default 5 s in the CLI, short enough for a
//! demo and long enough to watch a hold). A file this data center has already analysed is
//! answered at once, as a real sandbox answers an MD5 lookup. With the outage switch every
//! upload is refused at once: the driver calls `handle_unreachable` (S7, X3's outage policy).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::verdict::{ThreatLevel, Thresholds, Verdict};

/// The EICAR anti-virus test string: harmless, and every scanner calls it a virus.
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The threat name given to files with the EICAR string.
pub const EICAR_THREAT: &str = "EICAR-Test-File";

/// Most MD5 → verdict entries kept from scanning passing files; the oldest go first.
pub const MAX_SCANNED: usize = 100_000;

/// The data center's settings.
#[derive(Debug, Clone, Default)]
pub struct DcConfig {
    /// Time from upload to verdict. The CLI's default is 5 s.
    pub analysis_time: Duration,
    /// Refuse every upload (S7).
    pub outage: bool,
    /// Verdicts that override the rule, by MD5.
    pub verdicts: BTreeMap<Md5, Verdict>,
}

/// Why a file got its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The verdict file names it.
    VerdictFile,
    /// Its bytes contain the EICAR string.
    Eicar,
    /// Scanned, nothing found.
    Clean,
    /// Its bytes were never seen: judged clean, unless the verdict file names it.
    Unseen,
}

impl Basis {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::VerdictFile => "verdict-file",
            Basis::Eicar => "eicar",
            Basis::Clean => "scan",
            Basis::Unseen => "unseen",
        }
    }
}

/// An answer for the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DcAnswer {
    /// The analysis finished (or the file was known).
    Verdict {
        /// The file.
        md5: Md5,
        /// Its verdict.
        verdict: Verdict,
        /// Why.
        basis: Basis,
        /// True when answered from an earlier analysis, without waiting.
        known: bool,
    },
    /// The upload was refused (outage, S7).
    Unreachable {
        /// The file.
        md5: Md5,
    },
}

/// The built-in data center. See the module doc.
#[derive(Debug)]
pub struct DataCenter {
    config: DcConfig,
    thresholds: Thresholds,
    /// What scanning the passing files found, bounded by [`MAX_SCANNED`].
    scanned: BTreeMap<Md5, (Verdict, Basis)>,
    scanned_order: VecDeque<Md5>,
    /// Finished analyses: answered at once from now on.
    analysed: BTreeMap<Md5, (Verdict, Basis)>,
    /// Analyses running, by (due, sequence number).
    running: BTreeMap<(Timestamp, u64), Md5>,
    seq: u64,
    ready: VecDeque<DcAnswer>,
}

impl DataCenter {
    /// A data center; `thresholds` turn the EICAR rule's level into a score.
    pub fn new(config: DcConfig, thresholds: Thresholds) -> Self {
        DataCenter {
            config,
            thresholds,
            scanned: BTreeMap::new(),
            scanned_order: VecDeque::new(),
            analysed: BTreeMap::new(),
            running: BTreeMap::new(),
            seq: 0,
            ready: VecDeque::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &DcConfig {
        &self.config
    }

    /// Judges a file by its bytes, for when its analysis ends.
    fn scan(&mut self, md5: Md5, bytes: &[u8]) {
        if self.scanned.contains_key(&md5) {
            return;
        }
        let judged = if let Some(v) = self.config.verdicts.get(&md5) {
            (v.clone(), Basis::VerdictFile)
        } else if contains(bytes, EICAR) {
            let v =
                Verdict::from_level(ThreatLevel::High, &self.thresholds).with_threat(EICAR_THREAT);
            (v, Basis::Eicar)
        } else {
            (
                Verdict::from_level(ThreatLevel::Clean, &self.thresholds),
                Basis::Clean,
            )
        };
        if self.scanned_order.len() >= MAX_SCANNED
            && let Some(old) = self.scanned_order.pop_front()
        {
            self.scanned.remove(&old);
        }
        self.scanned.insert(md5, judged);
        self.scanned_order.push_back(md5);
    }

    /// An upload of `md5` (with its bytes, when the gateway sent them) at `now`.
    pub fn upload(&mut self, md5: Md5, bytes: Option<&[u8]>, now: Timestamp) {
        if let Some(bytes) = bytes {
            self.scan(md5, bytes);
        }
        if self.config.outage {
            self.ready.push_back(DcAnswer::Unreachable { md5 });
            return;
        }
        if let Some((verdict, basis)) = self.analysed.get(&md5) {
            self.ready.push_back(DcAnswer::Verdict {
                md5,
                verdict: verdict.clone(),
                basis: *basis,
                known: true,
            });
            return;
        }
        self.seq += 1;
        self.running
            .insert((now + self.config.analysis_time, self.seq), md5);
    }

    /// Number of analyses running.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// When the next analysis finishes.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.running.keys().next().map(|(due, _)| *due)
    }

    /// Finishes every analysis due by `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        while let Some(entry) = self.running.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let md5 = entry.remove();
            let (verdict, basis) = self.judge(&md5);
            self.analysed.insert(md5, (verdict.clone(), basis));
            self.ready.push_back(DcAnswer::Verdict {
                md5,
                verdict,
                basis,
                known: false,
            });
        }
    }

    /// The next answer, if any.
    pub fn poll_answer(&mut self) -> Option<DcAnswer> {
        self.ready.pop_front()
    }

    fn judge(&self, md5: &Md5) -> (Verdict, Basis) {
        if let Some(v) = self.config.verdicts.get(md5) {
            return (v.clone(), Basis::VerdictFile);
        }
        match self.scanned.get(md5) {
            Some(judged) => judged.clone(),
            None => (
                Verdict::from_level(ThreatLevel::Clean, &self.thresholds),
                Basis::Unseen,
            ),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dc(outage: bool) -> DataCenter {
        let config = DcConfig {
            analysis_time: Duration::from_secs(5),
            outage,
            verdicts: BTreeMap::new(),
        };
        DataCenter::new(config, Thresholds::default())
    }

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn eicar_is_high_after_the_analysis_time_then_known() {
        let mut d = dc(false);
        let mut file = b"prefix ".to_vec();
        file.extend_from_slice(EICAR);
        let md5 = Md5::of(&file);
        d.upload(md5, Some(&file), at(1_000));
        assert_eq!(d.poll_answer(), None);
        assert_eq!(d.poll_timeout(), Some(at(6_000)));
        d.handle_timeout(at(5_999));
        assert_eq!(d.poll_answer(), None);
        d.handle_timeout(at(6_000));
        let Some(DcAnswer::Verdict {
            verdict,
            basis,
            known,
            ..
        }) = d.poll_answer()
        else {
            panic!("expected a verdict");
        };
        assert_eq!(verdict.level, ThreatLevel::High);
        assert_eq!(verdict.threat.as_deref(), Some(EICAR_THREAT));
        assert_eq!(basis, Basis::Eicar);
        assert!(!known);
        d.upload(md5, None, at(7_000));
        assert!(matches!(
            d.poll_answer(),
            Some(DcAnswer::Verdict { known: true, .. })
        ));
    }

    #[test]
    fn clean_unseen_and_verdict_file() {
        let mut d = dc(false);
        let named = Md5::of(b"named");
        d.config.verdicts.insert(
            named,
            Verdict::from_level(ThreatLevel::Medium, &Thresholds::default()),
        );
        let plain = Md5::of(b"plain");
        let unseen = Md5::of(b"unseen");
        d.upload(plain, Some(b"plain"), Timestamp::ZERO);
        d.upload(named, Some(b"named"), Timestamp::ZERO);
        d.upload(unseen, None, Timestamp::ZERO);
        d.handle_timeout(at(5_000));
        let got: Vec<(ThreatLevel, Basis)> = std::iter::from_fn(|| d.poll_answer())
            .map(|a| match a {
                DcAnswer::Verdict { verdict, basis, .. } => (verdict.level, basis),
                DcAnswer::Unreachable { .. } => panic!("no outage"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (ThreatLevel::Clean, Basis::Clean),
                (ThreatLevel::Medium, Basis::VerdictFile),
                (ThreatLevel::Clean, Basis::Unseen),
            ]
        );
    }

    #[test]
    fn outage_refuses_every_upload_at_once() {
        let mut d = dc(true);
        let md5 = Md5::of(b"x");
        d.upload(md5, None, Timestamp::ZERO);
        assert_eq!(d.poll_answer(), Some(DcAnswer::Unreachable { md5 }));
        assert_eq!(d.poll_timeout(), None);
    }
}
