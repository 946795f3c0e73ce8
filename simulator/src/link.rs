//! Connections between actors: one message type carries a connection's whole life (open,
//! accept or refuse, bytes, close), so that the same actor code serves SMTP and IMAP.
//! Delivery goes through a [`Link`], which adds latency and can be cut by a fault.
//!
//! # A cut, as TCP lives through it
//! Connection events ([`Link::send_stream`]) are TCP segments: what is sent while the path is
//! cut is not lost but retransmitted ([`crate::retransmit`]), and arrives, in order, at the
//! first retransmission after the repair — bytes, and a FIN too, so a sender that gave up
//! during a cut is seen to leave once the path is back. A cut longer than the
//! retransmissions last aborts the connection: the side that was sending gets
//! [`Wire::Reset`] (`ETIMEDOUT`), a connection attempt gets [`Wire::Refused`], and whatever
//! the other side sends on it later is answered with a reset. A connection with nothing in
//! flight is untouched by a cut (no keepalive): its peers' own timeouts end it.
//! Other messages ([`Link::send`], the data center's requests and answers) are lost during a
//! cut: an HTTP request whose connection hangs is given up by the gateway's analysis
//! timeout, not retried.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use actix::prelude::*;
use tokio::time::Instant;

use crate::clock;
use crate::retransmit::Backoff;

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
    /// The sender of this event closed the connection: a FIN (it sends nothing more).
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// The connection broke: the peer answered with a reset, or this side's TCP gave up
    /// retransmitting (`ETIMEDOUT`). Nothing more is sent or received on it.
    Reset {
        /// The connection.
        conn: ConnId,
    },
}

impl Wire {
    /// The connection this event belongs to.
    pub fn conn(&self) -> ConnId {
        match self {
            Wire::Connect { conn, .. }
            | Wire::Accepted { conn }
            | Wire::Refused { conn }
            | Wire::Bytes { conn, .. }
            | Wire::Closed { conn }
            | Wire::Reset { conn } => *conn,
        }
    }
}

/// A connection event on its way: from whom, to whom (shared with the actors that hold
/// them: a `Recipient` clone allocates three times).
struct Segment {
    from: Rc<Recipient<Wire>>,
    to: Rc<Recipient<Wire>>,
    msg: Wire,
}

/// A segment sent and not yet arrived: when it arrives, and when it was sent (the
/// retransmission clock starts then).
struct InFlight {
    arrival: Instant,
    sent: Instant,
    segment: Segment,
}

/// The segments on their way, in the order they arrive, delivered by one task per link
/// that lives as long as the world: a task and a timer per segment cost more than the rest
/// of the link together.
#[derive(Default)]
struct Delivery {
    queue: VecDeque<InFlight>,
    /// The delivering task has been spawned.
    started: bool,
    /// The delivering task, waiting for a segment (the queue is empty).
    idle: Option<Waker>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("in_flight", &self.queue.len())
            .field("started", &self.started)
            .finish()
    }
}

/// One direction of a connection whose segments wait for the path to come back, oldest
/// first. Each direction has its own retransmission clock, as each side's TCP does.
struct Stalled {
    id: u64,
    conn: ConnId,
    to: Rc<Recipient<Wire>>,
    segments: VecDeque<Segment>,
}

/// Per-link TCP state: stalled directions and aborted connections.
#[derive(Default)]
struct Streams {
    stalled: Vec<Stalled>,
    next_id: u64,
    aborted: BTreeSet<ConnId>,
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stalled: Vec<ConnId> = self.stalled.iter().map(|s| s.conn).collect();
        f.debug_struct("Streams")
            .field("stalled", &stalled)
            .field("aborted", &self.aborted)
            .finish()
    }
}

/// A segment reaching the side that gave its connection up is answered with a reset
/// (never a reset or a FIN: nothing answers those).
fn answer_with_reset(segment: Segment) {
    if !matches!(segment.msg, Wire::Reset { .. } | Wire::Closed { .. }) {
        let conn = segment.msg.conn();
        segment.from.do_send(Wire::Reset { conn });
    }
}

/// A one-way path between two actors: latency, and whether a fault has cut it.
#[derive(Debug, Clone)]
pub struct Link {
    latency: Duration,
    cut: Rc<Cell<bool>>,
    /// When the last message sent with [`Link::send`] arrives: the next arrives strictly
    /// later, so those messages, each its own timer (and task once it fires), are never
    /// reordered. Connection events need no such thing: they queue in order
    /// ([`Link::send_stream`]).
    last_arrival: Rc<Cell<Option<Instant>>>,
    streams: Rc<RefCell<Streams>>,
    delivery: Rc<RefCell<Delivery>>,
}

