//! The data center actor: a thin shell around the sans-IO data-center model
//! ([`aptsim_peers::datacenter`]), which the live proxy's built-in data center runs too.
//!
//! It hands the model each upload, keeps one timer per analysis (so that analyses ending at
//! the same instant keep the order they always had), sends the answers back over the link
//! they came on, and writes the data center's trace records: a verdict when an analysis ends,
//! a refusal when an upload meets an outage.

use actix::prelude::*;
use aptsim_core::digest::Md5;
use aptsim_core::verdict::Verdict;
use aptsim_peers::datacenter::{self as model, DcConfig, DcEvent, Outage};
use aptsim_simulator::rng::ChaCha8Rng;

use aptsim_simulator::clock::Clock;
use aptsim_simulator::link::Link;
use aptsim_simulator::trace::{Record, Recorder};

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

/// Sets the outage state (sent by the fault schedule).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct SetOutage(pub Outage);

/// The data center actor.
pub struct DataCenter {
    model: model::DataCenter<Recipient<DcAnswer>>,
    clock: Clock,
    trace: Recorder,
    /// The link answers travel back on.
    link: Link,
}

impl DataCenter {
    /// A data center drawing from `rng`, its own random stream.
    pub fn new(
        config: DcConfig,
        link: Link,
        clock: Clock,
        trace: Recorder,
        rng: ChaCha8Rng,
    ) -> Self {
        DataCenter {
            model: model::DataCenter::new(config, rng),
            clock,
            trace,
            link,
        }
    }

    /// Carries out what the model says: answers over the link, a timer per analysis.
    fn drain(&mut self, ctx: &mut Context<Self>) {
        while let Some(event) = self.model.poll_event() {
            match event {
                DcEvent::Started { job, after } => {
                    aptsim_simulator::timer::after(
                        after,
                        ctx.address().recipient(),
                        AnalysisDone(job),
                    );
                }
                DcEvent::Answer { reply, answer } => {
                    let now = self.clock.now();
                    let message = match answer {
                        model::DcAnswer::Verdict {
                            md5,
                            verdict,
                            analysed,
                            ..
                        } => {
                            let record = match analysed {
                                Some(took) => Record::Verdict {
                                    md5: md5.to_hex(),
                                    level: verdict.level,
                                    score: verdict.score,
                                    analysis_ms: took.as_millis() as u64,
                                },
                                None => Record::Lookup {
                                    md5: md5.to_hex(),
                                    level: verdict.level,
                                },
                            };
                            self.trace.record(now, "datacenter", record);
                            DcAnswer::Verdict { md5, verdict }
                        }
                        model::DcAnswer::Unreachable { md5, refused } => {
                            let hex = md5.to_hex();
                            let record = if refused {
                                Record::Unreachable { md5: hex }
                            } else {
                                Record::AnalysisLost { md5: hex }
                            };
                            self.trace.record(now, "datacenter", record);
                            DcAnswer::Unreachable { md5 }
                        }
                    };
                    self.link.send(&reply, message);
                }
            }
        }
    }
}

/// An analysis finished (see [`crate::timer`]).
#[derive(Message)]
#[rtype(result = "()")]
struct AnalysisDone(u64);

impl Handler<AnalysisDone> for DataCenter {
    type Result = ();

    fn handle(&mut self, AnalysisDone(job): AnalysisDone, ctx: &mut Context<Self>) {
        self.model.handle_analysis_done(job, self.clock.now());
        self.drain(ctx);
    }
}

impl Actor for DataCenter {
    type Context = Context<Self>;
}

impl Handler<Upload> for DataCenter {
    type Result = ();

    fn handle(&mut self, up: Upload, ctx: &mut Context<Self>) {
        // The simulated gateway keeps no file bytes: the oracle judges by MD5.
        self.model
            .upload(up.md5, None, up.reply_to, self.clock.now());
        self.drain(ctx);
    }
}

impl Handler<SetOutage> for DataCenter {
    type Result = ();

    fn handle(&mut self, msg: SetOutage, _ctx: &mut Context<Self>) {
        self.model.set_outage(msg.0);
    }
}
