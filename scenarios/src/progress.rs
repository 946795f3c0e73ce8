//! Progress of a long run, told while it goes: a million-message day takes more than a
//! minute of one core, and a run says nothing else until it ends.
//!
//! [`ProgressObserver`] reads the trace as it is written, counts the messages queued and
//! delivered, and every so often (wall time, [`INTERVAL`] by default) hands a [`Progress`]
//! to its sink. It only reads: the trace, and so the run, are the same with it or without
//! it (N8). Wall time is looked at once every [`LINES_PER_LOOK`] lines, so the observer
//! costs a counter per line.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aptsim_simulator::observe::Observer;
use aptsim_simulator::trace::{Record, TraceLine};

/// How often a run tells its progress, in wall time; runs shorter than this say nothing.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// Lines read between two looks at the wall clock.
pub const LINES_PER_LOOK: u64 = 4_096;

/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The scenario's name.
    pub name: String,
    /// The run's seed.
    pub seed: u64,
    /// Virtual time reached.
    pub simulated: Duration,
    /// The run's horizon (the scenario's `duration`).
    pub horizon: Duration,
    /// Messages queued at the sender so far (each once).
    pub queued: u64,
    /// Deliveries to the receiving server so far.
    pub delivered: u64,
    /// Wall time since the run started.
    pub wall: Duration,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} seed {}: {} of {} simulated, {} messages queued, {} delivered ({} s)",
            self.name,
            self.seed,
            clock_time(self.simulated),
            clock_time(self.horizon),
            self.queued,
            self.delivered,
            self.wall.as_secs()
        )
    }
}

/// `5h 07m`, `12m 30s`, `40s`: virtual time as a reader follows it.
fn clock_time(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3_600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m {sec:02}s"),
        (h, min, _) => format!("{h}h {min:02}m"),
    }
}

/// Where progress goes (`aptsim run` writes it to standard error). Shared by the runs of a
/// suite, which call it from their threads.
#[derive(Clone)]
pub struct ProgressSink(pub Arc<dyn Fn(&Progress) + Send + Sync>);

impl fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressSink")
    }
}

/// Counts a run's messages from its trace and tells its sink where the run stands every
/// [`INTERVAL`] of wall time.
pub struct ProgressObserver {
    sink: ProgressSink,
    every: Duration,
    base: Progress,
    started: Instant,
    last: Instant,
    lines: u64,
}

impl ProgressObserver {
    /// An observer for the run `name` with `seed`, up to `horizon`, telling `sink` every
    /// `every` of wall time.
    pub fn new(
        sink: ProgressSink,
        every: Duration,
        name: &str,
        seed: u64,
        horizon: Duration,
    ) -> Self {
        let now = Instant::now();
        ProgressObserver {
            sink,
            every,
            base: Progress {
                name: name.to_owned(),
                seed,
                simulated: Duration::ZERO,
                horizon,
                queued: 0,
                delivered: 0,
                wall: Duration::ZERO,
            },
            started: now,
            last: now,
            lines: 0,
        }
    }

    /// Reads `line`, and tells the sink if `every` has passed since it last did, at `now`.
    pub fn observe_at(&mut self, line: &TraceLine, now: Instant) {
        let p = &mut self.base;
        p.simulated = Duration::from_millis(line.t);
        match line.record {
            Record::Queued { .. } => p.queued += 1,
            Record::Delivered { .. } => p.delivered += 1,
            _ => {}
        }
        if now.duration_since(self.last) >= self.every {
            self.last = now;
            p.wall = now.duration_since(self.started);
            (self.sink.0)(p);
        }
    }
}

impl Observer for ProgressObserver {
    fn observe(&mut self, line: &TraceLine) {
        self.lines += 1;
        if self.lines.is_multiple_of(LINES_PER_LOOK) {
            self.observe_at(line, Instant::now());
        } else {
            // Counted without a look at the clock: `last` is never later than now.
            self.observe_at(line, self.last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn line(t: u64, record: Record) -> TraceLine {
        TraceLine {
            t,
            actor: "sending_mta",
            record,
        }
    }

    #[test]
    fn tells_the_sink_once_per_interval_with_the_counts_so_far() {
        let told = Arc::new(Mutex::new(Vec::new()));
        let keep = told.clone();
        let sink = ProgressSink(Arc::new(move |p: &Progress| {
            keep.lock().expect("test lock").push(p.clone())
        }));
        let mut o = ProgressObserver::new(sink, INTERVAL, "day", 7, Duration::from_secs(86_400));
        let start = o.started;
        let queued = |m: &str| Record::Queued { msg: m.to_owned() };
        o.observe_at(&line(1_000, queued("a")), start + Duration::from_secs(1));
        o.observe_at(&line(2_000, queued("b")), start + Duration::from_secs(9));
        assert!(
            told.lock().expect("test lock").is_empty(),
            "not before the interval"
        );
        o.observe_at(
            &line(18_300_000, queued("c")),
            start + Duration::from_secs(10),
        );
        o.observe_at(
            &line(18_400_000, queued("d")),
            start + Duration::from_secs(15),
        );
        let told = told.lock().expect("test lock").clone();
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].queued, 3);
        assert_eq!(told[0].simulated, Duration::from_secs(18_300));
        assert_eq!(
            told[0].to_string(),
            "day seed 7: 5h 05m of 24h 00m simulated, 3 messages queued, 0 delivered (10 s)"
        );
    }

    #[test]
    fn virtual_time_reads_as_a_clock() {
        assert_eq!(clock_time(Duration::from_secs(40)), "40s");
        assert_eq!(clock_time(Duration::from_secs(750)), "12m 30s");
        assert_eq!(clock_time(Duration::from_secs(2 * 86_400)), "48h 00m");
    }
}
