//! The cloud sandbox ("data center"), sans-IO: one model for the simulated and the live
//! data center.
//!
//! An upload is first an MD5 look-up: a file analysed before is answered at once. Otherwise
//! it is judged — by the oracle (files a scenario or a verdict file names, with an optional
//! analysis time of their own), else by its bytes if it has them (the EICAR test string is
//! `high`, threat `EICAR-Test-File`), else by a seeded draw from a distribution, else the
//! default verdict — and queued for an analysis of fixed or drawn length, at most `workers`
//! at a time. Outages: *unreachable* refuses every upload at once (S7), *slow* accepts
//! uploads and never answers (X3); an outage that begins during an analysis swallows its
//! answer too (unreachable answers so, slow stays silent).
//!
//! # Driving it
//! [`DataCenter::upload`] for each file the gateway sends, with a reply token `R` (where the
//! answer goes: an actor's address, or `()` for one gateway); then drain
//! [`DataCenter::poll_event`]. Analyses end either through the one table —
//! [`DataCenter::poll_timeout`] and [`DataCenter::handle_timeout`], as the live proxy drives
//! it — or one by one: a driver that keeps a timer per analysis (the simulator's actor, so that
//! analyses ending at the same instant keep their order) arms one for each
//! [`DcEvent::Started`] and calls [`DataCenter::handle_analysis_done`].
//!
//! Randomness comes from the ChaCha stream the caller hands over (the simulator gives each
//! consumer its own, ARCHITECTURE.md principle 4): the same stream gives the same verdicts
//! and times.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_core::verdict::{ThreatLevel, Thresholds, Verdict};
use rand_chacha::ChaCha8Rng;
use rand_core::Rng;

/// The EICAR anti-virus test string: harmless, and every scanner calls it a virus.
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The threat name given to files with the EICAR string.
pub const EICAR_THREAT: &str = "EICAR-Test-File";

/// How long one analysis takes, when nothing names a time for the file. Written `"2m"` or
/// `{ min = "1m", max = "4m" }`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(
    untagged,
    expecting = "an analysis time: a duration such as \"2m\", or { min = \"1m\", max = \"4m\" }"
)]
pub enum AnalysisTime {
    /// Always this long.
    Fixed(#[serde(with = "aptsim_core::duration::serde_text")] Duration),
    /// Uniformly between `min` and `max`, in whole milliseconds (seeded).
    Uniform {
        /// Shortest.
        #[serde(with = "aptsim_core::duration::serde_text")]
        min: Duration,
        /// Longest.
        #[serde(with = "aptsim_core::duration::serde_text")]
        max: Duration,
    },
}

impl AnalysisTime {
    fn draw(&self, rng: &mut ChaCha8Rng) -> Duration {
        match *self {
            AnalysisTime::Fixed(d) => d,
            AnalysisTime::Uniform { min, max } if max > min => {
                let span = (max - min).as_millis() as u64;
                min + Duration::from_millis(rng.next_u64() % (span + 1))
            }
            AnalysisTime::Uniform { min, .. } => min,
        }
    }
}

/// What the data center knows in advance about a file: its verdict and, optionally, how
/// long its analysis takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// The verdict it will give.
    pub verdict: Verdict,
    /// The analysis time, overriding the distribution.
    pub analysis: Option<Duration>,
}

/// Why a file got its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The oracle names it (a scenario's files, a verdict file).
    Oracle,
    /// Its bytes hold the EICAR test string.
    Eicar,
    /// Drawn from the distribution (seeded).
    Drawn,
    /// Its bytes were seen and nothing was found: the default verdict.
    Clean,
    /// Nothing named it and its bytes never came: the default verdict.
    Unseen,
}

impl Basis {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Oracle => "verdict-file",
            Basis::Eicar => "eicar",
            Basis::Drawn => "drawn",
            Basis::Clean => "scan",
            Basis::Unseen => "unseen",
        }
    }
}

/// Fault states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outage {
    /// Working.
    #[default]
    None,
    /// Refuses connections: every upload answered unreachable at once (S7).
    Unreachable,
    /// Accepts uploads and never answers (X3 *slow*).
    Slow,
}

/// The data center's settings: the `[world.datacenter]` table of a scenario file, and what
/// the live proxy's built-in data center is built from. Defaults and sources on each field.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DcConfig {
    /// Analyses running at once; more wait in a queue. Default 1,000 (a cloud service is
    /// rarely the bottleneck; lower it to model one that is).
    pub workers: usize,
    /// Analysis time of files the oracle has no time for. Default 2 min (Cuckoo's default
    /// timeout; VIPRE and Microsoft report about 2 min, TIMINGS.md).
    pub analysis: AnalysisTime,
    /// Level of files the oracle does not know and whose bytes show nothing, unless drawn
    /// otherwise. Default clean.
    pub default_level: ThreatLevel,
    /// Fraction of those files drawn `high` (seeded, clamped to 0..=1). Default 0.
    pub high_fraction: f64,
    /// Likewise, `medium`. Default 0.
    pub medium_fraction: f64,
    /// Files whose verdicts are remembered for MD5 look-ups; the oldest are forgotten first.
    /// Default 100,000, so that a long-running live proxy stays within bounded memory.
    pub remember: usize,
    /// Known verdicts by MD5. Not read from files: a scenario's attachments and a live
    /// proxy's verdict file fill it.
    #[serde(skip)]
    pub oracle: BTreeMap<Md5, Judgement>,
    /// The state it starts in. Default working; faults and `--dc-outage` change it.
    #[serde(skip)]
    pub outage: Outage,
    /// The score thresholds that turn a level into a verdict's score. Not read from files:
    /// the gateway policy's thresholds are used.
    #[serde(skip)]
    pub thresholds: Thresholds,
}

