//! `--quarantine DIR`: messages whose policy action is `quarantine` (docs/policy.md) kept
//! whole in a Maildir, each with a sidecar JSON of the decision ([`Record`]).
//!
//! # Layout
//! ```text
//! DIR/tmp/        a message being written (Maildir)
//! DIR/new/ID      a quarantined message, LF line ends (Maildir; a mail client that reads
//!                 it moves it to DIR/cur/ID:2,S, which is still quarantined)
//! DIR/cur/
//! DIR/decisions/ID.json   its decision: time, client, envelope, files, reason, release
//! DIR/releasing/ID        claimed by `aptsim quarantine release`, being sent
//! DIR/released/ID         delivered to an upstream once; never again
//! ```
//! The sidecars live in a folder of their own so that a mail client (Dovecot, mutt) that
//! opens DIR as a Maildir sees the messages and nothing else. The operator's side — listing,
//! showing, releasing — is [`super::quarantine_folder`].
//!
//! # Writing
//! The session reports [`Event::Quarantined`] with the message, then
//! [`Event::Transaction`] with its envelope and files; [`Quarantine::observe`] keeps the
//! first until the second, then writes the message to `tmp/` (synced), the sidecar to
//! `decisions/` (written aside, synced, renamed into place), and renames the message into
//! `new/`: a message in `new/` always has its decision. The coordinator does this before it
//! sends the sender the session's `250`, so a message the sender was told is accepted is on
//! disk unless the disk failed, which is logged as an error (and counted). Writing is
//! synchronous on the coordinator: quarantined mail is rare, and its order matters more
//! than a few milliseconds.
//!
//! Names follow the Maildir convention, `SECONDS.MMICROSPPIDQN.HOST`, unique per process
//! and delivery; the message is stored with LF line ends, as Maildir readers expect. What
//! the proxy holds is canonical CRLF text (bare line ends are normalised or refused,
//! `core/src/smtp/wire/data.rs`), so the release restores it byte for byte.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aptsim_core::inspect::{FileOutcome, Source};
use aptsim_core::node::ConnId;
use aptsim_core::policy::Action;
use aptsim_core::smtp::proxy::{Event, TxnLog, TxnResult};
use serde::{Deserialize, Serialize};

use super::log::{escape, utc_rfc3339};

/// Maildir: messages being written.
pub const TMP: &str = "tmp";
/// Maildir: messages not yet seen by a mail client.
pub const NEW: &str = "new";
/// Maildir: messages a mail client has seen.
pub const CUR: &str = "cur";
/// The sidecars, `ID.json`.
pub const DECISIONS: &str = "decisions";
/// Messages claimed by a release under way (or one that was interrupted).
pub const RELEASING: &str = "releasing";
/// Messages delivered by a release.
pub const RELEASED: &str = "released";

/// Every folder of a quarantine.
pub const FOLDERS: [&str; 6] = [TMP, NEW, CUR, DECISIONS, RELEASING, RELEASED];

/// What went wrong with the quarantine folder.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    /// A file or folder could not be read, written or moved.
    #[error("{path}: {source}")]
    Io {
        /// What was being read or written.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
    /// A sidecar that is not a decision this proxy wrote.
    #[error("{path}: not a quarantine decision: {reason}")]
    BadRecord {
        /// The sidecar.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No message has this id (or id prefix).
    #[error("no quarantined message {0:?} (see `aptsim quarantine list`)")]
    NotFound(String),
    /// More than one message starts with this prefix.
    #[error("{0:?} names {1} messages; give more of the id")]
    Ambiguous(String, usize),
    /// The message was released already: it is never sent twice.
    #[error("{id} was already released{detail}; it is not sent twice")]
    AlreadyReleased {
        /// The message.
        id: String,
        /// When and where to, if the sidecar says.
        detail: String,
    },
    /// Another release holds the message, or one was interrupted.
    #[error(
        "{0} is being released, or a release was interrupted (it is in releasing/): check the \
         upstream for it, then move it back to new/ to release it again, or to released/"
    )]
    Releasing(String),
}

