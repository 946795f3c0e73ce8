//! Classic Outlook's dialogue (IMAP.md §3): only `BODY.PEEK[]`, `BODY.PEEK[HEADER]`,
//! `RFC822.peek`, `(UID)` and `(UID FLAGS)`; no partials, no part numbers.
//!
//! - **Check** (send/receive): the whole folder's UIDs, `UID fetch 1:* (UID FLAGS)`, then each
//!   message not on the device, one per command, `UID fetch u (UID RFC822.SIZE BODY.PEEK[])`
//!   (or `RFC822.peek`), after its header `UID fetch u (UID RFC822.SIZE BODY.PEEK[HEADER])`
//!   when `headers_first` is set.
//! - **Open**: the same fetch for one message.
//!
//! The stall (I5) is the client's: a fetch of this dialogue that times out or loses its
//! connection during a check stops all syncing until [`super::MailClient::handle_restart`].

use std::collections::VecDeque;

use super::conn::Status;
use super::events::{ClientEvent, Job, MessageKey, Step};
use super::job::{JobCtx, JobEnd, Untagged, ok, refused, whole_message};
use super::presets::{OutlookItem, OutlookParams};

/// One operation of Outlook.
#[derive(Debug)]
pub(crate) struct Work {
    p: OutlookParams,
    job: Job,
    listing: bool,
    /// Messages still to fetch, and whether the current one's header is in.
    queue: VecDeque<u32>,
    header_done: bool,
    got: bool,
}

impl Work {
    pub fn new(job: &Job, p: &OutlookParams) -> Self {
        Work {
            p: p.clone(),
            job: job.clone(),
            listing: false,
            queue: VecDeque::new(),
            header_done: false,
            got: false,
        }
    }

    pub fn start(&mut self, cx: &mut JobCtx<'_>) {
        match self.job {
            Job::Check => {
                self.listing = true;
                cx.send("UID fetch 1:* (UID FLAGS)".to_owned(), Step::Listing);
            }
            Job::Open { uid } if !cx.store.has(MessageKey::Uid(uid)) => {
                self.queue.push_back(uid);
                self.next(cx);
            }
            Job::Open { .. } | Job::Attachments { .. } => cx.finish(JobEnd::Done),
        }
    }

    pub fn untagged(&mut self, cx: &mut JobCtx<'_>, resp: &Untagged<'_>) {
        let Some(fetch) = resp.fetch else { return };
        let Some(uid) = fetch.uid() else { return };
        if self.listing {
            cx.store.know(uid, None);
            return;
        }
        if self.queue.front() != Some(&uid) {
            return;
        }
        if self.p.headers_first && !self.header_done {
            // The header only tells Outlook the message is there; the body follows.
            self.got = !fetch.content().is_empty();
            return;
        }
        if let Some(bytes) = whole_message(fetch) {
            let e = cx
                .store
                .complete(MessageKey::Uid(uid), bytes, fetch.rfc822_size());
            cx.event(e);
            self.got = true;
        }
    }

    pub fn tagged(&mut self, cx: &mut JobCtx<'_>, step: Step, status: Status, text: &str) {
        if self.listing {
            self.listing = false;
            if !ok(status) {
                cx.finish(refused(step, text));
                return;
            }
            self.queue = cx.store.missing().into_iter().map(|(u, _)| u).collect();
            self.next(cx);
            return;
        }
        let Some(&uid) = self.queue.front() else {
            cx.finish(JobEnd::Done);
            return;
        };
        let got = std::mem::take(&mut self.got);
        if ok(status) && got && self.p.headers_first && !self.header_done {
            self.header_done = true;
            self.send_body(cx, uid);
            return;
        }
        if !(ok(status) && got) {
            cx.event(ClientEvent::Skipped {
                key: MessageKey::Uid(uid),
            });
        }
        self.queue.pop_front();
        self.next(cx);
    }

    fn next(&mut self, cx: &mut JobCtx<'_>) {
        let Some(&uid) = self.queue.front() else {
            cx.finish(JobEnd::Done);
            return;
        };
        cx.store.attempt(MessageKey::Uid(uid));
        self.header_done = false;
        if self.p.headers_first {
            cx.send(
                format!("UID fetch {uid} (UID RFC822.SIZE BODY.PEEK[HEADER])"),
                Step::Fetch { uids: vec![uid] },
            );
        } else {
            self.send_body(cx, uid);
        }
    }

    fn send_body(&mut self, cx: &mut JobCtx<'_>, uid: u32) {
        let item = match self.p.item {
            OutlookItem::BodyPeek => "BODY.PEEK[]",
            OutlookItem::Rfc822Peek => "RFC822.peek",
        };
        cx.send(
            format!("UID fetch {uid} (UID RFC822.SIZE {item})"),
            Step::Fetch { uids: vec![uid] },
        );
    }
}