impl Default for DcConfig {
    fn default() -> Self {
        DcConfig {
            workers: 1_000,
            analysis: AnalysisTime::Fixed(Duration::from_secs(120)),
            default_level: ThreatLevel::Clean,
            high_fraction: 0.0,
            medium_fraction: 0.0,
            remember: 100_000,
            oracle: BTreeMap::new(),
            outage: Outage::None,
            thresholds: Thresholds::default(),
        }
    }
}

impl DcConfig {
    /// Checks what serde cannot, naming the key: fractions that are probabilities (not NaN,
    /// within 0..=1, `high_fraction + medium_fraction` at most 1), an analysis range whose
    /// `min` is not above its `max`, and at least one worker and one remembered verdict (the
    /// model would otherwise quietly use 1).
    pub fn validate(&self) -> Result<(), String> {
        for (key, p) in [
            ("high_fraction", self.high_fraction),
            ("medium_fraction", self.medium_fraction),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{key}: {p} is not a fraction between 0 and 1"));
            }
        }
        let sum = self.high_fraction + self.medium_fraction;
        if sum > 1.0 {
            return Err(format!(
                "high_fraction + medium_fraction: {sum} is more than 1 (all files)"
            ));
        }
        if let AnalysisTime::Uniform { min, max } = self.analysis
            && min > max
        {
            return Err(format!(
                "analysis: min {} is above max {}",
                aptsim_core::duration::format(min),
                aptsim_core::duration::format(max)
            ));
        }
        if self.workers == 0 {
            return Err("workers: must be at least 1".to_owned());
        }
        if self.remember == 0 {
            return Err("remember: must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// An answer to the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DcAnswer {
    /// The file's verdict.
    Verdict {
        /// The file.
        md5: Md5,
        /// Its verdict.
        verdict: Verdict,
        /// Why.
        basis: Basis,
        /// How long its analysis took; `None` when answered from an earlier one (a look-up).
        analysed: Option<Duration>,
    },
    /// The data center could not be reached.
    Unreachable {
        /// The file.
        md5: Md5,
        /// True when the upload itself was refused; false when an outage began while its
        /// analysis ran.
        refused: bool,
    },
}

/// What the model tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DcEvent<R> {
    /// An answer, for whoever `reply` names.
    Answer {
        /// The upload's reply token.
        reply: R,
        /// The answer.
        answer: DcAnswer,
    },
    /// An analysis started; it ends `after` from now. A driver with a timer per analysis
    /// calls [`DataCenter::handle_analysis_done`] then; one that drives the table ignores this.
    Started {
        /// The analysis.
        job: u64,
        /// Its length.
        after: Duration,
    },
}

#[derive(Debug, Clone)]
struct Job<R> {
    md5: Md5,
    reply: R,
    verdict: Verdict,
    basis: Basis,
    analysis: Duration,
}

/// The data center. See the module doc for the calling order.
#[derive(Debug)]
pub struct DataCenter<R> {
    config: DcConfig,
    rng: ChaCha8Rng,
    /// Verdicts of finished analyses, answered at once from now on; `known_order` ages them.
    known: BTreeMap<Md5, (Verdict, Basis)>,
    known_order: VecDeque<Md5>,
    queue: VecDeque<Job<R>>,
    /// Running analyses by id, with their end.
    running: BTreeMap<u64, (Timestamp, Job<R>)>,
    next_job: u64,
    outage: Outage,
    events: VecDeque<DcEvent<R>>,
}

impl<R: Clone> DataCenter<R> {
    /// A data center drawing from `rng`, its own random stream.
    pub fn new(config: DcConfig, rng: ChaCha8Rng) -> Self {
        let outage = config.outage;
        DataCenter {
            config,
            rng,
            known: BTreeMap::new(),
            known_order: VecDeque::new(),
            queue: VecDeque::new(),
            running: BTreeMap::new(),
            next_job: 0,
            outage,
            events: VecDeque::new(),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &DcConfig {
        &self.config
    }

    /// Enters or leaves an outage.
    pub fn set_outage(&mut self, outage: Outage) {
        self.outage = outage;
    }

    /// Analyses running now.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// The verdict of `md5` if one of its analyses has finished and is still remembered —
    /// what an upload would answer at once — without uploading anything (a pure MD5
    /// look-up, as the HTTP data center's `GET /v1/md5/{md5}` offers). It ignores outages:
    /// a driver that models one refuses look-ups itself.
    pub fn lookup(&self, md5: &Md5) -> Option<(&Verdict, Basis)> {
        self.known
            .get(md5)
            .map(|(verdict, basis)| (verdict, *basis))
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<DcEvent<R>> {
        self.events.pop_front()
    }

    /// An upload of `md5`, with its bytes when the gateway sent them, answered to `reply`.
    pub fn upload(&mut self, md5: Md5, bytes: Option<&[u8]>, reply: R, now: Timestamp) {
        match self.outage {
            Outage::Unreachable => {
                let answer = DcAnswer::Unreachable { md5, refused: true };
                self.events.push_back(DcEvent::Answer { reply, answer });
                return;
            }
            Outage::Slow => return,
            Outage::None => {}
        }
        if let Some((verdict, basis)) = self.known.get(&md5) {
            let answer = DcAnswer::Verdict {
                md5,
                verdict: verdict.clone(),
                basis: *basis,
                analysed: None,
            };
            self.events.push_back(DcEvent::Answer { reply, answer });
            return;
        }
        let judgement = self.config.oracle.get(&md5).cloned();
        let (verdict, basis) = match &judgement {
            Some(j) => (j.verdict.clone(), Basis::Oracle),
            None => self.judge(bytes),
        };
        let analysis = match judgement.and_then(|j| j.analysis) {
            Some(d) => d,
            None => self.config.analysis.draw(&mut self.rng),
        };
        self.queue.push_back(Job {
            md5,
            reply,
            verdict,
            basis,
            analysis,
        });
        self.start_next(now);
    }

    /// When [`DataCenter::handle_timeout`] is next due: the earliest end of an analysis.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.running.values().map(|(end, _)| *end).min()
    }

    /// Ends every analysis due by `now`, in order of their ends.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        loop {
            let due = self
                .running
                .iter()
                .filter(|(_, (end, _))| *end <= now)
                .min_by_key(|(id, (end, _))| (*end, **id))
                .map(|(id, _)| *id);
            let Some(job) = due else {
                return;
            };
            self.handle_analysis_done(job, now);
        }
    }

