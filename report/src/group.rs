//! Per-message grouping: which lines of the trace belong to which message, as steps and
//! spans of its [`Story`].
//!
//! The trace names a message on some records (`queued`, `attempt_started`, `decision`,
//! `delivered`, …) and only a connection, a transaction or a file on others. A first pass
//! learns the links: a decision's `(conn, txn)`, each attempt's connection, each IMAP
//! decision's connection and how long it was held. A second pass, in time order, gives each
//! line to its message: a `(conn, txn)` record to the message decided in that transaction (or
//! the last one started on that connection), a data-center answer to the messages waiting on
//! that file at that moment.

use std::collections::HashMap;

use crate::duration::short;
use crate::line::{Event, File, Line};
use crate::story::{FaultSpan, Lane, Span, Step, Story};

/// A run's trace, grouped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grouped {
    /// One story per message, in the order the trace first names them.
    pub stories: Vec<Story>,
    /// The faults injected.
    pub faults: Vec<FaultSpan>,
    /// The time of the last line.
    pub end: u64,
    /// Data-center requests: uploads, look-ups, refusals.
    pub uploads: usize,
    /// Look-ups answered at once.
    pub lookups: usize,
}

/// What the first pass learns.
#[derive(Default)]
struct Links {
    /// The message decided in each SMTP transaction.
    txn: HashMap<(u64, u64), String>,
    /// Messages started on each sender connection, with when.
    conn: HashMap<u64, Vec<(u64, String)>>,
    /// Messages held on each IMAP connection.
    imap: HashMap<u64, Vec<ImapHeld>>,
}

/// A message an IMAP fetch held, from its decision.
struct ImapHeld {
    /// Held from.
    from: u64,
    /// Decided at.
    to: u64,
    msg: String,
    /// MD5s of its files.
    files: Vec<String>,
}

impl Links {
    fn learn(lines: &[Line]) -> Self {
        let mut links = Links::default();
        for l in lines {
            match &l.event {
                Event::Decision { conn, txn, msg, .. } => {
                    links.txn.insert((*conn, *txn), msg.clone());
                }
                Event::AttemptStarted { conn, msg, .. } => {
                    links
                        .conn
                        .entry(*conn)
                        .or_default()
                        .push((l.t, msg.clone()));
                }
                Event::ImapDecision {
                    conn,
                    msg,
                    held_ms,
                    files,
                    ..
                } => links.imap.entry(*conn).or_default().push(ImapHeld {
                    from: l.t.saturating_sub(*held_ms),
                    to: l.t,
                    msg: msg.clone(),
                    files: files.iter().map(|f| f.md5.clone()).collect(),
                }),
                _ => {}
            }
        }
        links
    }

    /// The message of a transaction, or the last one started on its connection by `t`.
    fn smtp(&self, conn: u64, txn: Option<u64>, t: u64) -> Option<&str> {
        if let Some(m) = txn.and_then(|txn| self.txn.get(&(conn, txn))) {
            return Some(m);
        }
        self.conn
            .get(&conn)?
            .iter()
            .rev()
            .find(|(at, _)| *at <= t)
            .map(|(_, m)| m.as_str())
    }

    /// Messages held on an IMAP connection at `t`; only those with the file `md5` if given
    /// (a fetch of a thousand messages uploads each file for the messages that hold it).
    fn imap_held(&self, conn: u64, t: u64, md5: Option<&str>) -> Vec<&str> {
        self.imap.get(&conn).map_or_else(Vec::new, |held| {
            held.iter()
                .filter(|h| h.from <= t && t <= h.to)
                .filter(|h| md5.is_none_or(|md5| h.files.iter().any(|f| f == md5)))
                .map(|h| h.msg.as_str())
                .collect()
        })
    }
}

/// Builds the stories as the second pass walks the trace.
#[derive(Default)]
struct Builder {
    index: HashMap<String, usize>,
    stories: Vec<Story>,
    /// Messages waiting on a file's answer from the data center, and the proxy that asked.
    waiting: HashMap<String, Vec<(String, Lane)>>,
    /// File names by MD5, for the verdicts' text.
    names: HashMap<String, String>,
    /// Open holds: (conn, txn) → (start, message).
    holds: HashMap<(u64, u64), (u64, String)>,
    /// Open faults by id.
    faults: Vec<FaultSpan>,
    open_faults: HashMap<String, usize>,
}

