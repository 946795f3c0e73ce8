//! The operator's side of a quarantine folder ([`super::quarantine`] has the layout):
//! listing its messages, finding one by id, and the bookkeeping that makes a release
//! deliver a message at most once.
//!
//! # Releasing exactly once
//! [`claim`] renames the message from `new/` (or `cur/`) into `releasing/`: a rename is
//! atomic, so of two releases at once one wins and the other finds nothing to claim. The
//! caller sends the claimed message; on the upstream's `250` [`Claim::finish`] renames it
//! into `released/` and writes the release into its decision; on failure [`Claim::abort`]
//! puts it back. A message in `released/` is refused for ever; one left in `releasing/` (a
//! release killed between the `250` and the rename, or a lost connection after the data) is
//! refused too, with what to check: whether the upstream got it is what a person must tell,
//! and a second copy is worse than a question.

use std::fs;
use std::path::{Path, PathBuf};

use super::quarantine::{
    CUR, DECISIONS, NEW, QuarantineError, RELEASED, RELEASING, Record, Released, sidecar,
    write_record,
};

/// Where a quarantined message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// In `new/`: not seen by a mail client.
    New,
    /// In `cur/`: a mail client has seen it.
    Seen,
    /// In `releasing/`: a release is under way, or was interrupted.
    Releasing,
    /// In `released/`: delivered.
    Released,
    /// Its decision is there but the message is not (removed by hand).
    Missing,
}

impl State {
    /// The state's name, for listings.
    pub fn name(self) -> &'static str {
        match self {
            State::New => "new",
            State::Seen => "seen",
            State::Releasing => "releasing",
            State::Released => "released",
            State::Missing => "missing",
        }
    }
}

/// One quarantined message: its decision, and where the message is.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The decision.
    pub record: Record,
    /// Where the message is.
    pub state: State,
    /// The message file, unless missing.
    pub path: Option<PathBuf>,
}

/// Every message of the quarantine in `dir`, oldest first.
pub fn list(dir: &Path) -> Result<Vec<Entry>, QuarantineError> {
    let decisions = dir.join(DECISIONS);
    let mut entries = Vec::new();
    for item in fs::read_dir(&decisions).map_err(QuarantineError::io(&decisions))? {
        let item = item.map_err(QuarantineError::io(&decisions))?;
        let name = item.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        if id.starts_with('.') {
            // A decision being written.
            continue;
        }
        entries.push(entry(dir, id)?);
    }
    entries.sort_by(|a, b| (&a.record.time, &a.record.id).cmp(&(&b.record.time, &b.record.id)));
    Ok(entries)
}

/// The message whose id is `id`, or the only one whose id starts with it.
pub fn find(dir: &Path, id: &str) -> Result<Entry, QuarantineError> {
    if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
        return Err(QuarantineError::NotFound(id.to_owned()));
    }
    if sidecar(dir, id).is_file() {
        return entry(dir, id);
    }
    let mut matches: Vec<Entry> = list(dir)?
        .into_iter()
        .filter(|e| e.record.id.starts_with(id))
        .collect();
    match matches.len() {
        0 => Err(QuarantineError::NotFound(id.to_owned())),
        1 => Ok(matches.remove(0)),
        n => Err(QuarantineError::Ambiguous(id.to_owned(), n)),
    }
}

