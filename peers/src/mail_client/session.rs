//! The client's side of one connection ([`MailClient`]'s private half): opening it, the
//! prologue (greeting, `CAPABILITY`, `LOGIN`, `SELECT`), running the queued operations one at
//! a time, `IDLE` and `LOGOUT`, and what happens when a connection times out or is lost
//! (each program's policy; see [`super::client`]).

use aptsim_core::clock::Timestamp;
use aptsim_core::imap::{ResponseKind, ServerResponse};

use super::client::{MailClient, Queued, Running};
use super::config::quoted;
use super::conn::{Conn, Phase, Status, first_line, numbered, status, uidnext, untagged_word};
use super::events::{ClientEvent, ClientOutput, ConnId, FailReason, Job, Step};
use super::job::{JobCtx, JobEnd, MailboxInfo, Untagged, Work};
use super::presets::Program;

/// How a connection was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Lost {
    ConnectFailed,
    Timeout(Step),
    Closed(Step),
    Bye,
    Protocol(String),
}

impl Lost {
    fn reason(&self) -> FailReason {
        match self {
            Lost::ConnectFailed => FailReason::ConnectFailed,
            Lost::Timeout(what) => FailReason::Timeout { what: what.clone() },
            Lost::Closed(what) => FailReason::ConnectionLost { what: what.clone() },
            Lost::Bye => FailReason::ServerBye,
            Lost::Protocol(e) => FailReason::Protocol(e.clone()),
        }
    }
}

impl MailClient {
    /// Opens a connection for the front of the queue.
    fn connect(&mut self, now: Timestamp) {
        self.conns_opened += 1;
        let id = ConnId(self.conns_opened);
        self.conn = Some(Conn::connecting(id, &self.config.preset.timeouts, now));
        self.mailbox = MailboxInfo::default();
        self.out.push_back(ClientOutput::Connect { conn: id });
    }

    pub(super) fn connected(&mut self, id: ConnId, now: Timestamp) {
        let timeouts = &self.config.preset.timeouts;
        if let Some(conn) = self.conn.as_mut().filter(|c| c.id == id)
            && conn.phase == Phase::Connecting
        {
            conn.opened(timeouts, now);
            self.event(ClientEvent::Connected { conn: id });
        }
    }

