//! A held FETCH (I1), from the client's command to the moment it goes upstream: which
//! messages it names, fetching the ones not yet judged, and judging each of them.
//!
//! The steps, each one command of the proxy's own on the upstream connection:
//! 1. *resolve*: `[UID] FETCH <the client's set> (UID RFC822.SIZE)` — the UIDs and sizes of
//!    the messages the command names (`1:*` included);
//! 2. *prefetch*: `[UID] FETCH <those not judged> (UID BODY.PEEK[])`, in batches of at most
//!    `max_prefetch_bytes`; each message is extracted and judged by the decision engine in
//!    its IMAP flavour, all its unknown files submitted at once (I2);
//! 3. when every message is decided (and a rewritten one's copy written), the client's own
//!    command goes upstream and its responses are served (`relay.rs`).
//!
//! Fetches the client pipelined behind the first (mbsync sends one `UID FETCH` per message,
//! all at once) join its hold: the ones already read when it starts, and the ones that
//! arrive while it waits for verdicts (mbsync writes each command on its own, so all but the
//! first come a moment later). Their messages are resolved, fetched and judged together,
//! all their files submitted without waiting for the first command's verdicts, and the
//! commands are served in the order sent, each as soon as the messages it names are decided.
//! So one slow analysis does not queue the next message's behind it, and a client that
//! gives up (mbsync after 20 s) finds every verdict in the cache when it comes back (I3),
//! not only the first command's.
//!
//! The steps use sequence numbers when the client did, so that the server may not send an
//! EXPUNGE in between (RFC 3501 §7.4.1) and the numbers the client wrote still name the
//! messages that were judged. `.PEEK` keeps the proxy's own fetches from setting `\Seen`;
//! the client's command sets it, as it would have without the proxy.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::command;
use super::early_parts::serve_file_free_parts;
use super::events::{ImapEvent, MessageLog, MessageResult, Output};
use super::joining::MAX_JOINED;
use super::judged::Served;
use super::judging::Judging;
use super::{ImapSession, Role};
use crate::clock::Timestamp;
use crate::gateway::Gateway;
use crate::imap::{ClientCommand, FetchRequest, FetchResponse};
use crate::work::Job;

/// A message the held command names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Target {
    pub(super) seq: u32,
    pub(super) uid: u32,
    pub(super) size: usize,
    /// When a command asked for it (a fetch that joined late asked later than the first).
    pub(super) since: Timestamp,
}

/// What is served for a message the hold decided: a judged copy, or nothing and why.
pub(super) type Result_ = Result<Served, String>;

/// Where the held command stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Asking which messages it names.
    Resolving,
    /// A batch is being fetched.
    Prefetching,
    /// Messages are being judged.
    Waiting,
    /// The client's command is upstream; its responses are served.
    Serving,
}

/// One held FETCH command.
#[derive(Debug)]
pub(super) struct HeldCommand {
    pub(super) command: ClientCommand,
    pub(super) tag: String,
    pub(super) request: FetchRequest,
    /// It returns more than header fields (X4 keepalives go only to these).
    pub(super) body: bool,
    /// Why its tagged OK becomes a NO: a message that could not be served.
    pub(super) incomplete: Option<String>,
    /// When it joined the hold.
    pub(super) since: Timestamp,
}

/// How often a batch waiting for room under `max_held_bytes` looks again.
const ROOM_RETRY: Duration = Duration::from_secs(1);

