//! fetchmail 6.3.26's dialogue (IMAP.md §4; imap.c, driver.c `fetch_messages`), in `keep`
//! mode: one poll, one command at a time, messages named by sequence number.
//!
//! 1. `SEARCH UNSEEN UNDELETED`; on `NO`/`BAD` `SEARCH UNSEEN`; then `FETCH 1:n FLAGS`
//!    (`imap_search`).
//! 2. For each unseen message in order: its size with those of the next `fetchsizelimit`
//!    messages, `FETCH a:b RFC822.SIZE` (`FETCH n RFC822.SIZE` for one), when it is past the
//!    last batch; `FETCH n RFC822.HEADER`; `FETCH n BODY.PEEK[TEXT]`; `STORE n +FLAGS
//!    (\Seen)`. (An IMAP4rev0 server gets `RFC822.TEXT.PEEK` and `+FLAGS.SILENT`.)
//!
//! **The header reply** (`imap_fetch_headers`, imap.c:1143-1187): the first untagged line
//! after the command that is not `EXISTS`, `EXPUNGE` or `BYE` must be `* n FETCH (…
//! RFC822.HEADER {len}`. `* NO`, `* BAD`, `FETCH ()` or a tagged reply first skip the message
//! (`PS_TRANSIENT`); anything else — an X4 keepalive `* OK …`, say — is "Incorrect FETCH
//! response": fetchmail reads on to the tagged reply, logs out, and the poll fails. **The
//! body reply** (imap.c:1236-1242) skips every line until one with `FETCH` and a number.

use std::collections::BTreeMap;

use super::conn::{Status, first_line, numbered, search_numbers, untagged_word};
use super::events::{ClientEvent, FailReason, Job, MessageKey, Step};
use super::job::{JobCtx, JobEnd, Untagged, ok, refused};
use super::presets::FetchmailParams;
use aptsim_core::imap::{ItemName, SectionText};

/// Which unseen search is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Search {
    UnseenUndeleted,
    Unseen,
    Flags,
}

/// What the header command's first untagged line was.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HeaderReply {
    Waiting,
    Header(Vec<u8>),
    Transient,
    Incorrect(String),
}

/// One poll of fetchmail.
#[derive(Debug)]
pub(crate) struct Work {
    p: FetchmailParams,
    job: Job,
    count: u32,
    search: Search,
    unseen: Vec<u32>,
    /// The message being fetched.
    num: u32,
    /// The last message whose size was asked.
    sized: u32,
    sizes: BTreeMap<u32, u32>,
    header: HeaderReply,
    text: Option<Vec<u8>>,
    rev1: bool,
}

impl Work {
    pub fn new(job: &Job, p: &FetchmailParams) -> Self {
        Work {
            p: p.clone(),
            job: job.clone(),
            count: 0,
            search: Search::UnseenUndeleted,
            unseen: Vec::new(),
            num: 0,
            sized: 0,
            sizes: BTreeMap::new(),
            header: HeaderReply::Waiting,
            text: None,
            rev1: true,
        }
    }

    pub fn start(&mut self, cx: &mut JobCtx<'_>) {
        self.count = cx.mailbox.exists.unwrap_or(0);
        self.rev1 = cx.caps.iter().any(|c| c == "IMAP4REV1");
        if self.job != Job::Check || self.count == 0 {
            cx.finish(JobEnd::Done);
            return;
        }
        cx.send("SEARCH UNSEEN UNDELETED".to_owned(), Step::Search);
    }

    pub fn untagged(&mut self, cx: &mut JobCtx<'_>, resp: &Untagged<'_>, step: Option<&Step>) {
        let raw = resp.raw.raw();
        match step {
            Some(Step::Search) => {
                if let Some(numbers) = search_numbers(raw) {
                    let count = self.count;
                    self.unseen
                        .extend(numbers.into_iter().filter(|n| (1..=count).contains(n)));
                } else if let (Search::Flags, Some(fetch)) = (self.search, resp.fetch) {
                    let line = first_line(raw).to_ascii_uppercase();
                    let n = fetch.seq();
                    if (1..=self.count).contains(&n)
                        && line.contains("FLAGS ")
                        && !line.contains("\\SEEN")
                        && !line.contains("\\DELETED")
                    {
                        self.unseen.push(n);
                    }
                }
            }
            Some(Step::Sizes) => {
                if let Some((seq, size)) =
                    resp.fetch.and_then(|f| Some((f.seq(), f.rfc822_size()?)))
                {
                    self.sizes.insert(seq, size);
                }
            }
            Some(Step::Header { seq }) if self.header == HeaderReply::Waiting => {
                // imap_untagged_response consumes these; every other line is the reply.
                if numbered(raw, "EXISTS").is_some()
                    || numbered(raw, "EXPUNGE").is_some()
                    || untagged_word(raw) == "BYE"
                {
                    return;
                }
                self.header = header_reply(resp, *seq);
            }
            Some(Step::Text { seq }) if self.text.is_none() => {
                let Some(fetch) = resp.fetch else {
                    // imap_fetch_body: lines without FETCH are skipped.
                    return;
                };
                if fetch.seq() != *seq {
                    cx.finish(JobEnd::Failed(FailReason::Protocol(format!(
                        "FETCH response for message {}, expected {seq}",
                        fetch.seq()
                    ))));
                    return;
                }
                let data = fetch
                    .content()
                    .first()
                    .and_then(|c| c.data)
                    .unwrap_or_default()
                    .to_vec();
                self.text = Some(data);
            }
            _ => {}
        }
    }

