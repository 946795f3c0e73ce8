//! Thunderbird desktop's dialogue (IMAP.md §2; nsImapProtocol.cpp, nsAutoSyncManager).
//!
//! - **Check**: the header sync of new UIDs, `UID fetch a:* (UID RFC822.SIZE FLAGS
//!   BODY.PEEK[HEADER.FIELDS (…)])` (`a` one past the highest UID known, 1 at first), then —
//!   offline sync, on by default — every message not on the device in groups of up to 2 MiB,
//!   `UID fetch <set> (UID RFC822.SIZE BODY.PEEK[])`, a larger message alone, never chunked.
//! - **Open** (a message not on the device): `UID fetch u (UID RFC822.SIZE BODY[])`, or, for a
//!   message larger than the chunk threshold (98304), sequential `UID fetch u (UID
//!   RFC822.SIZE BODY[]<start.size>)` until a literal shorter than asked or the expected size
//!   is reached; the expected size is the listing's, then each answer's `RFC822.SIZE`. The
//!   chunk size adapts to how long each chunk took ([`super::presets::ChunkTuning`]).
//! - A message whose bytes add up to less than its `RFC822.SIZE` is discarded (TB 154+) and
//!   stays missing, so the next check's offline sync fetches it again.
//!
//! The one retry after a timeout and the IDLE between checks are the client's
//! ([`super::MailClient`]).

use std::collections::VecDeque;

use aptsim_core::clock::Timestamp;

use super::conn::Status;
use super::events::{ClientEvent, Job, MessageKey, Step};
use super::job::{JobCtx, JobEnd, Untagged, ok, refused, uid_set, whole_message};
use super::presets::ThunderbirdParams;

/// One operation of Thunderbird.
#[derive(Debug)]
pub(crate) struct Work {
    p: ThunderbirdParams,
    op: Op,
}

#[derive(Debug)]
pub(crate) enum Op {
    Check(Check),
    Open {
        uid: u32,
        download: Option<Download>,
    },
    /// Attachments are part of the message Thunderbird already has.
    Nothing,
}

#[derive(Debug)]
pub(crate) enum Check {
    Listing,
    Offline {
        groups: VecDeque<Vec<u32>>,
        current: Vec<u32>,
    },
}

/// A message being opened.
#[derive(Debug)]
pub(crate) struct Download {
    chunked: bool,
    offset: u32,
    asked: u32,
    bytes: Vec<u8>,
    /// The latest `RFC822.SIZE` an answer gave.
    size: Option<u32>,
    /// How many bytes Thunderbird expects (`downloadSize`).
    expect: Option<u32>,
    /// The current chunk's literal length, once it came.
    got: Option<usize>,
    sent_at: Timestamp,
}

impl Work {
    pub fn new(job: &Job, p: &ThunderbirdParams) -> Self {
        let op = match job {
            Job::Check => Op::Check(Check::Listing),
            Job::Open { uid } => Op::Open {
                uid: *uid,
                download: None,
            },
            Job::Attachments { .. } => Op::Nothing,
        };
        Work { p: p.clone(), op }
    }

    pub fn start(&mut self, cx: &mut JobCtx<'_>) {
        let p = &self.p;
        match &mut self.op {
            Op::Check(_) => {
                let from = cx.store.max_known().map_or(1, |m| m.saturating_add(1));
                let fields = &p.header_fields;
                let line = format!(
                    "UID fetch {from}:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS ({fields})])"
                );
                cx.send(line, Step::Listing);
            }
            Op::Open { uid, download } => {
                let key = MessageKey::Uid(*uid);
                if cx.store.has(key) {
                    cx.finish(JobEnd::Done);
                    return;
                }
                cx.store.attempt(key);
                let expect = cx.store.known_size(*uid);
                let chunked =
                    p.fetch_by_chunks && expect.is_some_and(|s| s > cx.chunking.threshold);
                let mut d = Download {
                    chunked,
                    offset: 0,
                    asked: 0,
                    bytes: Vec::new(),
                    size: None,
                    expect,
                    got: None,
                    sent_at: cx.now,
                };
                if chunked {
                    d.next_chunk(*uid, cx);
                } else {
                    cx.send(
                        format!("UID fetch {uid} (UID RFC822.SIZE BODY[])"),
                        Step::Fetch { uids: vec![*uid] },
                    );
                }
                *download = Some(d);
            }
            Op::Nothing => cx.finish(JobEnd::Done),
        }
    }

