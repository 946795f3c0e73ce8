//! The sending MTA: a queue of messages, one core [`SenderSession`] per delivery attempt,
//! and its preset's retry schedule and queue lifetime (postfix, exim, sendmail, exchange).
//!
//! # Stopped and started again (`sender_restart`)
//! A stop kills every delivery in progress: each attempt ends deferred
//! ([`DeferReason::Stopped`]) and its connection closes, as the kernel closes a dead
//! process's sockets. While the MTA is down nothing is sent: messages submitted meanwhile
//! wait (Postfix's sendmail(1) drops them into the maildrop directory, which pickup(8) reads
//! at start) and retries that fall due wait too. At start every waiting message is tried
//! at once, the interrupted ones first: Postfix's queue manager moves the messages left in
//! the active queue to the incoming queue with the current time and scans the incoming and
//! deferred queues at once (postfix/src/qmgr/qmgr.c, `qmgr_post_init`); Exim's daemon
//! "pretends the alarm has just gone off" so that its first queue runner starts straight
//! away (src/src/daemon.c), and an interrupted delivery left no retry record to wait for.
//! Retries not yet due keep their times. Sendmail and Exchange are modelled the same way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aptsim_core::digest::Md5;

use std::rc::Rc;

use actix::prelude::*;
use aptsim_core::clock::Timestamp;
use aptsim_core::conn_map::ConnMap;
use aptsim_peers::smtp::presets::SenderPreset;
use aptsim_peers::smtp::sender::{
    AttemptResult, DeferReason, SenderEvent, SenderOutput, SenderSession,
};

use aptsim_simulator::clock::Clock;

use crate::originals::{Original, Originals};
use crate::outgoing::{Messages, Outgoing};
use aptsim_simulator::link::{ConnId, Link, Wire};
use aptsim_simulator::trace::{AttemptOutcome, Record, Recorder};

/// A message for the queue.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// Its id (also in its `X-Aptsim-Id` header).
    pub id: String,
    /// When it enters the queue.
    pub at: Duration,
    /// Reverse path.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// The message, shared by every attempt (never copied per attempt).
    pub raw: Arc<[u8]>,
    /// The MD5s of its files as built (for the mail server's [`Originals`]).
    pub files: Arc<[Md5]>,
}

struct Queued {
    message: OutgoingMessage,
    queued_at: Timestamp,
    attempts: u32,
}

struct Attempt {
    msg: String,
    number: u32,
    session: SenderSession,
    armed: aptsim_simulator::timer::Armed,
    closed: bool,
}

/// The sending MTA actor.
pub struct SendingMta {
    preset: SenderPreset,
    helo: String,
    site: String,
    proxy: Rc<Recipient<Wire>>,
    link: Link,
    clock: Clock,
    trace: Recorder,
    /// The queued messages as sent, for the mail server ([`Originals`]).
    originals: Originals,
    /// The messages not yet due, made one at a time ([`Outgoing`]).
    feed: Messages,
    queue: BTreeMap<String, Queued>,
    attempts: ConnMap<Attempt>,
    next_conn: ConnId,
    /// Its own address, for the links and for its timers.
    me: crate::me::Me,
    me_enqueue: crate::me::Me<Enqueue>,
    me_retry: crate::me::Me<Retry>,
    me_attempt: crate::me::Me<AttemptTimer>,
    /// Stops not yet followed by their start: the MTA is down while any is (two restart
    /// faults may overlap).
    stops: u32,
    /// Messages to try when the MTA starts again, in that order.
    at_start: Vec<String>,
}