impl Builder {
    fn story(&mut self, msg: &str, t: u64) -> &mut Story {
        let k = *self.index.entry(msg.to_owned()).or_insert_with(|| {
            self.stories.push(Story {
                id: msg.to_owned(),
                queued_at: t,
                ..Story::default()
            });
            self.stories.len() - 1
        });
        &mut self.stories[k]
    }

    fn step(
        &mut self,
        msg: &str,
        t: u64,
        kind: &'static str,
        lanes: (Lane, Option<Lane>),
        text: String,
    ) {
        self.story(msg, t).steps.push(Step {
            t,
            kind,
            from: lanes.0,
            to: lanes.1,
            text,
        });
    }

    fn close_hold(&mut self, key: (u64, u64), t: u64, how: &str) {
        if let Some((start, msg)) = self.holds.remove(&key) {
            let text = format!("held {} ({how})", short(t - start));
            self.story(&msg, start).spans.push(Span {
                start,
                end: t,
                lane: Lane::Proxy,
                kind: "hold",
                text,
            });
        }
    }

    /// A data-center answer about `md5`, to every message waiting on it.
    fn answer(&mut self, md5: &str, t: u64, kind: &'static str, what: String, done: bool) {
        let waiting = if done {
            self.waiting.remove(md5).unwrap_or_default()
        } else {
            self.waiting.get(md5).cloned().unwrap_or_default()
        };
        let name = self
            .names
            .get(md5)
            .cloned()
            .unwrap_or_else(|| md5.to_owned());
        for (msg, proxy) in waiting {
            let to = (kind != "lost").then_some(proxy);
            self.step(
                &msg,
                t,
                kind,
                (Lane::Datacenter, to),
                format!("{what} {name}"),
            );
        }
    }

