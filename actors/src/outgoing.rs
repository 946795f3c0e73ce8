//! The sending MTA's messages, produced one at a time in queue order: the MTA asks for the
//! next when it queues one, so a million-message day is never built, or held, ahead of time.

use std::sync::Arc;

use crate::sending_mta::OutgoingMessage;

/// A recipe for the messages of a run, in the order they are queued (by time, ties in the
/// order given). Each run starts the recipe afresh, so one spec runs any number of times.
#[derive(Clone)]
pub struct Outgoing(Arc<dyn Fn() -> Messages + Send + Sync>);

/// The messages of one run.
pub type Messages = Box<dyn Iterator<Item = OutgoingMessage>>;

impl Outgoing {
    /// Messages made on demand by `make`, which must give them in queue order.
    pub fn lazy(make: impl Fn() -> Messages + Send + Sync + 'static) -> Self {
        Outgoing(Arc::new(make))
    }

    /// These messages, queued in order of time (ties keep their order).
    pub fn list(mut messages: Vec<OutgoingMessage>) -> Self {
        messages.sort_by_key(|m| m.at);
        let messages: Arc<[OutgoingMessage]> = messages.into();
        Outgoing::lazy(move || {
            let messages = messages.clone();
            Box::new((0..messages.len()).map(move |i| messages[i].clone()))
        })
    }

    /// The messages of a new run.
    pub fn start(&self) -> Messages {
        (self.0)()
    }
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outgoing(..)")
    }
}

impl Default for Outgoing {
    fn default() -> Self {
        Outgoing::list(Vec::new())
    }
}
