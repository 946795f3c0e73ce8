//! mbsync's dialogue (IMAP.md §4; isync 1.4.4 drv_imap.c:2954, 2998): one run of a channel
//! that pulls new mail from the server into the local store.
//!
//! - The listing of the UIDs not on the device, `UID FETCH a:b (UID FLAGS RFC822.SIZE
//!   BODY.PEEK[HEADER.FIELDS (X-TUID MESSAGE-ID)])`: `a` is the lowest UID still missing (or
//!   one past the highest known), `b` is `UIDNEXT - 1` from `SELECT` (`*` without it); with
//!   `a > b` there is nothing new and nothing is asked.
//! - Then one `UID FETCH <uid> (FLAGS INTERNALDATE BODY.PEEK[])` per new message, all
//!   written at once (`PipelineDepth` unlimited) or `pipeline_depth` at a time.
//!
//! A timeout (20 s, any bytes reset it, armed only while replies are pending) or a lost
//! connection fails the run ("Socket error …: timeout"): the client's doing.

use std::collections::VecDeque;

use super::conn::Status;
use super::events::{ClientEvent, Job, MessageKey, Step};
use super::job::{JobCtx, JobEnd, Untagged, ok, refused, whole_message};
use super::presets::MbsyncParams;

/// One run of mbsync.
#[derive(Debug)]
pub(crate) struct Work {
    p: MbsyncParams,
    job: Job,
    /// The listing's lowest UID, while it runs.
    listing_from: Option<u32>,
    queue: VecDeque<u32>,
    in_flight: usize,
}

impl Work {
    pub fn new(job: &Job, p: &MbsyncParams) -> Self {
        Work {
            p: p.clone(),
            job: job.clone(),
            listing_from: None,
            queue: VecDeque::new(),
            in_flight: 0,
        }
    }

    pub fn start(&mut self, cx: &mut JobCtx<'_>) {
        if self.job != Job::Check {
            // A batch tool: nobody opens messages in it.
            cx.finish(JobEnd::Done);
            return;
        }
        let a = cx
            .store
            .missing()
            .first()
            .map(|(u, _)| *u)
            .or_else(|| cx.store.max_known().map(|m| m.saturating_add(1)))
            .unwrap_or(1);
        let b = cx.mailbox.uidnext.map(|n| n.saturating_sub(1));
        if b.is_some_and(|b| a > b) {
            cx.finish(JobEnd::Done);
            return;
        }
        let end = b.map_or("*".to_owned(), |b| b.to_string());
        cx.send(
            format!(
                "UID FETCH {a}:{end} (UID FLAGS RFC822.SIZE \
                 BODY.PEEK[HEADER.FIELDS (X-TUID MESSAGE-ID)])"
            ),
            Step::Listing,
        );
        self.listing_from = Some(a);
    }

    pub fn untagged(&mut self, cx: &mut JobCtx<'_>, resp: &Untagged<'_>, step: Option<&Step>) {
        let Some(fetch) = resp.fetch else { return };
        if let Some(a) = self.listing_from {
            if let Some(uid) = fetch.uid().filter(|u| *u >= a) {
                cx.store.know(uid, fetch.rfc822_size());
            }
            return;
        }
        // A UID FETCH answer carries the UID; without it, the oldest fetch is the one.
        let uid = fetch.uid().or(match step {
            Some(Step::Fetch { uids }) => uids.first().copied(),
            _ => None,
        });
        if let (Some(uid), Some(bytes)) = (uid, whole_message(fetch)) {
            let e = cx.store.complete(MessageKey::Uid(uid), bytes, None);
            cx.event(e);
        }
    }

    pub fn tagged(&mut self, cx: &mut JobCtx<'_>, step: Step, status: Status, text: &str) {
        if self.listing_from.take().is_some() {
            if !ok(status) {
                cx.finish(refused(step, text));
                return;
            }
            self.queue = cx.store.missing().into_iter().map(|(u, _)| u).collect();
        } else {
            self.in_flight = self.in_flight.saturating_sub(1);
            if let Step::Fetch { uids } = &step {
                for uid in uids {
                    if !cx.store.has(MessageKey::Uid(*uid)) {
                        cx.event(ClientEvent::Skipped {
                            key: MessageKey::Uid(*uid),
                        });
                    }
                }
            }
        }
        let depth = self.p.pipeline_depth.unwrap_or(usize::MAX).max(1);
        while self.in_flight < depth {
            let Some(uid) = self.queue.pop_front() else {
                break;
            };
            cx.store.attempt(MessageKey::Uid(uid));
            cx.send(
                format!("UID FETCH {uid} (FLAGS INTERNALDATE BODY.PEEK[])"),
                Step::Fetch { uids: vec![uid] },
            );
            self.in_flight += 1;
        }
        if self.in_flight == 0 {
            cx.finish(JobEnd::Done);
        }
    }
}
