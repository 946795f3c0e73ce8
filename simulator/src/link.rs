//! Connections between actors: one message type carries a connection's whole life (open,
//! accept or refuse, bytes, close), so that the same actor code serves SMTP and IMAP.
//! Delivery goes through a [`Link`], which adds latency and can be cut by a fault.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;

/// Connection id, unique in a world.
pub type ConnId = u64;

/// One event on a connection, sent to the other end.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum Wire {
    /// Open a connection from `site`; answers go to `reply_to`.
    Connect {
        /// The connection.
        conn: ConnId,
        /// The connecting site's address (for `block`).
        site: String,
        /// Where the accepting side sends its events.
        reply_to: Recipient<Wire>,
    },
    /// The connection is open.
    Accepted {
        /// The connection.
        conn: ConnId,
    },
    /// The connection was refused (nobody listening, or a cut link).
    Refused {
        /// The connection.
        conn: ConnId,
    },
    /// Bytes.
    Bytes {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The sender of this event closed the connection.
    Closed {
        /// The connection.
        conn: ConnId,
    },
}

/// A one-way path between two actors: latency, and whether a fault has cut it.
#[derive(Debug, Clone)]
pub struct Link {
    latency: Duration,
    cut: Rc<Cell<bool>>,
    /// When the last message sent on this link arrives: the next arrives strictly later, so
    /// a link never reorders (timers with equal deadlines have no guaranteed order).
    last_arrival: Rc<Cell<Option<tokio::time::Instant>>>,
}

impl Link {
    /// A link with this one-way latency.
    pub fn new(latency: Duration) -> Self {
        Link {
            latency,
            cut: Rc::new(Cell::new(false)),
            last_arrival: Rc::new(Cell::new(None)),
        }
    }

    /// One-way latency.
    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// Cuts or repairs the link (a fault).
    pub fn set_cut(&self, cut: bool) {
        self.cut.set(cut);
    }

    /// True while cut.
    pub fn is_cut(&self) -> bool {
        self.cut.get()
    }

    /// Delivers `msg` to `to` after the latency, unless the link is cut then.
    pub fn send<M>(&self, to: &Recipient<M>, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
    {
        let to = to.clone();
        let cut = self.cut.clone();
        let mut arrival = tokio::time::Instant::now() + self.latency;
        if let Some(last) = self.last_arrival.get()
            && arrival <= last
        {
            arrival = last + Duration::from_micros(1);
        }
        self.last_arrival.set(Some(arrival));
        actix::spawn(async move {
            tokio::time::sleep_until(arrival).await;
            if !cut.get() {
                to.do_send(msg);
            }
        });
    }
}