/// The message and decision of `id`.
fn entry(dir: &Path, id: &str) -> Result<Entry, QuarantineError> {
    let path = sidecar(dir, id);
    let text = fs::read_to_string(&path).map_err(QuarantineError::io(&path))?;
    let record: Record = serde_json::from_str(&text).map_err(|e| QuarantineError::BadRecord {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if record.id != id {
        return Err(QuarantineError::BadRecord {
            path,
            reason: format!("it names message {:?}", record.id),
        });
    }
    let (state, path) = locate(dir, id)?;
    Ok(Entry {
        record,
        state,
        path,
    })
}

/// Where the message `id` is: `new/ID`, `cur/ID:2,FLAGS`, `releasing/…`, `released/…`.
fn locate(dir: &Path, id: &str) -> Result<(State, Option<PathBuf>), QuarantineError> {
    for (folder, state) in [
        (RELEASED, State::Released),
        (RELEASING, State::Releasing),
        (NEW, State::New),
        (CUR, State::Seen),
    ] {
        let path = dir.join(folder);
        for item in fs::read_dir(&path).map_err(QuarantineError::io(&path))? {
            let item = item.map_err(QuarantineError::io(&path))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            // A mail client appends `:2,FLAGS` when it moves a message to cur/.
            if name.split(':').next() == Some(id) {
                return Ok((state, Some(item.path())));
            }
        }
    }
    Ok((State::Missing, None))
}

/// A message claimed for release: in `releasing/`, until finished or given back.
#[derive(Debug)]
pub struct Claim {
    dir: PathBuf,
    record: Record,
    /// Where it was (to give it back).
    from: PathBuf,
    /// Where it is now.
    at: PathBuf,
}

/// Claims `entry`'s message for a release. Refused when it was released, is being
/// released, or cannot be found.
pub fn claim(dir: &Path, entry: &Entry) -> Result<Claim, QuarantineError> {
    let id = &entry.record.id;
    match (entry.state, &entry.path) {
        (State::Released, _) => Err(QuarantineError::AlreadyReleased {
            id: id.clone(),
            detail: entry.record.released.as_ref().map_or(String::new(), |r| {
                format!(" at {} to {} ({})", r.time, r.upstream, r.reply)
            }),
        }),
        (State::Releasing, _) => Err(QuarantineError::Releasing(id.clone())),
        (State::Missing, _) | (_, None) => Err(QuarantineError::NotFound(id.clone())),
        (State::New | State::Seen, Some(from)) => {
            let name = from
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| id.into());
            let at = dir.join(RELEASING).join(name);
            // Of two releases at once, the second finds the file gone.
            fs::rename(from, &at).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => QuarantineError::Releasing(id.clone()),
                _ => QuarantineError::io(from)(e),
            })?;
            Ok(Claim {
                dir: dir.to_owned(),
                record: entry.record.clone(),
                from: from.clone(),
                at,
            })
        }
    }
}

impl Claim {
    /// The claimed message, as stored (LF line ends).
    pub fn message(&self) -> Result<Vec<u8>, QuarantineError> {
        fs::read(&self.at).map_err(QuarantineError::io(&self.at))
    }

    /// Its decision.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The upstream accepted it: into `released/`, and the release into its decision. The
    /// rename is what marks it; a decision that cannot be rewritten is reported, but the
    /// message stays released.
    pub fn finish(self, released: Released) -> Result<Record, QuarantineError> {
        let name = self.at.file_name().map(PathBuf::from).unwrap_or_default();
        let done = self.dir.join(RELEASED).join(name);
        fs::rename(&self.at, &done).map_err(QuarantineError::io(&done))?;
        let mut record = self.record;
        record.released = Some(released);
        write_record(&self.dir, &record)?;
        Ok(record)
    }

    /// The release failed before the upstream accepted the message: back where it was.
    pub fn abort(self) -> Result<(), QuarantineError> {
        fs::rename(&self.at, &self.from).map_err(QuarantineError::io(&self.from))
    }
}

