//! Thunderbird for Android / K-9's dialogue (IMAP.md §5; RealImapFolder.kt, ImapSync.kt).
//!
//! - **Check**: a listing of new messages with their sizes, `UID FETCH a:* (UID FLAGS
//!   INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (…)])` — K-9 finds the UIDs with `UID
//!   SEARCH` first and then fetches these items for them; the model asks for the items over
//!   `a:*` at once (a server without SEARCH serves it, and the proxy holds neither). Then
//!   messages up to `max_download_size` whole, 100 UIDs a command, `UID FETCH u1,u2 (UID
//!   BODY.PEEK[])`; then each larger one: `UID FETCH u (UID BODYSTRUCTURE)`, then each text
//!   part, `UID FETCH u (UID BODY.PEEK[1.1])` (`BODY.PEEK[TEXT]<0.N>` for a single-part
//!   message); without a readable structure `UID FETCH u (UID BODY.PEEK[]<0.N>)`.
//! - **Open** (not on the device yet): that message's download as above.
//! - **Attachments** (the user opens them): `UID FETCH u (UID BODY.PEEK[<part>])` for each
//!   attachment part not on the device (after downloading the message, if need be).
//!
//! A `NO` ends the operation. A timeout or a lost connection is the client's: it closes the
//! connection and reports the error (K-9's `ioExceptionHandler`).

use std::collections::{BTreeMap, VecDeque};

use super::conn::Status;
use super::events::{ClientEvent, Job, MessageKey, Step};
use super::job::{JobCtx, JobEnd, Untagged, ok, refused, whole_message};
use super::presets::K9Params;
use super::structure;

/// K-9's envelope fields (RealImapFolder.kt `fetch`, `FetchProfile.Item.ENVELOPE`).
const ENVELOPE_FIELDS: &str = "date subject from content-type to cc bcc reply-to message-id \
    references in-reply-to list-post list-unsubscribe sender X-K9mail-Identity Chat-Version";

/// One command's worth of work.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Task {
    Listing,
    /// Small messages, whole.
    Small(Vec<u32>),
    /// A large message's structure; `attachments` if the user is opening them.
    Structure {
        uid: u32,
        attachments: bool,
    },
    /// One text part of a large message.
    Text {
        uid: u32,
        part: String,
    },
    /// A large message without a readable structure: its first bytes.
    Head {
        uid: u32,
    },
    /// An attachment section.
    Attachment {
        uid: u32,
        part: String,
    },
}

/// One operation of K-9.
#[derive(Debug)]
pub(crate) struct Work {
    p: K9Params,
    job: Job,
    tasks: VecDeque<Task>,
    current: Option<Task>,
    /// Text parts of the large message being downloaded.
    texts: BTreeMap<String, Vec<u8>>,
    /// Messages a `Small` command delivered.
    got: Vec<u32>,
}

impl Work {
    pub fn new(job: &Job, p: &K9Params) -> Self {
        Work {
            p: p.clone(),
            job: job.clone(),
            tasks: VecDeque::new(),
            current: None,
            texts: BTreeMap::new(),
            got: Vec::new(),
        }
    }

    pub fn start(&mut self, cx: &mut JobCtx<'_>) {
        match self.job.clone() {
            Job::Check => self.tasks.push_back(Task::Listing),
            Job::Open { uid } => {
                if !cx.store.has(MessageKey::Uid(uid)) {
                    self.download(cx, &[uid], false);
                }
            }
            Job::Attachments { uid } => {
                if cx.store.has(MessageKey::Uid(uid)) {
                    self.attachments(cx, uid);
                } else {
                    self.download(cx, &[uid], true);
                }
            }
        }
        self.next(cx);
    }

    pub fn untagged(&mut self, cx: &mut JobCtx<'_>, resp: &Untagged<'_>) {
        let (Some(fetch), Some(task)) = (resp.fetch, &self.current) else {
            return;
        };
        let Some(uid) = fetch.uid() else { return };
        match task {
            Task::Listing => cx.store.know(uid, fetch.rfc822_size()),
            Task::Small(uids) => {
                if let (true, Some(bytes)) = (uids.contains(&uid), whole_message(fetch)) {
                    let e = cx.store.complete(MessageKey::Uid(uid), bytes, None);
                    cx.event(e);
                    self.got.push(uid);
                }
            }
            Task::Structure { uid: want, .. } if *want == uid => {
                if let Some(layout) = structure::layout(resp.raw.raw()) {
                    cx.store.set_layout(uid, layout);
                }
            }
            Task::Text { uid: want, part } if *want == uid => {
                if let Some(c) = fetch.content().first() {
                    let data = c.data.unwrap_or_default().to_vec();
                    self.texts.insert(part.clone(), data);
                }
            }
            Task::Head { uid: want } if *want == uid => {
                if let Some(c) = fetch.content().first() {
                    let data = c.data.unwrap_or_default().to_vec();
                    let e = cx.store.complete(MessageKey::Uid(uid), data, None);
                    cx.event(e);
                }
            }
            Task::Attachment { uid: want, part } if *want == uid => {
                if let Some(c) = fetch.content().first() {
                    let data = c.data.unwrap_or_default().to_vec();
                    let e = cx.store.add_part(uid, part, data);
                    cx.event(e);
                }
            }
            _ => {}
        }
    }