    pub(super) fn received(&mut self, bytes: &[u8], now: Timestamp) {
        if bytes.contains(&b'\n') {
            // fetchmail's `set_timeout(0)` after each line read clears its count.
            self.timeouts_in_row = 0;
        }
        let timeouts = self.config.preset.timeouts.clone();
        if let Some(conn) = self.conn.as_mut() {
            conn.received(bytes, &timeouts, now);
        }
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return;
            };
            match conn.next_response() {
                Ok(Some(resp)) => self.on_response(&resp, now),
                Ok(None) => break,
                Err(e) => {
                    self.lose(Lost::Protocol(e.to_string()), now);
                    return;
                }
            }
        }
        if let Some(conn) = self.conn.as_mut() {
            conn.settle(&timeouts, now);
        }
    }

    pub(super) fn server_closed(&mut self, now: Timestamp) {
        let Some(conn) = &self.conn else { return };
        let quiet = match conn.phase {
            Phase::LoggingOut => true,
            Phase::Ready | Phase::Idling { .. } => self.running.is_none() && !conn.has_pending(),
            _ => false,
        };
        let what = conn.waiting_for();
        if quiet
            && !matches!(
                conn.phase,
                Phase::Idling {
                    done_sent: true,
                    ..
                }
            )
        {
            self.drop_conn();
        } else {
            self.lose(Lost::Closed(what), now);
        }
    }

    pub(super) fn timed_out(&mut self, now: Timestamp) {
        let Some(conn) = &self.conn else { return };
        let (id, what, phase) = (conn.id, conn.waiting_for(), conn.phase);
        self.event(ClientEvent::TimedOut {
            conn: id,
            what: what.clone(),
        });
        if phase == Phase::LoggingOut {
            self.drop_conn();
            return;
        }
        self.lose(Lost::Timeout(what), now);
    }

    fn drop_conn(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.out.push_back(ClientOutput::Close { conn: conn.id });
        }
    }

    /// The connection is gone: close it, and settle the operation it carried by the
    /// program's policy.
    pub(super) fn lose(&mut self, lost: Lost, now: Timestamp) {
        let Some(conn) = self.conn.take() else { return };
        self.out.push_back(ClientOutput::Close { conn: conn.id });
        if matches!(lost, Lost::Timeout(_)) {
            self.timeouts_in_row += 1;
        }
        // The operation the connection carried: the running one, or the queued one it was
        // being opened (or woken from IDLE) for.
        let for_queue = matches!(
            conn.phase,
            Phase::Connecting
                | Phase::Greeting
                | Phase::Prologue
                | Phase::Idling {
                    done_sent: true,
                    ..
                }
        );
        let affected = match self.running.take() {
            Some(r) => Some((r.job, r.retried)),
            None if for_queue => self.queue.pop_front().map(|q| (q.job, q.retried)),
            None => None,
        };
        let Some((job, retried)) = affected else {
            return;
        };
        let what = match &lost {
            Lost::Timeout(w) | Lost::Closed(w) => Some(w.clone()),
            _ => None,
        };
        match &self.config.preset.program {
            Program::Thunderbird(_) => {
                if let (Lost::Timeout(w), true) = (&lost, conn.greeted)
                    && retried.as_ref().is_none_or(|r| !same_operation(r, w))
                {
                    self.event(ClientEvent::Retrying {
                        job: job.clone(),
                        what: w.clone(),
                    });
                    self.queue.push_front(Queued {
                        job,
                        retried: Some(w.clone()),
                    });
                    return;
                }
            }
            Program::Outlook(p) => {
                if let Some(w) =
                    what.filter(|w| p.stall_on_held_fetch && job == Job::Check && w.is_content())
                {
                    self.event(ClientEvent::SyncStalled { what: w });
                    self.stalled = true;
                    self.queue.clear();
                    return;
                }
            }
            Program::Fetchmail(p) => {
                let max_timeouts = p.max_timeouts;
                self.event(ClientEvent::Failed {
                    job,
                    reason: lost.reason(),
                });
                if let Some(max) = max_timeouts
                    && self.timeouts_in_row > max
                {
                    self.wedged = true;
                    self.queue.clear();
                    self.event(ClientEvent::PollingStopped {
                        timeouts: self.timeouts_in_row,
                    });
                }
                return;
            }
            Program::K9(_) | Program::Mbsync(_) => {}
        }
        let _ = now;
        self.event(ClientEvent::Failed {
            job,
            reason: lost.reason(),
        });
    }

    /// Starts what can start: a connection for queued work, the next operation, `DONE` to
    /// leave IDLE for it, or — with nothing left — IDLE or LOGOUT.
    pub(super) fn pump(&mut self, now: Timestamp) {
        loop {
            if self.running.is_some() {
                return;
            }
            let Some(conn) = self.conn.as_mut() else {
                if !self.queue.is_empty() && !self.blocked() {
                    self.connect(now);
                }
                return;
            };
            match conn.phase {
                Phase::Connecting | Phase::Greeting | Phase::Prologue | Phase::LoggingOut => {
                    return;
                }
                Phase::Idling { idling, done_sent } => {
                    if !self.queue.is_empty() && idling && !done_sent {
                        conn.phase = Phase::Idling {
                            idling,
                            done_sent: true,
                        };
                        conn.wrote(&self.config.preset.timeouts, now);
                        let id = conn.id;
                        self.out.push_back(ClientOutput::Send {
                            conn: id,
                            bytes: b"DONE\r\n".to_vec(),
                        });
                        self.event(ClientEvent::Command {
                            conn: id,
                            line: "DONE".to_owned(),
                        });
                    }
                    return;
                }
                Phase::Ready if conn.has_pending() => return,
                Phase::Ready => {}
            }
            let Some(next) = self.queue.pop_front() else {
                self.go_quiet(now);
                return;
            };
            self.event(ClientEvent::Started {
                job: next.job.clone(),
            });
            self.running = Some(Running {
                work: Work::new(&self.config.preset, &next.job),
                job: next.job,
                retried: next.retried,
            });
            self.with_work(now, |work, cx| work.start(cx));
        }
    }

    /// Nothing queued on a ready connection: Thunderbird idles (if offered), the rest log out.
    fn go_quiet(&mut self, now: Timestamp) {
        let idle = matches!(&self.config.preset.program, Program::Thunderbird(p) if p.use_idle)
            && self.conn.as_ref().is_some_and(|c| c.has_cap("IDLE"));
        if idle {
            self.command("IDLE", Step::Idle, now);
            if let Some(conn) = self.conn.as_mut() {
                conn.phase = Phase::Idling {
                    idling: false,
                    done_sent: false,
                };
            }
        } else {
            self.command("LOGOUT", Step::Logout, now);
            if let Some(conn) = self.conn.as_mut() {
                conn.phase = Phase::LoggingOut;
            }
        }
    }

    /// Writes a command on the connection.
    fn command(&mut self, line: &str, step: Step, now: Timestamp) {
        let preset = &self.config.preset;
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let bytes = conn.command(line, step.clone(), &preset.tags, &preset.timeouts, now);
        let id = conn.id;
        self.out.push_back(ClientOutput::Send { conn: id, bytes });
        let shown = if step == Step::Login {
            let user = quoted(&self.config.account.user);
            format!("LOGIN {user} \"***\"")
        } else {
            line.to_owned()
        };
        self.event(ClientEvent::Command {
            conn: id,
            line: shown,
        });
    }

    fn on_response(&mut self, resp: &ServerResponse, now: Timestamp) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let raw = resp.raw();
        let kind = resp.kind();
        if conn.phase == Phase::Greeting && kind != ResponseKind::Untagged {
            let line = first_line(raw);
            return self.lose(Lost::Protocol(format!("not a greeting: {line}")), now);
        }
        match kind {
            ResponseKind::Continuation => {
                if let Phase::Idling { done_sent, .. } = conn.phase {
                    conn.phase = Phase::Idling {
                        idling: true,
                        done_sent,
                    };
                }
            }
            ResponseKind::Untagged => {
                conn.note_capabilities(raw);
                if conn.phase == Phase::Greeting {
                    return self.greeting(raw, now);
                }
                let idling = matches!(conn.phase, Phase::Idling { .. });
                let step = conn.front_step().cloned();
                if let Some(n) = numbered(raw, "EXISTS") {
                    let grew = self.mailbox.exists.is_some_and(|old| n > old);
                    self.mailbox.exists = Some(n);
                    if grew && idling {
                        self.enqueue(Job::Check);
                    }
                }
                if let Some(n) = uidnext(raw) {
                    self.mailbox.uidnext = Some(n);
                }
                let fetch = match resp.fetch() {
                    None => None,
                    Some(Ok(f)) => Some(f),
                    Some(Err(e)) => {
                        let line = first_line(raw);
                        return self.lose(Lost::Protocol(format!("{e} in {line}")), now);
                    }
                };
                let untagged = Untagged {
                    raw: resp,
                    fetch: fetch.as_ref(),
                };
                self.with_work(now, |work, cx| work.untagged(cx, &untagged, step.as_ref()));
            }
            ResponseKind::Tagged(tag) => {
                conn.note_capabilities(raw);
                let Some(step) = conn.take_pending(&tag) else {
                    let line = first_line(raw);
                    return self.lose(Lost::Protocol(format!("reply to no command: {line}")), now);
                };
                let (st, text) = status(raw);
                self.tagged(step, st, &text, now);
            }
        }
    }

    fn greeting(&mut self, raw: &[u8], now: Timestamp) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let preauth = match untagged_word(raw).as_str() {
            "OK" => false,
            "PREAUTH" => true,
            "BYE" => return self.lose(Lost::Bye, now),
            _ => {
                let line = first_line(raw);
                return self.lose(Lost::Protocol(format!("not a greeting: {line}")), now);
            }
        };
        conn.greeted = true;
        conn.phase = Phase::Prologue;
        if self.config.preset.capability_first || conn.caps.is_empty() {
            self.command("CAPABILITY", Step::Capability, now);
        } else {
            self.login_or_select(preauth, now);
        }
        if let Some(conn) = self.conn.as_mut() {
            conn.preauth = preauth;
        }
    }

    fn login_or_select(&mut self, preauth: bool, now: Timestamp) {
        if preauth {
            let mailbox = quoted(&self.config.account.mailbox);
            self.command(&format!("SELECT {mailbox}"), Step::Select, now);
        } else {
            let account = &self.config.account;
            let line = format!(
                "LOGIN {} {}",
                quoted(&account.user),
                quoted(&account.password)
            );
            self.command(&line, Step::Login, now);
        }
    }

    fn tagged(&mut self, step: Step, st: Status, text: &str, now: Timestamp) {
        let ok = st == Status::Ok;
        match step {
            Step::Capability | Step::Login | Step::Select if !ok => {
                // The operation cannot run on this connection: it fails, the client leaves.
                let job = self.queue.pop_front().map(|q| q.job);
                if let Some(job) = job {
                    let reason = FailReason::Refused {
                        what: step,
                        text: text.to_owned(),
                    };
                    self.event(ClientEvent::Failed { job, reason });
                }
                self.go_quiet_logout(now);
            }
            Step::Capability => {
                let preauth = self.conn.as_ref().is_some_and(|c| c.preauth);
                self.login_or_select(preauth, now);
            }
            Step::Login => self.login_or_select(true, now),
            Step::Select => {
                if let Some(conn) = self.conn.as_mut() {
                    conn.phase = Phase::Ready;
                }
            }
            Step::Idle => {
                if let Some(conn) = self.conn.as_mut() {
                    conn.phase = Phase::Ready;
                    if !ok {
                        // IDLE refused: do not ask again on this connection.
                        conn.caps.retain(|c| c != "IDLE");
                    }
                }
            }
            Step::Logout => self.drop_conn(),
            step => self.with_work(now, |work, cx| work.tagged(cx, step, st, text)),
        }
    }

    fn go_quiet_logout(&mut self, now: Timestamp) {
        self.command("LOGOUT", Step::Logout, now);
        if let Some(conn) = self.conn.as_mut() {
            conn.phase = Phase::LoggingOut;
        }
    }

    /// Runs `f` on the operation in progress, then sends its commands and settles its end.
    fn with_work(&mut self, now: Timestamp, f: impl FnOnce(&mut Work, &mut JobCtx<'_>)) {
        let Some(mut running) = self.running.take() else {
            return;
        };
        let caps = self
            .conn
            .as_ref()
            .map(|c| c.caps.clone())
            .unwrap_or_default();
        let mut cx = JobCtx {
            store: &mut self.store,
            mailbox: self.mailbox,
            chunking: &mut self.chunking,
            caps: &caps,
            now,
            cmds: Vec::new(),
            events: Vec::new(),
            end: None,
        };
        f(&mut running.work, &mut cx);
        let (cmds, events, end) = (cx.cmds, cx.events, cx.end);
        for e in events {
            self.event(e);
        }
        let job = running.job.clone();
        self.running = Some(running);
        if let Some(end) = end {
            self.running = None;
            match end {
                JobEnd::Done => self.event(ClientEvent::Done { job }),
                JobEnd::Failed(reason) => self.event(ClientEvent::Failed { job, reason }),
            }
            return;
        }
        for c in cmds {
            self.command(&c.line, c.step, now);
        }
    }
}

/// Whether two steps are the same Thunderbird URL (a chunked download is one).
fn same_operation(a: &Step, b: &Step) -> bool {
    match (a, b) {
        (Step::Chunk { uid: x, .. }, Step::Chunk { uid: y, .. }) => x == y,
        _ => a == b,
    }
}
