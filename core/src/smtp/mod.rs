//! SMTP, sans-IO: the wire format both sides of a proxy speak, and the proxy session.
//!
//! - [`wire`]: command lines and their parser, replies written and parsed incrementally,
//!   message data after DATA (dot-unstuffing, strict line ends against smuggling).
//! - [`proxy`]: the proxy session between a sending MTA and the receiving server (S1–S7,
//!   X2), its settings, outputs and events, and the EHLO extension filter.
//!
//! The parties around the gateway — the sending MTA's client and its presets, the
//! receiving server — are in `aptsim-peers`.

pub mod proxy;
pub mod wire;