    pub fn tagged(&mut self, cx: &mut JobCtx<'_>, step: Step, status: Status, text: &str) {
        match step {
            Step::Search => {
                if ok(status) {
                    self.unseen.sort_unstable();
                    self.unseen.dedup();
                    return self.advance(cx);
                }
                self.unseen.clear();
                match self.search {
                    Search::UnseenUndeleted => {
                        self.search = Search::Unseen;
                        cx.send("SEARCH UNSEEN".to_owned(), Step::Search);
                    }
                    Search::Unseen => {
                        self.search = Search::Flags;
                        let line = if self.count == 1 {
                            "FETCH 1 FLAGS".to_owned()
                        } else {
                            format!("FETCH 1:{} FLAGS", self.count)
                        };
                        cx.send(line, Step::Search);
                    }
                    Search::Flags => cx.finish(refused(step, text)),
                }
            }
            // A NO to the sizes is success (Exchange's bodiless messages, imap.c).
            Step::Sizes if status == Status::Ok || status == Status::No => self.header(cx),
            Step::Header { seq } => {
                match std::mem::replace(&mut self.header, HeaderReply::Waiting) {
                    HeaderReply::Header(h) if ok(status) => {
                        self.text = None;
                        self.header = HeaderReply::Header(h);
                        let item = if self.rev1 {
                            "BODY.PEEK[TEXT]"
                        } else {
                            "RFC822.TEXT.PEEK"
                        };
                        cx.send(format!("FETCH {seq} {item}"), Step::Text { seq });
                    }
                    HeaderReply::Header(_) => cx.finish(refused(step, text)),
                    HeaderReply::Waiting | HeaderReply::Transient => {
                        cx.event(ClientEvent::Skipped {
                            key: MessageKey::Seq(seq),
                        });
                        self.advance(cx);
                    }
                    HeaderReply::Incorrect(line) => {
                        cx.finish(JobEnd::Failed(FailReason::IncorrectFetchResponse { line }));
                    }
                }
            }
            Step::Text { seq } => {
                let header = std::mem::replace(&mut self.header, HeaderReply::Waiting);
                match (ok(status), header, self.text.take()) {
                    (true, HeaderReply::Header(mut message), Some(body)) => {
                        message.extend_from_slice(&body);
                        let size = self.sizes.get(&seq).copied();
                        let e = cx.store.complete(MessageKey::Seq(seq), message, size);
                        cx.event(e);
                        let flags = if self.rev1 { "+FLAGS" } else { "+FLAGS.SILENT" };
                        cx.send(
                            format!("STORE {seq} {flags} (\\Seen)"),
                            Step::MarkSeen { seq },
                        );
                    }
                    _ => cx.finish(refused(step, text)),
                }
            }
            Step::MarkSeen { .. } if ok(status) => self.advance(cx),
            _ => cx.finish(refused(step, text)),
        }
    }

    /// The next unseen message: its sizes if due, else its header.
    fn advance(&mut self, cx: &mut JobCtx<'_>) {
        let Some(&num) = self.unseen.iter().find(|n| **n > self.num) else {
            cx.finish(JobEnd::Done);
            return;
        };
        self.num = num;
        if num > self.sized {
            let last = num
                .saturating_add(self.p.fetch_size_limit.max(1) - 1)
                .min(self.count);
            self.sized = last;
            let line = if last == num {
                format!("FETCH {num} RFC822.SIZE")
            } else {
                format!("FETCH {num}:{last} RFC822.SIZE")
            };
            cx.send(line, Step::Sizes);
            return;
        }
        self.header(cx);
    }

    fn header(&mut self, cx: &mut JobCtx<'_>) {
        let seq = self.num;
        cx.store.attempt(MessageKey::Seq(seq));
        self.header = HeaderReply::Waiting;
        cx.send(format!("FETCH {seq} RFC822.HEADER"), Step::Header { seq });
    }
}

/// Reads the first untagged line after `FETCH n RFC822.HEADER` as fetchmail does.
fn header_reply(resp: &Untagged<'_>, seq: u32) -> HeaderReply {
    let line = first_line(resp.raw.raw());
    if let Some(fetch) = resp.fetch
        && fetch.seq() == seq
    {
        let header = fetch
            .content()
            .into_iter()
            .find(|c| c.name == ItemName::Rfc822 && c.section.text == Some(SectionText::Header));
        if let Some(c) = header
            && line.trim_end().ends_with('}')
        {
            return HeaderReply::Header(c.data.unwrap_or_default().to_vec());
        }
    }
    let upper = line.to_ascii_uppercase();
    if upper.starts_with("* NO") || upper.starts_with("* BAD") || upper.contains("FETCH ()") {
        HeaderReply::Transient
    } else {
        HeaderReply::Incorrect(line)
    }
}