impl SendingMta {
    /// An MTA at `site` that will queue `messages` at their times and deliver to `proxy`.
    pub fn new(
        preset: SenderPreset,
        site: impl Into<String>,
        proxy: Recipient<Wire>,
        link: Link,
        clock: Clock,
        trace: Recorder,
        messages: &Outgoing,
    ) -> Self {
        SendingMta {
            preset,
            helo: "mta.sender.example".to_owned(),
            site: site.into(),
            proxy: Rc::new(proxy),
            link,
            clock,
            trace,
            originals: Originals::default(),
            feed: messages.start(),
            queue: BTreeMap::new(),
            attempts: ConnMap::new(),
            next_conn: 1,
            me: crate::me::Me::default(),
            me_enqueue: crate::me::Me::default(),
            me_retry: crate::me::Me::default(),
            me_attempt: crate::me::Me::default(),
            stops: 0,
            at_start: Vec::new(),
        }
    }

    /// Shares the queued messages as sent with the mail server of the world.
    pub fn with_originals(mut self, originals: Originals) -> Self {
        self.originals = originals;
        self
    }

    /// The message leaves the queue (delivered, bounced or given up).
    fn forget(&mut self, id: &str) {
        self.queue.remove(id);
        self.originals.remove(id);
    }

    /// Takes the next message from the feed and sets a timer for its time.
    fn queue_next(&mut self, ctx: &mut Context<Self>) {
        if let Some(message) = self.feed.next() {
            let delay = self.clock.until(Timestamp::ZERO + message.at);
            aptsim_simulator::timer::after(delay, self.me_enqueue.get(ctx), Enqueue(message));
        }
    }

    fn start_attempt(&mut self, id: &str, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        let Some(q) = self.queue.get_mut(id) else {
            return;
        };
        q.attempts += 1;
        let conn = self.next_conn;
        self.next_conn += 1;
        let session = SenderSession::new(
            self.preset.timeouts.clone(),
            self.helo.clone(),
            q.message.from.clone(),
            q.message.to.clone(),
            &q.message.raw[..],
            now,
        )
        .with_session_end(self.preset.session_end, q.attempts == 1);
        self.trace.record(
            now,
            "sending_mta",
            Record::AttemptStarted {
                msg: id.to_owned(),
                attempt: q.attempts,
                conn,
            },
        );
        self.attempts.insert(
            conn,
            Attempt {
                msg: id.to_owned(),
                number: q.attempts,
                session,
                armed: aptsim_simulator::timer::Armed::default(),
                closed: false,
            },
        );
        self.link.send_stream(
            &self.me.get(ctx),
            &self.proxy,
            Wire::Connect {
                conn,
                site: self.site.clone(),
                reply_to: ctx.address().recipient(),
            },
        );
        self.flush(conn, ctx);
    }

    /// Carries out what the attempt on `conn` asks, then ends it or re-arms its timer. The
    /// attempt is looked up once; its outputs go out with the other fields borrowed beside
    /// it.
    fn flush(&mut self, conn: ConnId, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        let me = self.me.get(ctx);
        let Some(a) = self.attempts.get_mut(&conn) else {
            return;
        };
        while let Some(out) = a.session.poll_output() {
            match out {
                SenderOutput::Send(bytes) => {
                    self.link
                        .send_stream(&me, &self.proxy, Wire::Bytes { conn, bytes })
                }
                // A FIN, once: on Close, or on Exim's shutdown(SHUT_WR) after its pipelined
                // QUIT, after which the attempt still reads its replies.
                SenderOutput::HalfClose | SenderOutput::Close => {
                    if !a.closed {
                        a.closed = true;
                        self.link
                            .send_stream(&me, &self.proxy, Wire::Closed { conn });
                    }
                }
                SenderOutput::Event(SenderEvent::Timeout { phase }) => self.trace.record(
                    now,
                    "sending_mta",
                    Record::SenderTimeout {
                        msg: a.msg.clone(),
                        attempt: a.number,
                        phase,
                    },
                ),
                SenderOutput::Event(SenderEvent::MayBeDeliveredMultipleTimes { .. }) => {
                    let record = Record::MayBeDeliveredMultipleTimes {
                        msg: a.msg.clone(),
                        attempt: a.number,
                        conn,
                    };
                    self.trace.record(now, "sending_mta", record);
                }
                SenderOutput::Event(_) => {}
            }
        }
        match a.session.result().cloned() {
            Some(result) => self.finish(conn, result, ctx),
            None => {
                a.armed.arm(a.session.poll_timeout(), |due| {
                    let to = self.me_attempt.get(ctx);
                    let timer = AttemptTimer { conn, due };
                    aptsim_simulator::timer::after(self.clock.until(due), to, timer)
                });
            }
        }
    }

