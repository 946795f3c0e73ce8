//! The SMTP parties on either side of the gateway's proxy, sans-IO.
//!
//! - [`sender`]: the sending MTA's client for one delivery attempt.
//! - [`attempt`]: what an attempt reports: its outcome, events and outputs.
//! - [`presets`]: sending-MTA timeouts, retry schedules and queue lifetimes (postfix, exim,
//!   sendmail, exchange), each with its source.
//! - [`receiver`]: the receiving mail server behind the proxy (Postfix `smtpd` defaults).

pub mod attempt;
pub mod presets;
pub mod receiver;
pub mod sender;
