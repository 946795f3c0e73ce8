//! aptsim-actors: the actix actors of a simulated world, each a thin shell around a core
//! machine or a role model. Protocol decisions live in `aptsim-core`; actors move bytes over
//! [`wire::Link`]s, keep timers on virtual time, and write the [`record`] trace.
//!
//! # Layout
//! - [`clock`]: virtual time since the world started.
//! - [`record`]: the typed trace records and the recorder.
//! - [`wire`]: connection events between actors, and links with latency and cuts.
//! - [`datacenter`]: the sandbox: lookups, queued analyses, oracle, outages.
//! - [`smtp_proxy`]: the SMTP proxy, running core proxy sessions.

pub mod clock;
pub mod datacenter;
pub mod record;
pub mod smtp_proxy;
pub mod wire;
