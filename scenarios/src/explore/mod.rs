//! Exploring: generated whole worlds ([`generate`]), or variations of a user's own scenario
//! ([`base`]), run and checked against properties ([`property`], [`metamorphic`]); a
//! failing world is shrunk by proptest to a small one that fails the same way, and written
//! as a scenario file ([`write`]) that `aptsim run` reproduces.
//!
//! The cases are drawn and shrunk by proptest's value trees, driven here rather than by
//! `TestRunner::run`, so that exploring can stop on a time budget, report progress, and
//! keep shrinking to worlds that fail with the same invariant. Cases are drawn in order and
//! checked in batches on every core (each world is single-threaded); their outcomes are read
//! in the order drawn, so the same seed finds and shrinks the same world whatever the number
//! of threads.

pub mod base;
pub mod generate;
pub mod generate_imap;
pub mod metamorphic;
pub mod property;
pub mod write;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use generate::Case;
use property::{Checked, Failure, Property};

/// A world the explorer draws: written as a scenario file, and run from that text, so the
/// file written for a failure is exactly the world that failed.
pub trait World: Clone + std::fmt::Debug + Send + Sync {
    /// The scenario file, named `name`, with `description` (one line).
    fn to_toml(&self, name: &str, description: &str) -> String;
    /// Messages it has, written and generated.
    fn messages(&self) -> u64;
    /// Virtual time one run of it simulates.
    fn duration(&self) -> Duration;
}

impl World for Case {
    fn to_toml(&self, name: &str, description: &str) -> String {
        write::to_toml(self, name, description)
    }

    fn messages(&self) -> u64 {
        self.messages.len() as u64
    }

    fn duration(&self) -> Duration {
        self.simulated()
    }
}

/// How to explore.
#[derive(Debug, Clone)]
pub struct Explore {
    /// Stop after this many cases (if `time` is not given too, or whichever comes first).
    pub cases: Option<u64>,
    /// Stop after this much wall-clock time.
    pub time: Option<Duration>,
    /// Seed of the case generator: the same seed draws the same cases.
    pub seed: u64,
    /// Draw a random subset of fault kinds and features per case (else all of them).
    pub swarm: bool,
    /// Where to write a shrunk failing world; `None` writes nothing.
    pub out: Option<PathBuf>,
    /// Most shrink steps tried on a failure.
    pub max_shrink_steps: u32,
    /// Threads checking cases at once (1: one after another).
    pub jobs: usize,
    /// The base scenario's path as the user gave it (`--base`), for the written file's name
    /// and the command line in its description; `None` for generated worlds.
    pub base: Option<String>,
}

impl Default for Explore {
    fn default() -> Self {
        Explore {
            cases: Some(100),
            time: None,
            seed: 0,
            swarm: true,
            out: None,
            max_shrink_steps: 2_000,
            jobs: 1,
            base: None,
        }
    }
}

/// What exploring did so far.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Cases run (shrink steps not counted).
    pub cases: u64,
    /// Messages in those cases.
    pub messages: u64,
    /// Simulated runs.
    pub runs: u64,
    /// Virtual time simulated.
    pub simulated: Duration,
    /// Invariant checks made.
    pub checks: u64,
    /// Wall-clock time so far.
    pub wall: Duration,
}

/// A failing world, shrunk.
#[derive(Debug, Clone)]
pub struct Found {
    /// The case number (from 1) that first failed.
    pub case: u64,
    /// How the shrunk world fails.
    pub failure: Failure,
    /// The shrunk world as a scenario file.
    pub toml: String,
    /// Where it was written, with `out`.
    pub file: Option<PathBuf>,
    /// Shrink steps tried, and those that kept the failure.
    pub shrink_steps: (u32, u32),
}

/// The result of exploring.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The totals.
    pub progress: Progress,
    /// The failure found (exploring stops at the first).
    pub found: Option<Found>,
}

/// Why exploring could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ExploreError {
    /// The strategy could not draw a case.
    #[error("drawing a case: {0}")]
    Draw(String),
    /// The shrunk world could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Runs `world` through `property` (as the scenario its file would be).
pub fn check<W: World>(world: &W, property: &Property<'_>) -> Result<Checked, Failure> {
    let text = world.to_toml("explore", "generated");
    let s = crate::format::Scenario::from_toml(&text, "explore.toml").map_err(|e| Failure {
        kind: "world".to_owned(),
        detail: format!("the generated world is not a valid scenario: {e}"),
    })?;
    property(&s)
}

fn runner(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&seed.to_le_bytes());
    }
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