/// The held FETCH commands, judged together.
#[derive(Debug)]
pub(super) struct Hold {
    /// The commands, in the order the client sent them; while serving, the first is the
    /// one upstream.
    pub(super) commands: VecDeque<HeldCommand>,
    /// They name messages by UID (else by sequence number; all of a hold do the same).
    pub(super) uid: bool,
    pub(super) since: Timestamp,
    pub(super) step: Step,
    /// The messages it names, from the resolve step.
    pub(super) targets: Vec<Target>,
    /// Messages still to fetch and judge.
    pub(super) to_fetch: VecDeque<Target>,
    /// The batch being fetched.
    pub(super) batch: Vec<Target>,
    pub(super) judging: Vec<Judging>,
    /// Decided messages, by UID.
    pub(super) results: BTreeMap<u32, Result_>,
    /// Messages whose resolve was acted on, by UID, with when a command asked for them (a
    /// later resolve, for fetches that joined late, acts on the new ones only). Looked up,
    /// not scanned: a `1:*` on a large mailbox names many.
    pub(super) resolved: BTreeMap<u32, Timestamp>,
    /// The last commands, not yet named by a `HoldStarted` event (the ones being resolved).
    pub(super) unannounced: usize,
    /// Commands it has taken in all (served ones included), against `MAX_JOINED`.
    pub(super) taken: usize,
    /// When the resolve in flight (or the last one) was asked for.
    pub(super) resolving_since: Timestamp,
    /// The next batch waits for room under `max_held_bytes` until this time, then looks
    /// again.
    pub(super) room_at: Option<Timestamp>,
}

impl Hold {
    /// The command being served (or the first, before).
    pub(super) fn current(&self) -> Option<&HeldCommand> {
        self.commands.front()
    }

    /// Whether any of its commands returns bodies (X4).
    pub(super) fn body(&self) -> bool {
        self.commands.iter().any(|c| c.body)
    }

    /// Bytes it keeps: the messages being judged, and the batch being fetched (counted
    /// from the moment it is asked for, so that two sessions cannot both take the room).
    pub(super) fn held_bytes(&self) -> usize {
        let judging: usize = self.judging.iter().map(|j| j.message.len()).sum();
        let batch: usize = self.batch.iter().map(|t| t.size).sum();
        judging + batch
    }

    /// The server expunged the message at `seq`: it leaves the messages named, and the
    /// numbers above it move down, wherever the hold keeps one.
    pub(super) fn expunged(&mut self, seq: u32) {
        if let Some(gone) = self.targets.iter().find(|t| t.seq == seq) {
            self.resolved.remove(&gone.uid);
        }
        self.targets.retain(|t| t.seq != seq);
        self.to_fetch.retain(|t| t.seq != seq);
        self.batch.retain(|t| t.seq != seq);
        for t in self
            .targets
            .iter_mut()
            .chain(self.to_fetch.iter_mut())
            .chain(self.batch.iter_mut())
        {
            if t.seq > seq {
                t.seq -= 1;
            }
        }
        for j in &mut self.judging {
            j.expunged(seq);
        }
    }

    /// The UID of the message at `seq` among the ones it names.
    pub(super) fn uid_at(&self, seq: u32) -> Option<u32> {
        self.targets.iter().find(|t| t.seq == seq).map(|t| t.uid)
    }
}

impl ImapSession {
    /// A FETCH that returns content arrived: hold it (I1), with the fetches pipelined
    /// behind it that name messages the same way.
    pub(super) fn start_hold(
        &mut self,
        command: ClientCommand,
        tag: String,
        request: FetchRequest,
        body: bool,
        now: Timestamp,
    ) {
        let uid = request.uid;
        let mut commands = VecDeque::from([HeldCommand {
            command,
            tag,
            request,
            body,
            incomplete: None,
            since: now,
        }]);
        commands.extend(self.joining(uid, MAX_JOINED - 1, now));
        let mut hold = Hold {
            commands,
            uid,
            since: now,
            step: Step::Resolving,
            targets: Vec::new(),
            to_fetch: VecDeque::new(),
            batch: Vec::new(),
            judging: Vec::new(),
            results: BTreeMap::new(),
            resolved: BTreeMap::new(),
            unannounced: 0,
            taken: 0,
            resolving_since: now,
            room_at: None,
        };
        hold.unannounced = hold.commands.len();
        hold.taken = hold.commands.len();
        // The next chunk or section of a message just judged: straight to the server.
        if uid {
            let explicit: Option<Vec<u32>> = hold
                .commands
                .iter()
                .map(|c| command::explicit_numbers(&c.request.messages, 64))
                .collect::<Option<Vec<_>>>()
                .map(|all| all.concat());
            if let Some(results) = explicit.and_then(|uids| {
                uids.iter()
                    .map(|&u| self.judged.get(u).map(|s| (u, Ok(s))))
                    .collect::<Option<Vec<_>>>()
            }) {
                hold.results.extend(results);
                self.hold = Some(hold);
                self.serve(now);
                return;
            }
        }
        let text = resolve_text(uid, &hold.commands);
        self.keepalive_at = if hold.body() {
            self.config.keepalive.map(|k| now + k)
        } else {
            None
        };
        self.hold = Some(hold);
        self.own_command(&text, Role::Resolve, now);
    }

