//! The cloud sandbox ("data center"): answers at once for files it has analysed, queues
//! uploads for an analysis of seeded duration under a concurrency limit, and judges by an
//! oracle (files the scenario names, the EICAR test string, else clean). Faults make it
//! unreachable (every upload refused at once, S7) or slow (connected, never answering, X3).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use actix::prelude::*;
use aptsim_core::digest::Md5;
use aptsim_core::verdict::Verdict;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::clock::Clock;
use crate::record::{Record, Recorder};
use crate::wire::Link;

/// How long one analysis takes, when the scenario does not say for a file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnalysisTime {
    /// Always this long.
    Fixed(Duration),
    /// Uniformly between the two.
    Uniform(Duration, Duration),
}

impl AnalysisTime {
    fn draw(&self, rng: &mut ChaCha8Rng) -> Duration {
        match *self {
            AnalysisTime::Fixed(d) => d,
            AnalysisTime::Uniform(lo, hi) if hi > lo => {
                let span = (hi - lo).as_millis() as u64;
                lo + Duration::from_millis(rng.next_u64() % (span + 1))
            }
            AnalysisTime::Uniform(lo, _) => lo,
        }
    }
}

/// What the data center knows in advance about a file: its verdict and, optionally, how
/// long its analysis takes.
#[derive(Debug, Clone)]
pub struct Judgement {
    /// The verdict it will give.
    pub verdict: Verdict,
    /// The analysis time, overriding the data center's distribution.
    pub analysis: Option<Duration>,
}

/// Configuration of the data center.
#[derive(Debug, Clone)]
pub struct DataCenterConfig {
    /// Analyses running at once; more wait in a queue. Default 1,000 (a cloud service is
    /// rarely the bottleneck; lower it to model one that is).
    pub workers: usize,
    /// Analysis time of files the oracle has no time for. Default 2 min (Cuckoo's default
    /// timeout; VIPRE and Microsoft report about 2 min, TIMINGS.md).
    pub analysis: AnalysisTime,
    /// Known verdicts by MD5 (the scenario's files, EICAR).
    pub oracle: BTreeMap<Md5, Judgement>,
    /// The verdict for any other file (unless `drawn` picks another).
    pub default_verdict: Verdict,
    /// Verdicts drawn for files the oracle does not know: each such file is judged one of
    /// these with its probability (seeded), else `default_verdict`. Empty by default.
    pub drawn: Vec<(f64, Verdict)>,
}

/// An upload (with its MD5 lookup) from a proxy.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Upload {
    /// The file.
    pub md5: Md5,
    /// Its name, for the trace.
    pub name: String,
    /// Where the answer goes.
    pub reply_to: Recipient<DcAnswer>,
}

/// The data center's answer.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum DcAnswer {
    /// A verdict.
    Verdict {
        /// The file.
        md5: Md5,
        /// Its verdict.
        verdict: Verdict,
    },
    /// The connection was refused: the data center is unreachable.
    Unreachable {
        /// The file.
        md5: Md5,
    },
}

/// Fault states of the data center.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Working.
    None,
    /// Refuses connections: every upload answered `Unreachable` at once.
    Unreachable,
    /// Accepts uploads and never answers.
    Slow,
}

/// Sets the outage state (sent by the fault schedule).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct SetOutage(pub Outage);

struct Queued {
    md5: Md5,
    reply_to: Recipient<DcAnswer>,
    verdict: Verdict,
    analysis: Duration,
}

/// The data center actor.
pub struct DataCenter {
    config: DataCenterConfig,
    clock: Clock,
    trace: Recorder,
    rng: ChaCha8Rng,
    /// The link answers travel back on.
    link: Link,
    known: BTreeMap<Md5, Verdict>,
    queue: VecDeque<Queued>,
    running: usize,
    outage: Outage,
}

