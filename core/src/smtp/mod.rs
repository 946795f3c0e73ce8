//! SMTP on the wire, sans-IO: the proxy session and the pieces it is made of.
//!
//! - [`reply`]: replies, written and parsed incrementally.
//! - [`command`]: command lines and their parser.
//! - [`data`]: message data after DATA (dot-unstuffing, strict line ends against smuggling).
//! - [`config`], [`events`], [`ehlo`]: the session's settings, its outputs and events, and the
//!   EHLO extension filter.
//! - [`proxy`]: the proxy session between a sending MTA and the receiving server (S1–S7, X2).
//! - [`sender`]: the sending MTA's client for one delivery attempt, with its outcome.
//! - [`receiver`]: the receiving mail server behind the proxy (Postfix `smtpd` defaults).
//! - [`presets`]: sending-MTA timeouts, retry schedules and queue lifetimes (postfix, exim,
//!   sendmail, exchange).

pub mod command;
pub mod config;
pub mod data;
pub mod ehlo;
pub mod events;
pub mod presets;
pub mod proxy;
pub mod receiver;
pub mod reply;
pub mod sender;
