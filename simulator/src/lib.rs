//! aptsim-simulator: the simulated world on virtual time.
//!
//! # Layout
//! - [`world`]: builds the actors and runs them on paused (virtual) time.
//! - [`rng`]: one seed per run, one stream per actor.
//! - [`invariants`]: N1–N9, checked from the trace after every run.
//! - [`metrics`]: latency percentiles, holds, uploads, cache hits, retries, exposures.

pub mod invariants;
pub mod metrics;
pub mod rng;
pub mod world;