impl QuarantineError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> QuarantineError + '_ {
        move |source| QuarantineError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// One file of a quarantined message, as decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Its name (escaped as in the log).
    pub name: String,
    /// Its MD5, hex.
    pub md5: String,
    /// Its level (`clean` … `high`), or `unjudged`.
    pub level: String,
    /// The sandbox score behind the level.
    pub score: u8,
    /// The threat's name, if the data center named one.
    pub threat: Option<String>,
    /// The action its level calls for.
    pub action: String,
    /// Where the level came from (`analysis`, `cache`, `unscannable`, …).
    pub source: String,
}

/// A release: when, to where, and what the upstream said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    /// When the upstream accepted it (UTC).
    pub time: String,
    /// The upstream, `host:port`.
    pub upstream: String,
    /// The upstream's reply to the data.
    pub reply: String,
    /// Recipients the upstream refused, with its reply.
    pub refused: Vec<String>,
}

/// The sidecar: the decision that quarantined a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The message's Maildir name.
    pub id: String,
    /// When it was quarantined (UTC).
    pub time: String,
    /// The sending client's address.
    pub client: String,
    /// The proxy's connection number and the transaction within it (as in the log).
    pub conn: u64,
    /// The transaction.
    pub txn: u64,
    /// The envelope sender (reverse path, without angle brackets; empty for `<>`).
    pub from: String,
    /// The envelope recipients.
    pub rcpts: Vec<String>,
    /// The message-wide action (`quarantine`).
    pub action: String,
    /// Why: each file whose level asked for the action, with level, score and threat.
    pub reason: String,
    /// Every file, as decided.
    pub files: Vec<FileRecord>,
    /// The message's size as received, in bytes (CRLF line ends).
    pub size: usize,
    /// How long it was held for its verdicts, in seconds, if it was (S2).
    pub held_seconds: Option<f64>,
    /// Its release, once released.
    pub released: Option<Released>,
}

impl Record {
    /// The decision of `t`, a transaction of `conn` from `client`, whose message is
    /// `size` bytes; its id and time are set when it is stored.
    pub fn of(conn: ConnId, client: Option<IpAddr>, t: &TxnLog, size: usize) -> Record {
        let files: Vec<FileRecord> = t
            .files
            .iter()
            .map(|f| FileRecord {
                name: escape(&f.name),
                md5: f.md5.to_hex(),
                level: match f.source {
                    Source::Released => "unjudged".to_owned(),
                    _ => f.level.to_string(),
                },
                score: f.score,
                threat: f.threat.as_deref().map(escape),
                action: f.action.to_string(),
                source: serde_json::to_value(f.source)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            })
            .collect();
        Record {
            id: String::new(),
            time: String::new(),
            client: client.map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
            conn,
            txn: t.txn,
            from: t.from.clone(),
            rcpts: t.rcpts.clone(),
            action: t.action.to_string(),
            reason: reason(t.action, &t.files),
            files,
            size,
            held_seconds: t.held.map(|d| d.as_millis() as f64 / 1000.0),
            released: None,
        }
    }
}

/// `eicar.com: high (score 70, EICAR-Test-File)` for each file whose action is the
/// message's.
fn reason(action: Action, files: &[FileOutcome]) -> String {
    let why: Vec<String> = files
        .iter()
        .filter(|f| f.action == action)
        .map(|f| {
            let threat = f
                .threat
                .as_deref()
                .map_or(String::new(), |t| format!(", {}", escape(t)));
            let from = match f.source {
                Source::Analysis | Source::Cache | Source::Released => String::new(),
                other => format!(
                    ", {}",
                    serde_json::to_value(other)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ),
            };
            format!(
                "{}: {} (score {}{threat}{from})",
                escape(&f.name),
                f.level,
                f.score
            )
        })
        .collect();
    if why.is_empty() {
        format!("policy action {action}")
    } else {
        why.join("; ")
    }
}

/// The quarantine folder, as the coordinator writes it.
#[derive(Debug)]
pub struct Quarantine {
    dir: PathBuf,
    host: String,
    /// Messages reported quarantined whose transaction record has not come yet.
    pending: BTreeMap<(ConnId, u64), Arc<[u8]>>,
    /// Deliveries by this process (the Maildir name's `Q`).
    delivered: u64,
}