    /// Ends analysis `job` (for a driver with a timer per analysis).
    pub fn handle_analysis_done(&mut self, job: u64, now: Timestamp) {
        let Some((_, job)) = self.running.remove(&job) else {
            return;
        };
        match self.outage {
            Outage::None => {
                self.remember(job.md5, job.verdict.clone(), job.basis);
                let answer = DcAnswer::Verdict {
                    md5: job.md5,
                    verdict: job.verdict,
                    basis: job.basis,
                    analysed: Some(job.analysis),
                };
                self.events.push_back(DcEvent::Answer {
                    reply: job.reply,
                    answer,
                });
            }
            Outage::Unreachable => {
                let answer = DcAnswer::Unreachable {
                    md5: job.md5,
                    refused: false,
                };
                self.events.push_back(DcEvent::Answer {
                    reply: job.reply,
                    answer,
                });
            }
            Outage::Slow => {}
        }
        self.start_next(now);
    }

    /// The verdict of a file nothing names: by its bytes if it has them, else drawn.
    fn judge(&mut self, bytes: Option<&[u8]>) -> (Verdict, Basis) {
        if let Some(bytes) = bytes
            && memchr::memmem::find(bytes, EICAR).is_some()
        {
            let v = Verdict::from_level(ThreatLevel::High, &self.config.thresholds)
                .with_threat(EICAR_THREAT);
            return (v, Basis::Eicar);
        }
        let undrawn = if bytes.is_some() {
            Basis::Clean
        } else {
            Basis::Unseen
        };
        // Drawn even when both fractions are zero, so that a scenario's random stream does
        // not shift when a fraction is set. 53 random bits: a uniform draw in [0, 1).
        let mut r = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let drawn = [
            (self.config.high_fraction, ThreatLevel::High),
            (self.config.medium_fraction, ThreatLevel::Medium),
        ];
        for (p, level) in drawn {
            let p = p.clamp(0.0, 1.0);
            if r < p {
                return (
                    Verdict::from_level(level, &self.config.thresholds),
                    Basis::Drawn,
                );
            }
            r -= p;
        }
        (
            Verdict::from_level(self.config.default_level, &self.config.thresholds),
            undrawn,
        )
    }

    fn start_next(&mut self, now: Timestamp) {
        while self.running.len() < self.config.workers.max(1) {
            let Some(job) = self.queue.pop_front() else {
                return;
            };
            let id = self.next_job;
            self.next_job += 1;
            self.events.push_back(DcEvent::Started {
                job: id,
                after: job.analysis,
            });
            self.running.insert(id, (now + job.analysis, job));
        }
    }

    fn remember(&mut self, md5: Md5, verdict: Verdict, basis: Basis) {
        if self.known.insert(md5, (verdict, basis)).is_none() {
            self.known_order.push_back(md5);
        }
        while self.known.len() > self.config.remember.max(1) {
            let Some(old) = self.known_order.pop_front() else {
                break;
            };
            self.known.remove(&old);
        }
    }
}
