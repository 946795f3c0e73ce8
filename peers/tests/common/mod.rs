//! Helpers for the peers' tests: the wired SMTP parties (`peers`), and the test messages
//! shared with the core crate's tests.
#![allow(dead_code, unused_imports)]

#[path = "../../../core/tests/common/messages.rs"]
mod messages;
pub mod peers;

pub use messages::{content, message, t};