    fn finish(&mut self, conn: ConnId, result: AttemptResult, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        let Some(a) = self.attempts.remove(&conn) else {
            return;
        };
        if !a.closed {
            self.link
                .send_stream(&self.me.get(ctx), &self.proxy, Wire::Closed { conn });
        }
        let (outcome, reason) = match &result {
            AttemptResult::Delivered { reply, .. } => {
                (AttemptOutcome::Delivered, reply.to_string())
            }
            AttemptResult::Bounced(reply) => (AttemptOutcome::Bounced, reply.to_string()),
            AttemptResult::Deferred(why) => (AttemptOutcome::Deferred, defer_text(why)),
        };
        self.trace.record(
            now,
            "sending_mta",
            Record::AttemptEnded {
                msg: a.msg.clone(),
                attempt: a.number,
                result: outcome,
                reason: reason.clone(),
            },
        );
        let retry_rcpts = match &result {
            AttemptResult::Delivered { deferred_rcpts, .. } if !deferred_rcpts.is_empty() => Some(
                deferred_rcpts
                    .iter()
                    .map(|(r, _)| r.clone())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        };
        match result {
            // Recipients answered 4xx stay queued, alone, as an MTA keeps them.
            AttemptResult::Delivered { .. } if retry_rcpts.is_some() => {
                if let (Some(q), Some(rcpts)) = (self.queue.get_mut(&a.msg), retry_rcpts) {
                    q.message.to = rcpts;
                }
                self.schedule_retry(a.msg, a.number, reason, ctx);
            }
            AttemptResult::Delivered { .. } => {
                self.forget(&a.msg);
            }
            AttemptResult::Bounced(_) => {
                self.forget(&a.msg);
                self.trace
                    .record(now, "sending_mta", Record::Bounced { msg: a.msg, reason });
            }
            // Back to the queue, tried again as soon as the MTA starts.
            AttemptResult::Deferred(DeferReason::Stopped { .. }) => self.at_start.push(a.msg),
            AttemptResult::Deferred(_) => self.schedule_retry(a.msg, a.number, reason, ctx),
        }
    }

    /// Tries `id` now, or when the MTA starts again if it is stopped.
    fn attempt_or_wait(&mut self, id: String, ctx: &mut Context<Self>) {
        if self.stops > 0 {
            self.at_start.push(id);
        } else {
            self.start_attempt(&id, ctx);
        }
    }

    /// Schedules the next attempt on the preset's schedule, or gives the message up when
    /// that would pass the queue lifetime.
    fn schedule_retry(
        &mut self,
        msg: String,
        number: u32,
        reason: String,
        ctx: &mut Context<Self>,
    ) {
        let now = self.clock.now();
        let Some(q) = self.queue.get(&msg) else {
            return;
        };
        let age = now.saturating_since(q.queued_at);
        let delay = self.preset.retry.next_delay(q.attempts, age);
        if age + delay > self.preset.queue_lifetime {
            self.forget(&msg);
            self.trace.record(
                now,
                "sending_mta",
                Record::Bounced {
                    msg,
                    reason: format!("queue lifetime exceeded after {number} attempts: {reason}"),
                },
            );
            return;
        }
        let at = now + delay;
        self.trace.record(
            now,
            "sending_mta",
            Record::RetryScheduled {
                msg: msg.clone(),
                attempt: number + 1,
                at_ms: at.as_millis(),
            },
        );
        aptsim_simulator::timer::after(delay, self.me_retry.get(ctx), Retry(msg));
    }
}

/// Stops the MTA (`true`: every delivery in progress is killed) or starts it again
/// (`false`: every waiting message is tried). See the module doc.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetStopped(pub bool);

/// A message enters the queue (scheduled at its time, see [`crate::timer`]).
#[derive(Message)]
#[rtype(result = "()")]
struct Enqueue(OutgoingMessage);

/// The next attempt of a deferred message is due.
#[derive(Message)]
#[rtype(result = "()")]
struct Retry(String);

/// An attempt's timer fired.
#[derive(Message)]
#[rtype(result = "()")]
struct AttemptTimer {
    conn: ConnId,
    due: Timestamp,
}

impl Handler<Enqueue> for SendingMta {
    type Result = ();

