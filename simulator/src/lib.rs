//! aptsim-simulator: the machinery of simulated worlds on virtual time — everything but
//! the cast, whose actors (`aptsim-actors`) use it.
//!
//! # Layout
//! - [`timeline`]: the world's own clock, its timers, and the loop that runs a world.
//! - [`clock`]: virtual time since the world started.
//! - [`timer`]: timers that stay cheap by the thousand.
//! - [`link`]: connection events between actors, and links with latency and cuts.
//! - [`retransmit`]: what TCP does with a connection across a cut (Linux backoff).
//! - [`faults`]: the faults a scenario injects.
//! - [`rng`]: one seed per run, one stream per actor.
//! - [`trace`]: the typed trace records and the recorder.
//! - [`observe`]: observers that read the trace as it is written (files, digests, checks).
//! - [`trace_file`]: a trace file read back, one line at a time, into observers.
//! - [`invariants`]: N1–N9, checked from the trace after every run.
//! - [`metrics`]: latency percentiles, holds, uploads, cache hits, retries, exposures.
//! - [`msg_key`]: message ids as compact map keys, for what the checks keep per message.

pub mod clock;
pub mod conn_set;
pub mod faults;
pub mod invariants;
pub mod link;
pub mod message_map;
pub mod metrics;
pub mod msg_key;
pub mod observe;
pub mod retransmit;
pub mod rng;
pub mod timeline;
pub mod timer;
pub mod trace;
pub mod trace_file;