    fn line(&mut self, l: &Line, links: &Links) {
        let t = l.t;
        let (sender, proxy, dc, server) =
            (Lane::Sender, Lane::Proxy, Lane::Datacenter, Lane::Server);
        match &l.event {
            Event::Queued { msg } => {
                self.story(msg, t).queued_at = t;
                self.step(msg, t, "queued", (sender, None), "queued".into());
            }
            Event::AttemptStarted { msg, attempt, conn } => {
                let text = format!("attempt {attempt} (conn {conn})");
                self.step(msg, t, "attempt", (sender, Some(proxy)), text);
            }
            Event::AttemptEnded {
                msg,
                attempt,
                result,
                reason,
            } => {
                let text = format!("attempt {attempt} {result}: {}", clip(reason));
                self.step(msg, t, "attempt_end", (sender, None), text);
            }
            Event::SenderTimeout {
                msg,
                attempt,
                phase,
            } => {
                let text = format!("sender timeout waiting for {phase} (attempt {attempt})");
                self.step(msg, t, "timeout", (sender, None), text);
            }
            Event::MayBeDeliveredMultipleTimes { msg, attempt } => {
                let text = format!(
                    "attempt {attempt} unanswered after its final dot: may be delivered twice"
                );
                self.step(msg, t, "ambiguous", (sender, None), text);
            }
            Event::RetryScheduled {
                msg,
                attempt,
                at_ms,
            } => {
                let text = format!(
                    "retry: attempt {attempt} at {}",
                    crate::duration::offset(*at_ms)
                );
                self.step(msg, t, "retry", (sender, None), text);
            }
            Event::Bounced { msg, reason } => {
                self.story(msg, t).bounced = true;
                self.step(
                    msg,
                    t,
                    "bounced",
                    (sender, None),
                    format!("bounced: {}", clip(reason)),
                );
            }
            Event::SmtpReply {
                conn,
                side,
                code,
                text,
            } if *code >= 400 => {
                if let Some(msg) = links.smtp(*conn, None, t).map(str::to_owned) {
                    let kind = if *code >= 500 { "reply5" } else { "reply4" };
                    let lanes = if side == "upstream" {
                        (server, Some(proxy))
                    } else {
                        (proxy, Some(sender))
                    };
                    self.step(&msg, t, kind, lanes, format!("{code} {}", clip(text)));
                }
            }
            Event::Submission {
                conn,
                txn,
                md5,
                name,
                upload,
            } => {
                self.names.insert(md5.clone(), name.clone());
                // The IMAP proxy submits the files of the messages a held fetch names.
                let (msgs, from): (Vec<String>, Lane) = if l.actor == "imap_proxy" {
                    let held = links.imap_held(*conn, t, Some(md5));
                    (
                        held.into_iter().map(str::to_owned).collect(),
                        Lane::ImapProxy,
                    )
                } else {
                    let msg = links.smtp(*conn, Some(*txn), t).map(str::to_owned);
                    (msg.into_iter().collect(), proxy)
                };
                for msg in msgs {
                    let waiting = self.waiting.entry(md5.clone()).or_default();
                    waiting.push((msg.clone(), from));
                    if *upload {
                        let text = format!("upload {name}");
                        self.step(&msg, t, "upload", (from, Some(dc)), text);
                    } else {
                        let text = format!("waits on another upload of {name} (X1)");
                        self.step(&msg, t, "wait", (from, None), text);
                    }
                }
            }
            Event::ImapHoldStart { conn, messages } => {
                for msg in links.imap_held(*conn, t, None) {
                    let text = format!("fetch held ({messages} messages to judge)");
                    self.step(msg, t, "hold", (Lane::ImapProxy, None), text);
                }
            }
            Event::Verdict {
                md5,
                level,
                analysis_ms,
            } => {
                let what = format!("verdict {level} after {}:", short(*analysis_ms));
                self.answer(md5, t, "verdict", what, true);
            }
            Event::Lookup { md5, level } => {
                self.answer(md5, t, "lookup", format!("known {level}:"), true)
            }
            Event::Unreachable { md5 } => {
                self.answer(md5, t, "unreachable", "unreachable:".into(), true)
            }
            Event::AnalysisLost { md5 } => {
                self.answer(md5, t, "lost", "analysis lost:".into(), true)
            }
            Event::BodyRelayed { conn, txn } => {
                if let Some(msg) = links.smtp(*conn, Some(*txn), t).map(str::to_owned) {
                    self.step(
                        &msg,
                        t,
                        "body",
                        (proxy, Some(server)),
                        "body relayed".into(),
                    );
                }
            }
            Event::HoldStart { conn, txn } => {
                if let Some(msg) = links.smtp(*conn, Some(*txn), t).map(str::to_owned) {
                    self.holds.insert((*conn, *txn), (t, msg.clone()));
                    self.step(
                        &msg,
                        t,
                        "hold",
                        (proxy, None),
                        "hold: no reply to the final dot".into(),
                    );
                }
            }
            Event::Decision {
                conn,
                txn,
                msg,
                action,
                decision,
                held_ms,
                released,
                files,
                ..
            } => {
                self.close_hold((*conn, *txn), t, "decided");
                let cached = files.iter().filter(|f| f.source == "cache").count();
                let kind = if cached > 0 {
                    "cache_decision"
                } else {
                    "decision"
                };
                let mut text = format!("decision: {decision} ({action})");
                if let Some(h) = held_ms.filter(|h| *h > 0) {
                    text.push_str(&format!(", held {}", short(h)));
                }
                if *released {
                    text.push_str(", released unjudged");
                }
                text.push_str(&files_text(files));
                self.story(msg, t).decision = Some(decision.clone());
                self.step(msg, t, kind, (proxy, None), text);
            }
            Event::Exposure {
                conn,
                txn,
                md5,
                level,
                window_ms,
            } => {
                if let Some(msg) = links.smtp(*conn, Some(*txn), t).map(str::to_owned) {
                    let name = self.names.get(md5).cloned().unwrap_or_else(|| md5.clone());
                    let text = format!(
                        "exposure: {name} released unjudged, judged {level} {} later",
                        short(*window_ms)
                    );
                    self.story(&msg, t).spans.push(Span {
                        start: t.saturating_sub(*window_ms),
                        end: t,
                        lane: server,
                        kind: "exposure",
                        text: text.clone(),
                    });
                    self.step(&msg, t, "exposure", (proxy, None), text);
                }
            }
            Event::Quarantined { msg } => {
                self.story(msg, t).quarantined = true;
                self.step(msg, t, "quarantined", (proxy, None), "quarantined".into());
            }
            Event::ClientGone {
                conn,
                txn,
                after_body_sent,
            } => {
                if let Some(msg) = links.smtp(*conn, *txn, t).map(str::to_owned) {
                    let keys: Vec<(u64, u64)> = self
                        .holds
                        .keys()
                        .filter(|k| k.0 == *conn)
                        .copied()
                        .collect();
                    for k in keys {
                        self.close_hold(k, t, "sender gone");
                    }
                    let text = if *after_body_sent {
                        "sender gone after the body went upstream (ambiguous)"
                    } else {
                        "sender gone"
                    };
                    self.step(&msg, t, "gone", (proxy, None), text.into());
                }
            }
            Event::Delivered { msg } => {
                let s = self.story(msg, t);
                s.deliveries += 1;
                s.delivered_at.get_or_insert(t);
                self.step(msg, t, "delivered", (server, None), "delivered".into());
            }
            Event::ImapDecision {
                msg,
                action,
                result,
                held_ms,
                files,
                ..
            } => {
                if *held_ms > 0 {
                    self.story(msg, t).spans.push(Span {
                        start: t - held_ms.min(&t),
                        end: t,
                        lane: Lane::ImapProxy,
                        kind: "hold",
                        text: format!("fetch held {}", short(*held_ms)),
                    });
                }
                let cached = files.iter().any(|f| f.source == "cache");
                let kind = if cached { "cache_decision" } else { "decision" };
                let text = format!("IMAP decision: {result} ({action}){}", files_text(files));
                self.story(msg, t).imap_result = Some(result.clone());
                self.step(msg, t, kind, (Lane::ImapProxy, None), text);
            }
            Event::ImapClientTimeout { client, conn } => {
                for msg in links.imap_held(*conn, t, None) {
                    let text = format!("{client} timed out waiting for the held fetch");
                    self.step(msg, t, "timeout", (Lane::Client, None), text);
                }
            }
            Event::ImapClientGone { conn } => {
                for msg in links.imap_held(*conn, t, None) {
                    self.step(
                        msg,
                        t,
                        "gone",
                        (Lane::ImapProxy, None),
                        "client gone during the hold".into(),
                    );
                }
            }
            Event::ImapKeepalive { conn } => {
                for msg in links.imap_held(*conn, t, None) {
                    self.step(
                        msg,
                        t,
                        "keepalive",
                        (Lane::ImapProxy, Some(Lane::Client)),
                        "keepalive".into(),
                    );
                }
            }
            Event::MailboxStored { msg, account } => {
                self.step(
                    msg,
                    t,
                    "stored",
                    (Lane::ImapServer, None),
                    format!("stored in {account}'s INBOX"),
                );
            }
            Event::ImapFetched {
                client,
                msg,
                attempts,
            } => {
                self.story(msg, t).fetched = true;
                let text = format!("{client} has it ({attempts} download attempts)");
                self.step(
                    msg,
                    t,
                    "fetched",
                    (Lane::ImapProxy, Some(Lane::Client)),
                    text,
                );
            }
            Event::Fault { id, kind, detail } => self.fault(id, kind, detail, t),
            _ => {}
        }
    }