    /// A response to the resolve step: one of the messages the command names.
    pub(super) fn resolved_one(&mut self, fetch: &FetchResponse<'_>) {
        let (Some(hold), Some(uid)) = (self.hold.as_mut(), fetch.uid()) else {
            return;
        };
        let size = fetch.rfc822_size().unwrap_or(0) as usize;
        self.judged.note_seq(uid, fetch.seq());
        if hold.resolved.contains_key(&uid) {
            // Named again by a fetch that joined late: the hold has it already.
            return;
        }
        hold.targets.push(Target {
            seq: fetch.seq(),
            uid,
            size,
            since: hold.resolving_since,
        });
    }

    /// The resolve step ended: with `OK`, fetch what is not judged yet; otherwise the
    /// client gets the server's answer (its set named nothing, or no mailbox is selected).
    pub(super) fn resolve_done(&mut self, tagged: &[u8], gw: &mut Gateway, now: Timestamp) {
        let Some(hold) = self.hold.as_mut() else {
            return;
        };
        let first = hold.unannounced == hold.commands.len();
        if !is_ok(tagged) && !first {
            // A late resolve failed: the fetches that joined are served in their turn with
            // nothing of theirs judged, so none of them gets content.
            hold.unannounced = 0;
            hold.step = Step::Waiting;
            self.next_step(now);
            return;
        }
        if !is_ok(tagged) {
            if hold.commands.len() == 1 {
                // The server's own answer to the command (a set that names nothing, no
                // mailbox selected).
                let tag = hold.commands[0].tag.clone();
                self.hold = None;
                self.keepalive_at = None;
                self.send_client(retag(tagged, &tag));
            } else {
                // Joined sets failed together: each command goes to the server on its own,
                // with nothing judged, so none of them gets content.
                self.serve(now);
            }
            return;
        }
        let limit = gw.policy.limits.max_message_bytes;
        let mut withheld = Vec::new();
        let fresh: Vec<Target> = hold
            .targets
            .iter()
            .filter(|t| !hold.resolved.contains_key(&t.uid))
            .copied()
            .collect();
        let before = hold.to_fetch.len();
        for t in fresh {
            // A set that names a message twice: acted on once.
            if hold.resolved.insert(t.uid, t.since).is_some() {
                continue;
            }
            if let Some(served) = self.judged.get(t.uid) {
                hold.results.insert(t.uid, Ok(served));
            } else if t.size > limit {
                let why = format!("message of {} bytes is too large to inspect", t.size);
                hold.results.insert(t.uid, Err(why));
                withheld.push(t);
            } else {
                hold.to_fetch.push_back(t);
            }
        }
        // The commands this resolve was for: all of them, or the ones that joined late.
        let announced = hold.commands.len() - hold.unannounced;
        hold.unannounced = 0;
        let event = ImapEvent::HoldStarted {
            tag: hold
                .commands
                .iter()
                .skip(announced)
                .map(|c| c.tag.as_str())
                .collect::<Vec<_>>()
                .join(","),
            messages: hold.to_fetch.len() - before,
            body: hold.commands.iter().skip(announced).any(|c| c.body),
        };
        self.emit(event);
        for t in withheld {
            self.emit(ImapEvent::Message(Box::new(MessageLog {
                uid: t.uid,
                size: t.size,
                files: Vec::new(),
                action: crate::policy::Action::Allow,
                result: MessageResult::Withheld,
                held: now.saturating_since(t.since),
                fail_open: false,
                served_size: None,
                message: Arc::from(Vec::new()),
            })));
        }
        if let Some(h) = self.hold.as_mut() {
            h.step = Step::Waiting;
        }
        self.next_step(now);
    }