    pub fn untagged(&mut self, cx: &mut JobCtx<'_>, resp: &Untagged<'_>) {
        let Some(fetch) = resp.fetch else { return };
        let p = &self.p;
        match &mut self.op {
            Op::Check(Check::Listing) => {
                if let Some(uid) = fetch.uid() {
                    cx.store.know(uid, fetch.rfc822_size());
                }
            }
            Op::Check(Check::Offline { current, .. }) => {
                let (Some(uid), Some(bytes)) = (fetch.uid(), whole_message(fetch)) else {
                    return;
                };
                if current.contains(&uid) {
                    deliver(cx, p, uid, bytes, fetch.rfc822_size());
                }
            }
            Op::Open {
                uid,
                download: Some(d),
            } => {
                if fetch.uid().is_some_and(|u| u != *uid) {
                    return;
                }
                if let Some(size) = fetch.rfc822_size() {
                    d.size = Some(size);
                }
                let content = fetch
                    .content()
                    .into_iter()
                    .find(|c| c.section.is_whole_message() && (d.chunked || c.origin.is_none()));
                if let Some(c) = content {
                    let data = c.data.unwrap_or_default();
                    d.got = Some(data.len());
                    d.bytes.extend_from_slice(data);
                }
            }
            Op::Open { download: None, .. } | Op::Nothing => {}
        }
    }

    pub fn tagged(&mut self, cx: &mut JobCtx<'_>, step: Step, status: Status, text: &str) {
        let p = &self.p;
        match &mut self.op {
            Op::Check(check) => check.tagged(cx, p, step, status, text),
            Op::Open {
                uid,
                download: Some(d),
            } => {
                let uid = *uid;
                if !ok(status) {
                    cx.event(ClientEvent::Skipped {
                        key: MessageKey::Uid(uid),
                    });
                    cx.finish(refused(step, text));
                    return;
                }
                if d.chunked && d.more(cx, p) {
                    d.next_chunk(uid, cx);
                    return;
                }
                if d.got.is_some() {
                    let bytes = std::mem::take(&mut d.bytes);
                    deliver(cx, p, uid, bytes, d.size);
                } else {
                    cx.event(ClientEvent::Skipped {
                        key: MessageKey::Uid(uid),
                    });
                }
                cx.finish(JobEnd::Done);
            }
            Op::Open { download: None, .. } | Op::Nothing => cx.finish(JobEnd::Done),
        }
    }
}

impl Check {
    fn tagged(
        &mut self,
        cx: &mut JobCtx<'_>,
        p: &ThunderbirdParams,
        step: Step,
        status: Status,
        text: &str,
    ) {
        match self {
            Check::Listing => {
                if !ok(status) {
                    cx.finish(refused(step, text));
                    return;
                }
                if !p.offline_sync {
                    cx.finish(JobEnd::Done);
                    return;
                }
                *self = Check::Offline {
                    groups: groups(&cx.store.missing(), p.offline_group_bytes),
                    current: Vec::new(),
                };
                self.next_group(cx);
            }
            Check::Offline { current, .. } => {
                for uid in current.drain(..) {
                    if !cx.store.has(MessageKey::Uid(uid)) {
                        cx.event(ClientEvent::Skipped {
                            key: MessageKey::Uid(uid),
                        });
                    }
                }
                self.next_group(cx);
            }
        }
    }

    fn next_group(&mut self, cx: &mut JobCtx<'_>) {
        let Check::Offline { groups, current } = self else {
            return;
        };
        let Some(group) = groups.pop_front() else {
            cx.finish(JobEnd::Done);
            return;
        };
        for uid in &group {
            cx.store.attempt(MessageKey::Uid(*uid));
        }
        let line = format!(
            "UID fetch {} (UID RFC822.SIZE BODY.PEEK[])",
            uid_set(&group)
        );
        cx.send(
            line,
            Step::Fetch {
                uids: group.clone(),
            },
        );
        *current = group;
    }
}