    pub fn tagged(&mut self, cx: &mut JobCtx<'_>, step: Step, status: Status, text: &str) {
        let Some(task) = self.current.take() else {
            return;
        };
        if !ok(status) {
            cx.finish(refused(step, text));
            return;
        }
        match task {
            Task::Listing => {
                let missing: Vec<u32> = cx.store.missing().into_iter().map(|(u, _)| u).collect();
                self.download(cx, &missing, false);
            }
            Task::Small(uids) => {
                for uid in uids.into_iter().filter(|u| !self.got.contains(u)) {
                    cx.event(ClientEvent::Skipped {
                        key: MessageKey::Uid(uid),
                    });
                }
                self.got.clear();
            }
            Task::Structure { uid, attachments } => {
                let Some(layout) = cx.store.layout(uid).cloned() else {
                    self.tasks.push_front(Task::Head { uid });
                    return self.next(cx);
                };
                if attachments {
                    for part in layout.attachments.iter().rev() {
                        self.tasks.push_front(Task::Attachment {
                            uid,
                            part: part.clone(),
                        });
                    }
                }
                for part in layout.text.iter().rev() {
                    self.tasks.push_front(Task::Text {
                        uid,
                        part: part.clone(),
                    });
                }
                if layout.text.is_empty() {
                    let e = cx.store.complete_parts(uid, BTreeMap::new(), None);
                    cx.event(e);
                }
            }
            Task::Text { uid, .. } => {
                let more =
                    matches!(self.tasks.front(), Some(Task::Text { uid: u, .. }) if *u == uid);
                if !more {
                    let texts = std::mem::take(&mut self.texts);
                    let size = cx.store.known_size(uid);
                    let e = cx.store.complete_parts(uid, texts, size);
                    cx.event(e);
                }
            }
            Task::Head { .. } | Task::Attachment { .. } => {}
        }
        self.next(cx);
    }

    /// Queues the downloads of `uids`: small ones whole in windows, large ones by parts.
    fn download(&mut self, cx: &mut JobCtx<'_>, uids: &[u32], attachments: bool) {
        let max = self.p.max_download_size;
        let (small, large): (Vec<u32>, Vec<u32>) = uids
            .iter()
            .partition(|u| cx.store.known_size(**u).is_none_or(|s| s <= max));
        for window in small.chunks(self.p.fetch_window.max(1)) {
            self.tasks.push_back(Task::Small(window.to_vec()));
        }
        for uid in large {
            self.tasks.push_back(Task::Structure { uid, attachments });
        }
    }

    /// Queues the attachment sections of `uid` not on the device.
    fn attachments(&mut self, cx: &mut JobCtx<'_>, uid: u32) {
        let Some(layout) = cx.store.layout(uid) else {
            // Fetched whole: its attachments are on the device already.
            return;
        };
        for part in &layout.attachments {
            if !cx.store.has_part(uid, part) {
                self.tasks.push_back(Task::Attachment {
                    uid,
                    part: part.clone(),
                });
            }
        }
    }

    /// Sends the next task's command, or ends.
    fn next(&mut self, cx: &mut JobCtx<'_>) {
        let Some(task) = self.tasks.pop_front() else {
            cx.finish(JobEnd::Done);
            return;
        };
        let n = self.p.max_download_size;
        let (line, step) = match &task {
            Task::Listing => {
                let from = cx.store.max_known().map_or(1, |m| m.saturating_add(1));
                (
                    format!(
                        "UID FETCH {from}:* (UID FLAGS INTERNALDATE RFC822.SIZE \
                         BODY.PEEK[HEADER.FIELDS ({ENVELOPE_FIELDS})])"
                    ),
                    Step::Listing,
                )
            }
            Task::Small(uids) => {
                for uid in uids {
                    cx.store.attempt(MessageKey::Uid(*uid));
                }
                let set: Vec<String> = uids.iter().map(u32::to_string).collect();
                (
                    format!("UID FETCH {} (UID BODY.PEEK[])", set.join(",")),
                    Step::Fetch { uids: uids.clone() },
                )
            }
            Task::Structure { uid, .. } => {
                cx.store.attempt(MessageKey::Uid(*uid));
                (
                    format!("UID FETCH {uid} (UID BODYSTRUCTURE)"),
                    Step::Structure { uid: *uid },
                )
            }
            Task::Text { uid, part } | Task::Attachment { uid, part } => {
                if matches!(task, Task::Attachment { .. }) {
                    cx.store.part_attempt(*uid, part);
                }
                // RealImapFolder.kt `fetchPart`.
                let item = if part.eq_ignore_ascii_case("TEXT") {
                    format!("BODY.PEEK[TEXT]<0.{n}>")
                } else {
                    format!("BODY.PEEK[{part}]")
                };
                (
                    format!("UID FETCH {uid} (UID {item})"),
                    Step::Part {
                        uid: *uid,
                        part: part.clone(),
                    },
                )
            }
            Task::Head { uid } => (
                format!("UID FETCH {uid} (UID BODY.PEEK[]<0.{n}>)"),
                Step::Fetch { uids: vec![*uid] },
            ),
        };
        cx.send(line, step);
        self.current = Some(task);
    }
}