    /// A response to the prefetch step: a whole message to judge.
    pub(super) fn prefetched_one(&mut self, fetch: &FetchResponse<'_>, gw: &Gateway) {
        let Some(hold) = self.hold.as_ref() else {
            return;
        };
        let Some(uid) = fetch.uid().or_else(|| hold.uid_at(fetch.seq())) else {
            return;
        };
        let whole = fetch
            .content()
            .into_iter()
            .find(|c| c.section.is_whole_message() && c.origin.is_none())
            .and_then(|c| c.data.map(<[u8]>::to_vec));
        let Some(message) = whole else {
            if let Some(h) = self.hold.as_mut() {
                h.results
                    .insert(uid, Err("the server returned no content".to_owned()));
            }
            return;
        };
        if hold.judging.iter().any(|j| j.uid == uid) || hold.results.contains_key(&uid) {
            return;
        }
        let since = hold.resolved.get(&uid).copied().unwrap_or(hold.since);
        let message: Arc<[u8]> = Arc::from(message);
        let work = self.next_work();
        self.next_txn += 1;
        self.out.push_back(Output::Work {
            id: work,
            job: Box::new(Job::Extract {
                message: message.clone(),
                limits: gw.policy.limits.clone(),
                keep_contents: gw.submit_bytes,
            }),
        });
        let judging = Judging::new(self.next_txn, uid, fetch.seq(), since, message, work);
        if let Some(h) = self.hold.as_mut() {
            h.judging.push(judging);
        }
    }

    /// The prefetch step ended: a message of the batch the server did not return cannot be
    /// served.
    pub(super) fn prefetch_done(&mut self, now: Timestamp) {
        let Some(hold) = self.hold.as_mut() else {
            return;
        };
        for t in std::mem::take(&mut hold.batch) {
            let known =
                hold.results.contains_key(&t.uid) || hold.judging.iter().any(|j| j.uid == t.uid);
            if !known {
                hold.results.insert(
                    t.uid,
                    Err("the server did not return the message".to_owned()),
                );
            }
        }
        hold.step = Step::Waiting;
        self.next_step(now);
    }

    /// Moves the hold on when it can: the next batch, or serving once all is decided.
    pub(super) fn next_step(&mut self, now: Timestamp) {
        if self.current.is_some() {
            return;
        }
        let Some(hold) = self.hold.as_mut() else {
            return;
        };

        if hold.step == Step::Waiting && !hold.judging.is_empty() && hold.to_fetch.is_empty() {
            let early = serve_file_free_parts(hold);
            self.background.extend(early);
        }
        let Some(hold) = self.hold.as_mut() else {
            return;
        };
        if hold.step != Step::Waiting {
            return;
        }
        // The first command's messages are decided: it need not wait for the others' to be
        // fetched or judged.
        if hold.first_is_ready(&self.judged) {
            self.serve(now);
            return;
        }
        // What this hold already keeps while its messages are judged.
        let own: usize = hold.judging.iter().map(|j| j.message.len()).sum();
        if !hold.judging.is_empty() {
            let first = hold.to_fetch.front().map_or(0, |t| t.size);
            if hold.to_fetch.is_empty()
                || first > self.config.max_prefetch_bytes.saturating_sub(own)
            {
                // Nothing more to fetch, or not before these are judged: fetches the client
                // pipelined since may join.
                self.join_late(now);
                return;
            }
        }
        let Some(hold) = self.hold.as_mut() else {
            return;
        };
        if hold.to_fetch.is_empty() {
            self.serve(now);
            return;
        }
        // Room under the gateway's bound on held bytes: what every other session holds, and
        // what this hold is judging already.
        let others = self
            .reservation
            .gateway_total()
            .saturating_sub(self.reservation.bytes())
            + own;
        let room = self.config.max_held_bytes.saturating_sub(others);
        let first = hold.to_fetch.front().map_or(0, |t| t.size);
        if first > room && others > 0 {
            hold.room_at = Some(now + ROOM_RETRY);
            return;
        }
        hold.room_at = None;
        let mut bytes = 0;
        // A fetch holds at most `max_prefetch_bytes` at once, what it judges included.
        let budget = self
            .config
            .max_prefetch_bytes
            .saturating_sub(own)
            .min(room.max(first));
        while let Some(t) = hold.to_fetch.front().copied() {
            if !hold.batch.is_empty() && bytes + t.size > budget {
                break;
            }
            bytes += t.size;
            hold.batch.push(t);
            hold.to_fetch.pop_front();
        }
        let numbers: Vec<u32> = hold
            .batch
            .iter()
            .map(|t| if hold.uid { t.uid } else { t.seq })
            .collect();
        let text = format!(
            "{}FETCH {} (UID BODY.PEEK[])",
            if hold.uid { "UID " } else { "" },
            command::numbers_text(&numbers)
        );
        hold.step = Step::Prefetching;
        self.update_reservation();
        self.own_command(&text, Role::Prefetch, now);
    }