impl Download {
    /// Asks for the next chunk: the chunk size, or what remains of the expected size.
    fn next_chunk(&mut self, uid: u32, cx: &mut JobCtx<'_>) {
        let mut size = cx.chunking.size.max(1);
        if let Some(expect) = self.expect
            && expect > self.offset
        {
            size = size.min(expect - self.offset);
        }
        self.asked = size;
        self.got = None;
        self.sent_at = cx.now;
        let offset = self.offset;
        cx.send(
            format!("UID fetch {uid} (UID RFC822.SIZE BODY[]<{offset}.{size}>)"),
            Step::Chunk { uid, offset },
        );
    }

    /// After a chunk's reply: tunes the chunk size, and says whether another chunk is due.
    fn more(&mut self, cx: &mut JobCtx<'_>, p: &ThunderbirdParams) -> bool {
        tune(cx, p, self.asked, self.sent_at);
        let Some(got) = self.got else { return false };
        // A literal shorter than asked ends the download (SRP `msg_fetch_literal`).
        if got < self.asked as usize || got == 0 {
            return false;
        }
        self.offset = self.offset.saturating_add(self.asked);
        // "Adjust the message size based on rfc822 size": the answer's size is the target.
        if let Some(size) = self.size {
            self.expect = Some(size);
        }
        self.expect.is_none_or(|e| self.offset < e)
    }
}

/// `AdjustChunkSize`: whole seconds from the chunk's command to its reply.
fn tune(cx: &mut JobCtx<'_>, p: &ThunderbirdParams, asked: u32, sent_at: Timestamp) {
    let Some(t) = &p.chunk_tuning else { return };
    let secs = cx.now.saturating_since(sent_at).as_secs();
    let c = &mut *cx.chunking;
    if secs <= t.fast.as_secs() && asked >= c.size {
        c.size = c.size.saturating_add(t.add);
    } else if secs <= t.ideal.as_secs() {
        return;
    } else if c.size > p.chunk_size {
        c.size = p.chunk_size;
    } else if c.size > t.add.saturating_mul(2) {
        c.size -= t.add;
    }
    c.threshold = c.size.saturating_add(c.size / 2);
}

/// Keeps a message, or discards it when shorter than its `RFC822.SIZE` (TB 154+).
fn deliver(
    cx: &mut JobCtx<'_>,
    p: &ThunderbirdParams,
    uid: u32,
    bytes: Vec<u8>,
    size: Option<u32>,
) {
    let key = MessageKey::Uid(uid);
    if p.discard_short
        && let Some(size) = size
        && bytes.len() < size as usize
    {
        cx.event(ClientEvent::Discarded {
            key,
            got: bytes.len(),
            size,
        });
        return;
    }
    let e = cx.store.complete(key, bytes, size);
    cx.event(e);
}

/// Offline-sync groups: in UID order, each up to `max` bytes; a larger message alone.
fn groups(missing: &[(u32, Option<u32>)], max: u64) -> VecDeque<Vec<u32>> {
    let mut out = VecDeque::new();
    let mut group = Vec::new();
    let mut total = 0u64;
    for &(uid, size) in missing {
        let size = u64::from(size.unwrap_or(0));
        if !group.is_empty() && total + size > max {
            out.push_back(std::mem::take(&mut group));
            total = 0;
        }
        group.push(uid);
        total += size;
    }
    if !group.is_empty() {
        out.push_back(group);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_groups_up_to_the_limit() {
        let m = [
            (1, Some(600)),
            (2, Some(500)),
            (3, Some(5_000)),
            (4, Some(10)),
            (5, None),
        ];
        let g: Vec<Vec<u32>> = groups(&m, 1_000).into_iter().collect();
        assert_eq!(g, vec![vec![1], vec![2], vec![3], vec![4, 5]]);
        assert!(groups(&[], 1_000).is_empty());
    }
}
