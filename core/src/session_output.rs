//! What a proxy session — SMTP or IMAP — asks its driver to do: the same requests for both,
//! carrying each proxy's own events.

use crate::inspect::SubmittedFile;
use crate::work::{Job, WorkId};

/// A session's request to its driver; `E` is the proxy's event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<E> {
    /// Send to the client.
    ToClient(Vec<u8>),
    /// Send to the upstream server.
    ToUpstream(Vec<u8>),
    /// Open the upstream connection; answer with `handle_upstream_connected` or
    /// `handle_upstream_connect_failed`.
    ConnectUpstream,
    /// Close the upstream connection.
    CloseUpstream,
    /// Close the client connection.
    CloseClient,
    /// Upload these files to the data center together (the driver applies X1 through
    /// [`crate::gateway::Gateway::claim_upload`]).
    Submit {
        /// The transaction (SMTP) or held message (IMAP) they belong to.
        txn: u64,
        /// MD5, file name and (when the gateway keeps them) bytes of each.
        files: Vec<SubmittedFile>,
    },
    /// Run this job (inline, or on a worker thread) and hand the result to
    /// `handle_work_done` with its id ([`crate::work`]).
    Work {
        /// The job's id within this session.
        id: WorkId,
        /// What to do (boxed: a job is the largest output, and every other one would be
        /// moved at its size).
        job: Box<Job>,
    },
    /// Something to trace or log.
    Event(E),
}

// Kept small for the same reason as the node's outputs (`node/mod.rs`).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(
    std::mem::size_of::<Output<crate::smtp::proxy::Event>>() <= 48
        && std::mem::size_of::<Output<crate::imap::proxy::ImapEvent>>() <= 48
);

impl<E> Output<E> {
    /// The same request, its event turned into another type.
    pub fn map_event<F>(self, f: impl FnOnce(E) -> F) -> Output<F> {
        match self {
            Output::ToClient(b) => Output::ToClient(b),
            Output::ToUpstream(b) => Output::ToUpstream(b),
            Output::ConnectUpstream => Output::ConnectUpstream,
            Output::CloseUpstream => Output::CloseUpstream,
            Output::CloseClient => Output::CloseClient,
            Output::Submit { txn, files } => Output::Submit { txn, files },
            Output::Work { id, job } => Output::Work { id, job },
            Output::Event(e) => Output::Event(f(e)),
        }
    }
}
