//! The SMTP parties on either side of the gateway's proxy, sans-IO.
//!
//! - [`sender`]: the sending MTA's client for one delivery attempt, with its outcome.
//! - [`presets`]: sending-MTA timeouts, retry schedules and queue lifetimes (postfix, exim,
//!   sendmail, exchange), each with its source.
//! - [`receiver`]: the receiving mail server behind the proxy (Postfix `smtpd` defaults).

pub mod presets;
pub mod receiver;
pub mod sender;