    fn fault(&mut self, id: &str, kind: &str, detail: &str, t: u64) {
        if let Some(base) = id.strip_suffix("/end") {
            if let Some(k) = self.open_faults.remove(base) {
                self.faults[k].end = t;
            }
            return;
        }
        self.faults.push(FaultSpan {
            id: id.to_owned(),
            kind: kind.to_owned(),
            start: t,
            end: t,
        });
        if detail != "once" {
            self.open_faults
                .insert(id.to_owned(), self.faults.len() - 1);
        }
    }
}

/// Groups a trace (in time order, as [`crate::line::parse`] returns it) by message.
pub fn group(lines: &[Line]) -> Grouped {
    let links = Links::learn(lines);
    let mut b = Builder::default();
    let mut uploads = 0;
    let mut lookups = 0;
    for l in lines {
        match &l.event {
            Event::Submission { upload: true, .. } => uploads += 1,
            Event::Lookup { .. } => lookups += 1,
            _ => {}
        }
        b.line(l, &links);
    }
    let end = lines.last().map_or(0, |l| l.t);
    let open: Vec<(u64, u64)> = b.holds.keys().copied().collect();
    for k in open {
        b.close_hold(k, end, "still held at the end");
    }
    for k in b.open_faults.values() {
        b.faults[*k].end = end;
    }
    for s in &mut b.stories {
        s.spans.sort_by_key(|s| s.start);
    }
    Grouped {
        stories: b.stories,
        faults: b.faults,
        end,
        uploads,
        lookups,
    }
}

/// The files of a decision: `: a.pdf clean (cache), b.doc unjudged (released)`.
fn files_text(files: &[File]) -> String {
    let list: Vec<String> = files
        .iter()
        .map(|f| format!("{} {} ({})", f.name, f.level, f.source))
        .collect();
    if list.is_empty() {
        String::new()
    } else {
        format!("; {}", list.join(", "))
    }
}

/// A peer's free text, cut to what a marker's tooltip shows.
fn clip(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