    fn handle(&mut self, Enqueue(message): Enqueue, ctx: &mut Context<Self>) {
        // The next message is made now and waits for its time: one at a time.
        self.queue_next(ctx);
        let now = self.clock.now();
        let id = message.id.clone();
        self.trace
            .record(now, "sending_mta", Record::Queued { msg: id.clone() });
        self.originals.add(
            &id,
            Original {
                raw: message.raw.clone(),
                files: message.files.clone(),
            },
        );
        self.queue.insert(
            id.clone(),
            Queued {
                message,
                queued_at: now,
                attempts: 0,
            },
        );
        self.attempt_or_wait(id, ctx);
    }
}

impl Handler<Retry> for SendingMta {
    type Result = ();

    fn handle(&mut self, Retry(id): Retry, ctx: &mut Context<Self>) {
        self.attempt_or_wait(id, ctx);
    }
}

impl Handler<SetStopped> for SendingMta {
    type Result = ();

    fn handle(&mut self, SetStopped(stop): SetStopped, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        if stop {
            self.stops += 1;
            let conns: Vec<ConnId> = self.attempts.keys();
            for conn in conns {
                if let Some(a) = self.attempts.get_mut(&conn) {
                    a.session.handle_stopped(now);
                }
                self.flush(conn, ctx);
            }
        } else if self.stops > 0 {
            self.stops -= 1;
            if self.stops > 0 {
                return;
            }
            for id in std::mem::take(&mut self.at_start) {
                self.start_attempt(&id, ctx);
            }
        }
    }
}

impl Handler<AttemptTimer> for SendingMta {
    type Result = ();

    fn handle(&mut self, t: AttemptTimer, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        let Some(a) = self.attempts.get_mut(&t.conn) else {
            return;
        };
        if !a.armed.fire(t.due) {
            return;
        }
        a.session.handle_timeout(now);
        self.flush(t.conn, ctx);
    }
}

fn defer_text(why: &DeferReason) -> String {
    match why {
        DeferReason::Reply(r) => r.to_string(),
        DeferReason::Timeout { phase } => format!("timeout waiting for {phase:?}"),
        DeferReason::ConnectionLost { phase } => format!("connection lost during {phase:?}"),
        DeferReason::ConnectFailed => "connection refused".to_owned(),
        DeferReason::Stopped { phase } => format!("MTA stopped while waiting for {phase:?}"),
    }
}

impl Actor for SendingMta {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.queue_next(ctx);
    }
}

impl Handler<Wire> for SendingMta {
    type Result = ();

    fn handle(&mut self, msg: Wire, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        let conn = msg.conn();
        let Some(a) = self.attempts.get_mut(&conn) else {
            return;
        };
        match msg {
            Wire::Accepted { .. } => a.session.handle_connected(now),
            Wire::Refused { .. } => a.session.handle_connect_failed(now),
            Wire::Bytes { bytes, .. } => a.session.handle_bytes(&bytes, now),
            Wire::Closed { .. } | Wire::Reset { .. } => {
                a.closed = true;
                a.session.handle_closed(now);
            }
            Wire::Connect { .. } => return,
        }
        self.flush(conn, ctx);
    }
}