impl Quarantine {
    /// The quarantine in `dir`, made with its folders if it does not exist.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, QuarantineError> {
        let dir = dir.into();
        for folder in FOLDERS {
            let path = dir.join(folder);
            fs::create_dir_all(&path).map_err(QuarantineError::io(&path))?;
        }
        Ok(Quarantine {
            dir,
            host: host_name(),
            pending: BTreeMap::new(),
            delivered: 0,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Follows one event of session `conn`: once a quarantined message's transaction record
    /// arrives, stores it and returns its record (or why it could not be stored).
    pub fn observe(
        &mut self,
        conn: ConnId,
        client: Option<IpAddr>,
        event: &Event,
    ) -> Option<Result<Record, QuarantineError>> {
        match event {
            Event::Quarantined { txn, message } => {
                self.pending.insert((conn, *txn), message.clone());
                None
            }
            Event::Transaction(t) => {
                let message = self.pending.remove(&(conn, t.txn))?;
                if t.result != TxnResult::Quarantined {
                    return None;
                }
                let record = Record::of(conn, client, t, message.len());
                Some(self.store(&message, record))
            }
            _ => None,
        }
    }

    /// Forgets what session `conn` left pending (it ended).
    pub fn forget(&mut self, conn: ConnId) {
        self.pending.retain(|(c, _), _| *c != conn);
    }

    /// Stores `message` (CRLF) with its decision; sets the record's id and time.
    pub fn store(&mut self, message: &[u8], mut record: Record) -> Result<Record, QuarantineError> {
        let now = SystemTime::now();
        let (file, tmp, id) = self.create_unique(now)?;
        if let Err(e) = write_synced(&tmp, file, &crlf_to_lf(message)) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        record.id = id.clone();
        record.time = utc_rfc3339(now);
        let stored = write_record(&self.dir, &record).and_then(|()| {
            let new = self.dir.join(NEW).join(&id);
            fs::rename(&tmp, &new).map_err(QuarantineError::io(&new))
        });
        if let Err(e) = stored {
            let _ = fs::remove_file(&tmp);
            let _ = fs::remove_file(sidecar(&self.dir, &id));
            return Err(e);
        }
        Ok(record)
    }

    /// A new file in `tmp/` under a name no other delivery has.
    fn create_unique(
        &mut self,
        now: SystemTime,
    ) -> Result<(File, PathBuf, String), QuarantineError> {
        let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        loop {
            self.delivered += 1;
            let id = format!(
                "{}.M{}P{}Q{}.{}",
                since.as_secs(),
                since.subsec_micros(),
                std::process::id(),
                self.delivered,
                self.host
            );
            let path = self.dir.join(TMP).join(&id);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok((file, path, id)),
                // Left by an earlier process with the same pid: take the next number.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(QuarantineError::io(&path)(e)),
            }
        }
    }
}

/// `DIR/decisions/ID.json`.
pub fn sidecar(dir: &Path, id: &str) -> PathBuf {
    dir.join(DECISIONS).join(format!("{id}.json"))
}

/// Writes a decision: aside, synced, then renamed over the old one (readers see the old
/// record or the new, never half of one).
pub fn write_record(dir: &Path, record: &Record) -> Result<(), QuarantineError> {
    let path = sidecar(dir, &record.id);
    let aside = dir.join(DECISIONS).join(format!(".{}.json.tmp", record.id));
    let mut json = serde_json::to_vec_pretty(record).map_err(|e| QuarantineError::BadRecord {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    json.push(b'\n');
    let file = File::create(&aside).map_err(QuarantineError::io(&aside))?;
    write_synced(&aside, file, &json)?;
    fs::rename(&aside, &path).map_err(QuarantineError::io(&path))
}

fn write_synced(path: &Path, mut file: File, bytes: &[u8]) -> Result<(), QuarantineError> {
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(QuarantineError::io(path))
}

/// CRLF line ends to LF (Maildir's form); a CR not before LF stays.
pub fn crlf_to_lf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    let mut i = 0;
    while i < message.len() {
        if message[i] == b'\r' && message.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(message[i]);
        i += 1;
    }
    out
}

/// This machine's name for Maildir names: `/proc/sys/kernel/hostname`, with anything but
/// letters, digits, `-` and `.` made `_` (Maildir forbids `/` and `:` in names).
fn host_name() -> String {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "localhost".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    use aptsim_core::digest::Md5;
    use aptsim_core::smtp::wire::reply::Reply;
    use aptsim_core::verdict::ThreatLevel;

    pub(crate) fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "aptsim-quarantine-{name}-{}-{:?}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    pub(crate) fn txn(result: TxnResult) -> TxnLog {
        TxnLog {
            txn: 1,
            from: "alice@example.com".into(),
            rcpts: vec!["bob@example.net".into(), "carol@example.net".into()],
            files: vec![
                FileOutcome {
                    file: 0,
                    md5: Md5::of(b"eicar"),
                    name: "eicar.com".into(),
                    level: ThreatLevel::High,
                    score: 70,
                    threat: Some("EICAR-Test-File".into()),
                    action: Action::Quarantine,
                    source: Source::Analysis,
                },
                FileOutcome {
                    file: 1,
                    md5: Md5::of(b"ok"),
                    name: "ok.txt".into(),
                    level: ThreatLevel::Clean,
                    score: 0,
                    threat: None,
                    action: Action::Allow,
                    source: Source::Cache,
                },
            ],
            action: Action::Quarantine,
            result,
            held: Some(Duration::from_millis(5_001)),
            reply: Some(Reply::new(250, "2.0.0 Message accepted")),
        }
    }

    #[test]
    fn a_quarantined_message_lands_in_new_with_its_decision_beside() {
        let dir = temp_dir("store");
        let mut q = Quarantine::open(&dir).expect("open");
        let message: Arc<[u8]> = Arc::from(&b"Subject: x\r\n\r\nbody\r\n..dot\r\n"[..]);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let quarantined = Event::Quarantined {
            txn: 1,
            message: message.clone(),
        };
        assert!(q.observe(3, Some(ip), &quarantined).is_none());
        let record = q
            .observe(
                3,
                Some(ip),
                &Event::Transaction(Box::new(txn(TxnResult::Quarantined))),
            )
            .expect("stored on the transaction record")
            .expect("no error");
        let stored = fs::read(dir.join(NEW).join(&record.id)).expect("in new/");
        assert_eq!(stored, b"Subject: x\n\nbody\n..dot\n");
        assert_eq!(fs::read_dir(dir.join(TMP)).expect("tmp").count(), 0);
        let json = fs::read_to_string(sidecar(&dir, &record.id)).expect("sidecar");
        let back: Record = serde_json::from_str(&json).expect("a record");
        assert_eq!(back, record);
        assert_eq!(back.client, "127.0.0.1");
        assert_eq!(back.rcpts.len(), 2);
        assert_eq!(back.size, message.len());
        assert_eq!(back.held_seconds, Some(5.001));
        assert_eq!(back.reason, "eicar.com: high (score 70, EICAR-Test-File)");
        assert_eq!(back.files[1].source, "cache");
        assert!(!record.id.contains(['/', ':']), "{}", record.id);
        // A second message gets another name.
        q.observe(3, Some(ip), &quarantined);
        let second = q
            .observe(
                3,
                Some(ip),
                &Event::Transaction(Box::new(txn(TxnResult::Quarantined))),
            )
            .expect("stored")
            .expect("no error");
        assert_ne!(second.id, record.id);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn nothing_is_stored_without_the_message_or_for_another_result() {
        let dir = temp_dir("none");
        let mut q = Quarantine::open(&dir).expect("open");
        let t = Event::Transaction(Box::new(txn(TxnResult::Quarantined)));
        assert!(q.observe(1, None, &t).is_none(), "no message was reported");
        let quarantined = Event::Quarantined {
            txn: 1,
            message: Arc::from(&b"x\r\n"[..]),
        };
        q.observe(1, None, &quarantined);
        q.forget(1);
        assert!(
            q.observe(1, None, &t).is_none(),
            "forgotten with its session"
        );
        assert_eq!(fs::read_dir(dir.join(NEW)).expect("new").count(), 0);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_folder_that_cannot_be_made_is_an_error_naming_it() {
        let dir = temp_dir("blocked");
        fs::create_dir_all(dir.parent().expect("a parent")).expect("tmp");
        fs::write(&dir, b"a file, not a folder").expect("write");
        let e = Quarantine::open(&dir).expect_err("a file in the way");
        assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
        let _ = fs::remove_file(&dir);
    }

    #[test]
    fn line_ends() {
        assert_eq!(crlf_to_lf(b"a\r\nb\rc\r\n\r\n"), b"a\nb\rc\n\n");
        assert_eq!(crlf_to_lf(b"\r"), b"\r");
    }
}
