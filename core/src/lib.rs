//! aptsim-core: the sans-IO logic of an email gateway that sends attachments to a cloud
//! sandbox ("data center") before it lets them through.
#![warn(missing_docs)]

pub mod archive;
pub mod digest;