/// Explores with every property ([`property::all`]).
pub fn explore(
    cfg: &Explore,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, ExploreError> {
    explore_with(cfg, &property::all, on_progress)
}

/// Explores variations of the user's scenario `base` (`--base`) with every property.
pub fn explore_base(
    cfg: &Explore,
    base: std::sync::Arc<base::Base>,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, ExploreError> {
    explore_worlds(
        cfg,
        base::varied(base, cfg.swarm),
        &property::all,
        on_progress,
    )
}

/// Explores with `property`: draws cases until `cfg`'s budget is spent or one fails, then
/// shrinks that one and writes it.
pub fn explore_with(
    cfg: &Explore,
    property: &Property<'_>,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, ExploreError> {
    explore_worlds(cfg, generate::case(cfg.swarm), property, on_progress)
}

/// Explores the worlds `strategy` draws (a narrower set than `cfg.swarm`'s, e.g. one
/// leaving out known findings) with `property`.
pub fn explore_worlds<W: World>(
    cfg: &Explore,
    strategy: impl Strategy<Value = W>,
    property: &Property<'_>,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, ExploreError> {
    let started = Instant::now();
    let mut runner = runner(cfg.seed);
    let mut p = Progress::default();
    let jobs = cfg.jobs.max(1);
    loop {
        let by_cases = cfg.cases.is_some_and(|n| p.cases >= n);
        let by_time = cfg.time.is_some_and(|t| started.elapsed() >= t);
        if by_cases || by_time || (cfg.cases.is_none() && cfg.time.is_none()) {
            break;
        }
        // A batch: a few cases per thread, never past the case budget.
        let left = cfg.cases.map_or(u64::MAX, |n| n - p.cases);
        let batch = (jobs as u64 * 4).min(left).max(1) as usize;
        let mut trees = Vec::with_capacity(batch);
        for _ in 0..batch {
            trees.push(
                strategy
                    .new_tree(&mut runner)
                    .map_err(|e| ExploreError::Draw(e.to_string()))?,
            );
        }
        let cases: Vec<W> = trees.iter().map(ValueTree::current).collect();
        let outcomes = check_all(&cases, property, jobs);
        for ((tree, case), outcome) in trees.iter_mut().zip(cases).zip(outcomes) {
            p.cases += 1;
            p.messages += case.messages();
            match outcome {
                Ok(c) => {
                    p.runs += c.runs as u64;
                    p.checks += c.checks as u64;
                    p.simulated += case.duration() * c.runs as u32;
                    p.wall = started.elapsed();
                    on_progress(&p);
                }
                Err(failure) => {
                    let found = shrink(cfg, p.cases, tree, case, failure, property)?;
                    p.wall = started.elapsed();
                    return Ok(Summary {
                        progress: p,
                        found: Some(found),
                    });
                }
            }
        }
    }
    p.wall = started.elapsed();
    Ok(Summary {
        progress: p,
        found: None,
    })
}

/// Checks `cases` on `jobs` threads; the outcomes in the order of `cases`.
fn check_all<W: World>(
    cases: &[W],
    property: &Property<'_>,
    jobs: usize,
) -> Vec<Result<Checked, Failure>> {
    if jobs <= 1 || cases.len() <= 1 {
        return cases.iter().map(|c| check(c, property)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Result<Checked, Failure>>>> =
        cases.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(cases.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let outcome = check(case, property);
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(outcome);
                    }
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner().ok().flatten().unwrap_or_else(|| {
                Err(Failure {
                    kind: "panic".to_owned(),
                    detail: "a checking thread stopped before this case's result".to_owned(),
                })
            })
        })
        .collect()
}

/// Shrinks a failing case to the smallest that fails with the same kind, and writes it.
fn shrink<W: World>(
    cfg: &Explore,
    number: u64,
    tree: &mut dyn ValueTree<Value = W>,
    case: W,
    failure: Failure,
    property: &Property<'_>,
) -> Result<Found, ExploreError> {
    let (mut best, mut best_failure) = (case, failure);
    let (mut tried, mut kept) = (0u32, 0u32);
    if tree.simplify() {
        while tried < cfg.max_shrink_steps {
            tried += 1;
            let candidate = tree.current();
            match check(&candidate, property) {
                Err(f) if f.kind == best_failure.kind => {
                    kept += 1;
                    best = candidate;
                    best_failure = f;
                    if !tree.simplify() {
                        break;
                    }
                }
                _ => {
                    if !tree.complicate() {
                        break;
                    }
                }
            }
        }
    }
    let (name, base) = match &cfg.base {
        Some(path) => (
            format!(
                "explore-{}-{}-{}",
                base::stem(path),
                cfg.seed,
                best_failure.kind.to_lowercase()
            ),
            format!(" --base {path}"),
        ),
        None => (
            format!("explore-{}-{}", cfg.seed, best_failure.kind.to_lowercase()),
            String::new(),
        ),
    };
    let description = format!(
        "found by `aptsim explore{base} --seed {}{}` (case {number}), shrunk: {}",
        cfg.seed,
        if cfg.swarm { "" } else { " --no-swarm" },
        best_failure.to_string().replace(['\n', '\r'], " ")
    );
    let toml = best.to_toml(&name, &description);
    let file = match &cfg.out {
        Some(dir) => Some(write_file(dir, &name, &toml)?),
        None => None,
    };
    Ok(Found {
        case: number,
        failure: best_failure,
        toml,
        file,
        shrink_steps: (tried, kept),
    })
}

fn write_file(dir: &Path, name: &str, toml: &str) -> Result<PathBuf, ExploreError> {
    let path = dir.join(format!("{name}.toml"));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, toml))
        .map_err(|source| ExploreError::Write {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}
