//! Whole simulations with wire protocols: SMTP messages (one small attachment each) through
//! the sending MTA, the SMTP proxy, the data center and the mail server, on virtual time.
//! Throughput is in simulated messages per second of wall time (ARCHITECTURE.md target:
//! 20,000 per second on one core).
//!
//! The benches of many messages run each world as `aptsim run` runs it: with the binary's
//! allocator (mimalloc), the invariants N1-N9 checked online as the trace is written, and
//! nothing kept. Five days of retries, one message, times the world alone (`world::run`).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use aptsim_actors::world;
use aptsim_scenarios::format::Scenario;
use aptsim_scenarios::runner;

/// The allocator of the `aptsim` binary (cli/src/main.rs): the bench measures what a run
/// costs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MESSAGES: usize = 1_000;

fn scenario(release: bool) -> Scenario {
    let text = format!(
        "[world]\npolicy = {{ release_immediately = {release} }}\n\
         [world.datacenter]\nanalysis = {{ min = \"1m\", max = \"4m\" }}\n\
         [[traffic]]\ncount = {MESSAGES}\nevery = \"3600ms\"\npool = 300\nhigh = 0.01\n"
    );
    Scenario::from_toml(&text, "bench.toml").expect("valid scenario")
}

/// Runs `s` once and stops the bench unless it passed: a world that broke could be fast.
fn checked_once(s: &Scenario) {
    let report = runner::run_with(s, 1, &runner::Keep::default()).expect("runs");
    assert!(report.passed(), "{}: {:?}", s.name, report.violations);
}

fn simulation(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulation");
    group.sample_size(10);
    group.throughput(Throughput::Elements(MESSAGES as u64));
    let nothing_kept = runner::Keep::default();
    for (name, release) in [
        ("release_1000_msgs_checked", true),
        ("hold_1000_msgs_checked", false),
    ] {
        let s = scenario(release);
        checked_once(&s);
        group.bench_function(name, |b| {
            b.iter(|| runner::run_with(&s, 1, &nothing_kept).expect("runs"))
        });
    }
    // A day's mix (scenarios/scale/day-10k.toml): one message in five with a file, hold
    // mode, checked online as a run is (`runner::run_with`, nothing kept), as `aptsim run`
    // runs the million-message day.
    let day = aptsim_scenarios::files::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/scale/day-10k.toml"
    )))
    .expect("scenarios/scale/day-10k.toml");
    checked_once(&day);
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("day_mix_10000_msgs_checked", |b| {
        b.iter(|| runner::run_with(&day, 1, &nothing_kept).expect("runs"))
    });
    // Five days of Postfix retries against a server that is down: a week on the clock.
    let text = "[world]\nmta = \"postfix\"\n[[fault]]\nat = \"0s\"\nkind = \"server_down\"\n\
                [[message]]\nid = \"m1\"\n[[message.attachment]]\nname = \"a.pdf\"\n";
    let (spec, _) =
        runner::world_of(&Scenario::from_toml(text, "b.toml").expect("valid"), 1).expect("world");
    group.throughput(Throughput::Elements(1));
    group.bench_function("five_days_of_retries", |b| {
        b.iter(|| world::run(spec.clone()))
    });
    group.finish();
}

criterion_group!(benches, simulation);
criterion_main!(benches);
