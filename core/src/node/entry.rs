//! What the node keeps for each session: the session, and beside it its upstream
//! connection, its place in the timer table and its files in the verdict index, so that a
//! turn of the session looks it up once.

use super::UpstreamId;
use super::any_session::AnySession;
use crate::clock::Timestamp;
use crate::digest::Md5;

/// A session and what the node keeps beside it.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) session: AnySession,
    /// Its current upstream connection.
    pub(super) upstream: Option<UpstreamId>,
    /// Its deadline in the node's timer table.
    pub(super) armed: Option<Timestamp>,
    /// The files it is listed under in the verdict index (sorted).
    pub(super) watching: Vec<Md5>,
    /// Its files as it gave them at its last turn (in its order), to tell a change cheaply.
    pub(super) files_seen: Vec<Md5>,
}

impl Entry {
    pub(super) fn new(session: AnySession) -> Self {
        Entry {
            session,
            upstream: None,
            armed: None,
            watching: Vec::new(),
            files_seen: Vec::new(),
        }
    }
}