impl DataCenter {
    /// A data center with its own random stream.
    pub fn new(
        config: DataCenterConfig,
        link: Link,
        clock: Clock,
        trace: Recorder,
        seed: u64,
    ) -> Self {
        DataCenter {
            config,
            link,
            clock,
            trace,
            rng: ChaCha8Rng::seed_from_u64(seed),
            known: BTreeMap::new(),
            queue: VecDeque::new(),
            running: 0,
            outage: Outage::None,
        }
    }

    /// A verdict for a file the oracle does not know, from the seeded distribution.
    fn draw_verdict(&mut self) -> Verdict {
        if self.config.drawn.is_empty() {
            return self.config.default_verdict.clone();
        }
        // 53 random bits: a uniform draw in [0, 1).
        let mut r = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        for (p, v) in &self.config.drawn {
            if r < *p {
                return v.clone();
            }
            r -= p;
        }
        self.config.default_verdict.clone()
    }

    fn start_next(&mut self, ctx: &mut Context<Self>) {
        while self.running < self.config.workers.max(1) {
            let Some(job) = self.queue.pop_front() else {
                return;
            };
            self.running += 1;
            crate::timer::after(job.analysis, ctx.address().recipient(), AnalysisDone(job));
        }
    }
}

/// An analysis finished (see [`crate::timer`]).
#[derive(Message)]
#[rtype(result = "()")]
struct AnalysisDone(Queued);

impl Handler<AnalysisDone> for DataCenter {
    type Result = ();

    fn handle(&mut self, AnalysisDone(job): AnalysisDone, ctx: &mut Context<Self>) {
        self.running -= 1;
        // An outage that began during the analysis swallows its answer too.
        match self.outage {
            Outage::None => {
                self.known.insert(job.md5, job.verdict.clone());
                self.trace.record(
                    self.clock.now(),
                    "datacenter",
                    Record::Verdict {
                        md5: job.md5.to_hex(),
                        level: job.verdict.level.to_string(),
                        score: job.verdict.score,
                        analysis_ms: job.analysis.as_millis() as u64,
                    },
                );
                self.link.send(
                    &job.reply_to,
                    DcAnswer::Verdict {
                        md5: job.md5,
                        verdict: job.verdict,
                    },
                );
            }
            Outage::Unreachable => self
                .link
                .send(&job.reply_to, DcAnswer::Unreachable { md5: job.md5 }),
            Outage::Slow => {}
        }
        self.start_next(ctx);
    }
}

impl Actor for DataCenter {
    type Context = Context<Self>;
}

impl Handler<Upload> for DataCenter {
    type Result = ();

    fn handle(&mut self, up: Upload, ctx: &mut Context<Self>) {
        match self.outage {
            Outage::Unreachable => {
                self.trace.record(
                    self.clock.now(),
                    "datacenter",
                    Record::Unreachable {
                        md5: up.md5.to_hex(),
                    },
                );
                self.link
                    .send(&up.reply_to, DcAnswer::Unreachable { md5: up.md5 });
                return;
            }
            Outage::Slow => return,
            Outage::None => {}
        }
        if let Some(verdict) = self.known.get(&up.md5) {
            self.link.send(
                &up.reply_to,
                DcAnswer::Verdict {
                    md5: up.md5,
                    verdict: verdict.clone(),
                },
            );
            return;
        }
        let judgement = self.config.oracle.get(&up.md5).cloned();
        let verdict = match &judgement {
            Some(j) => j.verdict.clone(),
            None => self.draw_verdict(),
        };
        let analysis = match judgement.and_then(|j| j.analysis) {
            Some(d) => d,
            None => self.config.analysis.draw(&mut self.rng),
        };
        self.queue.push_back(Queued {
            md5: up.md5,
            reply_to: up.reply_to,
            verdict,
            analysis,
        });
        self.start_next(ctx);
    }
}

impl Handler<SetOutage> for DataCenter {
    type Result = ();

    fn handle(&mut self, msg: SetOutage, _ctx: &mut Context<Self>) {
        self.outage = msg.0;
    }
}