/// The header block of a message: up to its first empty line.
pub fn headers(message: &[u8]) -> &[u8] {
    let mut start = 0;
    while start < message.len() {
        let end = message[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(message.len(), |i| start + i + 1);
        let line = &message[start..end];
        if line == b"\n" || line == b"\r\n" {
            return &message[..start];
        }
        start = end;
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quarantine::Quarantine;
    use crate::quarantine::tests::{temp_dir, txn};
    use aptsim_core::smtp::proxy::TxnResult;

    fn stored(q: &mut Quarantine, message: &[u8]) -> Record {
        let record = Record::of(1, None, &txn(TxnResult::Quarantined), message.len());
        q.store(message, record).expect("stored")
    }

    fn released() -> Released {
        Released {
            time: "T".into(),
            upstream: "127.0.0.1:25".into(),
            reply: "250 ok".into(),
            refused: vec![],
        }
    }

    #[test]
    fn lists_finds_by_prefix_and_releases_once() {
        let dir = temp_dir("folder");
        let mut q = Quarantine::open(&dir).expect("open");
        let a = stored(&mut q, b"Subject: a\r\n\r\nA\r\n");
        let b = stored(&mut q, b"Subject: b\r\n\r\nB\r\n");
        let all = list(&dir).expect("list");
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|e| e.state == State::New));
        let e = find(&dir, &a.id).expect("by id");
        assert_eq!(e.record, a);
        // The ids share their start: a prefix that both have is ambiguous.
        let common =
            a.id.chars()
                .zip(b.id.chars())
                .take_while(|(x, y)| x == y)
                .count();
        assert!(matches!(
            find(&dir, &a.id[..common]),
            Err(QuarantineError::Ambiguous(_, 2))
        ));
        assert!(matches!(
            find(&dir, "nope"),
            Err(QuarantineError::NotFound(_))
        ));
        assert!(matches!(
            find(&dir, "../x"),
            Err(QuarantineError::NotFound(_))
        ));

        let c = claim(&dir, &e).expect("claimed");
        assert_eq!(c.message().expect("message"), b"Subject: a\n\nA\n");
        assert!(
            matches!(claim(&dir, &e), Err(QuarantineError::Releasing(_))),
            "the same entry, claimed twice"
        );
        assert_eq!(find(&dir, &a.id).expect("found").state, State::Releasing);
        let done = c.finish(released()).expect("finished");
        assert_eq!(done.released, Some(released()));
        let e = find(&dir, &a.id).expect("found");
        assert_eq!(e.state, State::Released);
        assert_eq!(e.record.released, Some(released()));
        let again = claim(&dir, &e).expect_err("never twice");
        assert!(
            again
                .to_string()
                .contains("already released at T to 127.0.0.1:25"),
            "{again}"
        );

        // An aborted release puts the message back.
        let e = find(&dir, &b.id).expect("found");
        claim(&dir, &e)
            .expect("claimed")
            .abort()
            .expect("given back");
        assert_eq!(find(&dir, &b.id).expect("found").state, State::New);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_message_a_mail_client_has_seen_is_still_quarantined() {
        let dir = temp_dir("seen");
        let mut q = Quarantine::open(&dir).expect("open");
        let a = stored(&mut q, b"Subject: a\r\n\r\nA\r\n");
        let seen = dir.join(CUR).join(format!("{}:2,S", a.id));
        fs::rename(dir.join(NEW).join(&a.id), &seen).expect("a mail client reads it");
        let e = find(&dir, &a.id).expect("found");
        assert_eq!(
            (e.state, e.path.as_deref()),
            (State::Seen, Some(seen.as_path()))
        );
        let c = claim(&dir, &e).expect("claimed");
        c.finish(released()).expect("released");
        assert!(dir.join(RELEASED).join(format!("{}:2,S", a.id)).is_file());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_tampered_decision_is_a_clear_error() {
        let dir = temp_dir("bad");
        let mut q = Quarantine::open(&dir).expect("open");
        let a = stored(&mut q, b"x\r\n");
        fs::write(sidecar(&dir, &a.id), b"{\"id\": 5}").expect("write");
        let e = find(&dir, &a.id).expect_err("bad");
        assert!(e.to_string().contains("not a quarantine decision"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn header_block() {
        assert_eq!(headers(b"A: 1\nB: 2\n\nbody\n"), b"A: 1\nB: 2\n");
        assert_eq!(headers(b"A: 1\r\n\r\nbody"), b"A: 1\r\n");
        assert_eq!(headers(b"A: 1\n"), b"A: 1\n");
    }
}