impl Link {
    /// A link with this one-way latency.
    pub fn new(latency: Duration) -> Self {
        Link {
            latency,
            cut: Rc::new(Cell::new(false)),
            last_arrival: Rc::new(Cell::new(None)),
            streams: Rc::new(RefCell::new(Streams::default())),
            delivery: Rc::new(RefCell::new(Delivery::default())),
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

    /// Delivers `msg` to `to` after the latency, unless the link is cut then (then it is
    /// lost).
    pub fn send<M>(&self, to: &Recipient<M>, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
    {
        let to = to.clone();
        let cut = self.cut.clone();
        let arrival = self.next_arrival();
        crate::timeline::call_at(arrival, move || {
            if !cut.get() {
                to.do_send(msg);
            }
        });
    }

    /// A listening side's answer to a connection: `Accepted`, or `Refused` when it is down.
    pub fn answer_connect(
        &self,
        from: &Rc<Recipient<Wire>>,
        to: &Rc<Recipient<Wire>>,
        conn: ConnId,
        accept: bool,
    ) {
        let answer = if accept {
            Wire::Accepted { conn }
        } else {
            Wire::Refused { conn }
        };
        self.send_stream(from, to, answer);
    }

    /// Sends a connection event from `from` to `to` as TCP would: after the latency, or —
    /// if the path is cut when it gets there — at the first retransmission after the
    /// repair, in order behind what was stalled before it (see the module doc).
    ///
    /// The two ends are shared: each actor makes its own address once ([`Rc`]) and keeps
    /// its peers' as it got them, so a segment costs two counters, not a search of the
    /// link's ends or a `Recipient` clone.
    pub fn send_stream(&self, from: &Rc<Recipient<Wire>>, to: &Rc<Recipient<Wire>>, msg: Wire) {
        let segment = Segment {
            from: Rc::clone(from),
            to: Rc::clone(to),
            msg,
        };
        let sent = clock::now();
        // Every segment of the link has the same latency and the clock only moves forward,
        // so arrivals never go back; what is sent in one instant arrives in one instant, in
        // the order sent (the queue keeps it).
        let arrival = sent + self.latency;
        let mut delivery = self.delivery.borrow_mut();
        delivery.queue.push_back(InFlight {
            arrival,
            sent,
            segment,
        });
        if let Some(idle) = delivery.idle.take() {
            drop(delivery);
            idle.wake();
        } else if !delivery.started {
            delivery.started = true;
            drop(delivery);
            let link = self.clone();
            actix::spawn(async move { link.deliver().await });
        }
    }

    /// Delivers the segments on their way, each at its arrival time, and waits for more when
    /// none is left. Arrival times never go back (one latency, a clock that only moves
    /// forward), so the queue is in arrival order. One timer, reset for each arrival time.
    async fn deliver(self) {
        let mut timer = crate::timeline::sleep_until(clock::now());
        loop {
            let next = std::future::poll_fn(|cx| {
                let mut delivery = self.delivery.borrow_mut();
                match delivery.queue.front() {
                    Some(first) => Poll::Ready(first.arrival),
                    None => {
                        delivery.idle = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            })
            .await;
            timer.reset(next);
            (&mut timer).await;
            // Everything due by now, in order: the timer's wheel ticks in milliseconds.
            let now = clock::now();
            loop {
                let first = {
                    let mut delivery = self.delivery.borrow_mut();
                    match delivery.queue.front() {
                        Some(f) if f.arrival <= now => delivery.queue.pop_front(),
                        _ => None,
                    }
                };
                let Some(InFlight { sent, segment, .. }) = first else {
                    break;
                };
                self.arrive(segment, sent);
            }
        }
    }

    /// The arrival time of a message sent now with [`Link::send`]: after the latency, and
    /// after the previous one.
    fn next_arrival(&self) -> Instant {
        let mut arrival = clock::now() + self.latency;
        if let Some(last) = self.last_arrival.get()
            && arrival <= last
        {
            arrival = last + Duration::from_micros(1);
        }
        self.last_arrival.set(Some(arrival));
        arrival
    }

    /// A segment reaches the cut point or its receiver.
    fn arrive(&self, segment: Segment, sent: Instant) {
        let conn = segment.msg.conn();
        let cut = self.is_cut();
        let mut streams = self.streams.borrow_mut();
        if streams.aborted.contains(&conn) && !cut {
            drop(streams);
            answer_with_reset(segment);
            return;
        }
        if let Some(stalled) = streams
            .stalled
            .iter_mut()
            .find(|s| s.conn == conn && s.to == segment.to)
        {
            stalled.segments.push_back(segment);
            return;
        }
        if !cut {
            drop(streams);
            segment.to.do_send(segment.msg);
            return;
        }
        let backoff = if matches!(segment.msg, Wire::Connect { .. }) {
            Backoff::syn()
        } else {
            Backoff::data()
        };
        let id = streams.next_id;
        streams.next_id += 1;
        streams.stalled.push(Stalled {
            id,
            conn,
            to: segment.to.clone(),
            segments: VecDeque::from([segment]),
        });
        drop(streams);
        let link = self.clone();
        actix::spawn(async move { link.retransmit(id, sent, backoff).await });
    }

    /// Takes a stalled direction out of the table.
    fn unstall(&self, id: u64) -> Option<Stalled> {
        let mut streams = self.streams.borrow_mut();
        let at = streams.stalled.iter().position(|s| s.id == id)?;
        Some(streams.stalled.remove(at))
    }

    /// Retransmits a stalled direction's segments until the path is back (then they all
    /// arrive, in order — or, on a connection the other side gave up, each gets a reset) or
    /// the stack gives up (then the connection is aborted).
    async fn retransmit(self, id: u64, sent: Instant, backoff: Backoff) {
        for offset in backoff.retransmissions {
            crate::timeline::sleep_until(sent + offset + self.latency).await;
            if !self.is_cut() {
                let Some(stalled) = self.unstall(id) else {
                    return;
                };
                let aborted = self.streams.borrow().aborted.contains(&stalled.conn);
                for s in stalled.segments {
                    if aborted {
                        answer_with_reset(s);
                    } else {
                        s.to.do_send(s.msg);
                    }
                }
                return;
            }
        }
        crate::timeline::sleep_until(sent + backoff.give_up).await;
        let Some(stalled) = self.unstall(id) else {
            return;
        };
        let conn = stalled.conn;
        self.streams.borrow_mut().aborted.insert(conn);
        // The sending side learns from its own stack, once: `connect()` fails, or the
        // connection is reset.
        if let Some(first) = stalled.segments.into_iter().next() {
            let news = match first.msg {
                Wire::Connect { .. } => Wire::Refused { conn },
                _ => Wire::Reset { conn },
            };
            first.from.do_send(news);
        }
    }
}
