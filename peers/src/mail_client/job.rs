//! The seam between the client's connection handling ([`super::MailClient`]) and each
//! program's dialogue: an operation ([`Job`]) runs as a [`Work`] that reads the server's
//! responses and writes commands through a [`JobCtx`], until it ends.
//!
//! The client owns the connection, the prologue (greeting, `LOGIN`, `SELECT`), `IDLE`,
//! `LOGOUT`, timers and failures; the dialogues own what they ask and how they read the
//! answers.

use aptsim_core::clock::Timestamp;
use aptsim_core::imap::{FetchResponse, ServerResponse};

use super::conn::Status;
use super::events::{ClientEvent, FailReason, Job, Step};
use super::presets::{ClientPreset, Program};
use super::store::Store;
use super::{fetchmail, k9, mbsync, outlook, thunderbird};

/// A command a dialogue wants sent, and what it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cmd {
    pub line: String,
    pub step: Step,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum JobEnd {
    Done,
    /// Failed on a connection that is still usable (a refusal, fetchmail's incorrect FETCH
    /// response): the client goes on (or logs out).
    Failed(FailReason),
}

/// What the selected mailbox said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct MailboxInfo {
    /// `* n EXISTS`, the latest.
    pub exists: Option<u32>,
    /// `[UIDNEXT n]` from `SELECT`.
    pub uidnext: Option<u32>,
}

/// Thunderbird's chunk size and threshold, shared by all its connections (saved to prefs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Chunking {
    pub size: u32,
    pub threshold: u32,
}

/// What a dialogue sees and does while it handles one input.
pub(super) struct JobCtx<'a> {
    pub store: &'a mut Store,
    pub mailbox: MailboxInfo,
    pub chunking: &'a mut Chunking,
    /// Capabilities the server listed (upper case).
    pub caps: &'a [String],
    pub now: Timestamp,
    /// Commands to send, in order.
    pub cmds: Vec<Cmd>,
    pub events: Vec<ClientEvent>,
    pub end: Option<JobEnd>,
}

impl JobCtx<'_> {
    /// Queues a command.
    pub fn send(&mut self, line: String, step: Step) {
        self.cmds.push(Cmd { line, step });
    }

    /// Records an event.
    pub fn event(&mut self, e: ClientEvent) {
        self.events.push(e);
    }

    /// Ends the operation.
    pub fn finish(&mut self, end: JobEnd) {
        if self.end.is_none() {
            self.end = Some(end);
        }
    }
}

/// An untagged response as the dialogues get it.
pub(super) struct Untagged<'r> {
    pub raw: &'r ServerResponse,
    /// The FETCH it is, parsed (`None` if it is no FETCH).
    pub fetch: Option<&'r FetchResponse<'r>>,
}

/// One running operation of one program.
#[derive(Debug)]
pub(super) enum Work {
    Thunderbird(thunderbird::Work),
    K9(k9::Work),
    Outlook(outlook::Work),
    Mbsync(mbsync::Work),
    Fetchmail(fetchmail::Work),
}

impl Work {
    /// The operation `job` of the preset's program, not started.
    pub fn new(preset: &ClientPreset, job: &Job) -> Self {
        match &preset.program {
            Program::Thunderbird(p) => Work::Thunderbird(thunderbird::Work::new(job, p)),
            Program::K9(p) => Work::K9(k9::Work::new(job, p)),
            Program::Outlook(p) => Work::Outlook(outlook::Work::new(job, p)),
            Program::Mbsync(p) => Work::Mbsync(mbsync::Work::new(job, p)),
            Program::Fetchmail(p) => Work::Fetchmail(fetchmail::Work::new(job, p)),
        }
    }

    /// Sends the first commands (or ends at once).
    pub fn start(&mut self, cx: &mut JobCtx<'_>) {
        match self {
            Work::Thunderbird(w) => w.start(cx),
            Work::K9(w) => w.start(cx),
            Work::Outlook(w) => w.start(cx),
            Work::Mbsync(w) => w.start(cx),
            Work::Fetchmail(w) => w.start(cx),
        }
    }

    /// An untagged response while `step` (the oldest command) waits.
    pub fn untagged(&mut self, cx: &mut JobCtx<'_>, resp: &Untagged<'_>, step: Option<&Step>) {
        match self {
            Work::Thunderbird(w) => w.untagged(cx, resp),
            Work::K9(w) => w.untagged(cx, resp),
            Work::Outlook(w) => w.untagged(cx, resp),
            Work::Mbsync(w) => w.untagged(cx, resp, step),
            Work::Fetchmail(w) => w.untagged(cx, resp, step),
        }
    }

    /// The tagged reply to the command for `step`.
    pub fn tagged(&mut self, cx: &mut JobCtx<'_>, step: Step, status: Status, text: &str) {
        match self {
            Work::Thunderbird(w) => w.tagged(cx, step, status, text),
            Work::K9(w) => w.tagged(cx, step, status, text),
            Work::Outlook(w) => w.tagged(cx, step, status, text),
            Work::Mbsync(w) => w.tagged(cx, step, status, text),
            Work::Fetchmail(w) => w.tagged(cx, step, status, text),
        }
    }
}

/// A UID set as Thunderbird and mbsync write it: runs joined with `:`, then `,`
/// (`1:3,5`). `uids` ascending.
pub(super) fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.saturating_add(1) {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if end == start {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// The whole-message content of a FETCH response (`BODY[]` without a range, `RFC822`); NIL
/// reads as empty.
pub(super) fn whole_message(fetch: &FetchResponse<'_>) -> Option<Vec<u8>> {
    fetch
        .content()
        .into_iter()
        .find(|c| c.section.is_whole_message() && c.origin.is_none())
        .map(|c| c.data.unwrap_or_default().to_vec())
}

/// A refusal, as the failure it is.
pub(super) fn refused(step: Step, text: &str) -> JobEnd {
    JobEnd::Failed(FailReason::Refused {
        what: step,
        text: text.to_owned(),
    })
}

/// Whether a tagged status is `OK`.
pub(super) fn ok(status: Status) -> bool {
    status == Status::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets() {
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[4]), "4");
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set(&[u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
    }
}