    /// Every message is decided: the client's own command goes upstream.
    pub(super) fn serve(&mut self, now: Timestamp) {
        let Some(hold) = self.hold.as_mut() else {
            return;
        };
        hold.step = Step::Serving;
        let Some(first) = hold.current() else {
            self.hold = None;
            return;
        };
        let (command, tag) = (first.command.clone(), first.tag.clone());
        let held = now.saturating_since(first.since);
        self.keepalive_at = None;
        self.emit(ImapEvent::Served {
            tag: tag.clone(),
            held,
        });
        self.relay(command, tag, Role::Serve, now);
    }

    /// Whether the upstream keepalive applies: a hold waits and nothing is in flight.
    pub(super) fn wants_upstream_keepalive(&self) -> bool {
        self.current.is_none()
            && self.hold.as_ref().is_some_and(|h| h.step == Step::Waiting)
            && self.upstream == super::Upstream::Open
    }

    /// The proxy's own command that resets the server's autologout. During a hold by
    /// sequence numbers it is a FETCH, during which the server may not send EXPUNGE (which
    /// would move the numbers the client wrote); otherwise NOOP.
    pub(super) fn send_keepalive(&mut self, now: Timestamp) {
        let text = match self.hold.as_ref() {
            Some(h) if !h.uid => match h.targets.first() {
                Some(t) => format!("FETCH {} (UID)", t.seq),
                None => "NOOP".to_owned(),
            },
            _ => "NOOP".to_owned(),
        };
        self.own_command(&text, Role::Keepalive, now);
    }
}

/// The resolve step's command for `commands`: the UIDs and sizes of the messages they name.
pub(super) fn resolve_text<'c>(
    uid: bool,
    commands: impl IntoIterator<Item = &'c HeldCommand>,
) -> String {
    let sets: Vec<String> = commands
        .into_iter()
        .map(|c| command::set_text(&c.request.messages))
        .collect();
    format!(
        "{}FETCH {} (UID RFC822.SIZE)",
        if uid { "UID " } else { "" },
        sets.join(",")
    )
}

/// Whether a tagged response says OK.
pub(super) fn is_ok(tagged: &[u8]) -> bool {
    tagged
        .split(|&b| b == b' ')
        .nth(1)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"OK"))
}

/// A tagged response given another tag.
pub(super) fn retag(tagged: &[u8], tag: &str) -> Vec<u8> {
    let rest = tagged
        .iter()
        .position(|&b| b == b' ')
        .map_or(&b"\r\n"[..], |i| &tagged[i..]);
    let mut out = tag.as_bytes().to_vec();
    out.extend_from_slice(rest);
    out
}
