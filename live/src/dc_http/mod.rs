//! The data center as a separate process: the simulator's model
//! ([`aptsim_peers::datacenter::DataCenter`]) behind a small HTTP/JSON API, and the client the
//! live proxy uses to reach it (`aptsim datacenter serve`, `aptsim proxy smtp --datacenter`).
//!
//! # The API (version 1, plain HTTP/1.1, JSON bodies)
//! docs/live.md, "A data center in its own process", is the reference another sandbox can be
//! built to; this is its summary.
//!
//! - `POST /v1/files?md5=HEX&name=NAME`, the body the file's bytes: submit a file. `md5` is
//!   optional (the server computes it) and, when given, must be the body's MD5 — except with
//!   an empty body, which submits the MD5 alone (the gateway had no bytes; the model then
//!   judges it without them). `name` is only logged. Answers `200` with the verdict when the
//!   file is known (a look-up: no analysis), `202` `{"status": "queued"}` when an analysis
//!   runs (a second upload of a queued file starts no second one).
//! - `GET /v1/files/{md5}[?wait_ms=N]`: the analysis of a submitted file: `200` done, `202`
//!   queued, `404` unknown (never submitted, or forgotten: the server restarted). With
//!   `wait_ms` the server holds the request until the verdict or that long ([`MAX_WAIT`] at
//!   most), whichever is first (a long poll).
//! - `GET /v1/md5/{md5}`: the MD5 look-up alone: `200` with the verdict of a file judged
//!   before, else `404` (a file still queued is not known yet).
//!
//! Every answer is a [`FileStatus`] (`{"md5", "status", "verdict"?, "basis"?}`) or, for an
//! error, an [`ApiError`] (`{"error": "what failed"}`): `400` a bad MD5, a mismatch or a bad
//! query, `404` an unknown route, `405` a wrong method, `408` a body that did not arrive in
//! time, `413` a file over the size limit, `429` too many analyses queued, `503` the data
//! center is in an outage (`--dc-outage`). A client treats anything but `200`/`202` (and
//! `404` for a file it submitted) as the data center being unreachable.
//!
//! # Layout
//! - [`server`]: the routes and the task that runs the model on wall time.
//! - [`listen`]: the accept loop: a connection limit and hyper's header timeout.
//! - [`client`]: submit, then long-poll, on tokio tasks; answers as [`DcAnswer`]s.

pub mod client;
pub mod listen;
pub mod server;

use std::time::Duration;

use aptsim_core::digest::Md5;
use aptsim_core::verdict::Verdict;
use aptsim_peers::datacenter::Basis;

#[cfg(doc)]
use aptsim_peers::datacenter::DcAnswer;

/// The longest a `GET /v1/files/{md5}?wait_ms=N` is held: shorter than most proxies' and
/// load balancers' idle timeouts (60 s and more), so a long poll is not cut in the middle.
pub const MAX_WAIT: Duration = Duration::from_secs(50);

/// Where an analysis stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Submitted; the analysis has not ended.
    Queued,
    /// Judged: the verdict is in the answer.
    Done,
    /// Never submitted, or forgotten.
    Unknown,
}

/// What every successful route answers (and `404` for an unknown file).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileStatus {
    /// The file, 32 hex digits.
    pub md5: Md5,
    /// Where its analysis stands.
    pub status: Status,
    /// With `done`: `{"level": "high", "score": 70, "threat": "EICAR-Test-File"}`
    /// (`threat` only when one was named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// With `done`, optional: why (`verdict-file`, `eicar`, `scan`, `drawn`, `unseen`);
    /// clients read a missing or other value as `scan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
}

impl FileStatus {
    /// A file with no verdict (`queued` or `unknown`).
    pub fn without_verdict(md5: Md5, status: Status) -> Self {
        FileStatus {
            md5,
            status,
            verdict: None,
            basis: None,
        }
    }

    /// A judged file.
    pub fn done(md5: Md5, verdict: Verdict, basis: Basis) -> Self {
        FileStatus {
            md5,
            status: Status::Done,
            verdict: Some(verdict),
            basis: Some(basis.as_str().to_owned()),
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiError {
    /// What failed, for a person.
    pub error: String,
}

/// The basis a [`FileStatus`] names, read back; what a client cannot place is `scan`
/// (the data center answered from its analysis).
pub fn basis_from_str(text: Option<&str>) -> Basis {
    match text {
        Some("verdict-file") => Basis::Oracle,
        Some("eicar") => Basis::Eicar,
        Some("drawn") => Basis::Drawn,
        Some("unseen") => Basis::Unseen,
        _ => Basis::Clean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aptsim_core::verdict::{ThreatLevel, Thresholds};

    #[test]
    fn file_status_json_is_what_the_docs_show() {
        let md5 = Md5::of(b"x");
        let v = Verdict::from_level(ThreatLevel::High, &Thresholds::default()).with_threat("T");
        let done = serde_json::to_value(FileStatus::done(md5, v, Basis::Eicar)).expect("json");
        assert_eq!(
            done,
            serde_json::json!({"md5": md5.to_hex(), "status": "done",
                "verdict": {"score": 70, "level": "high", "threat": "T"}, "basis": "eicar"})
        );
        let queued = FileStatus::without_verdict(md5, Status::Queued);
        assert_eq!(
            serde_json::to_value(queued).expect("json"),
            serde_json::json!({"md5": md5.to_hex(), "status": "queued"})
        );
    }

    #[test]
    fn every_basis_reads_back_and_strangers_are_scans() {
        for b in [
            Basis::Oracle,
            Basis::Eicar,
            Basis::Drawn,
            Basis::Clean,
            Basis::Unseen,
        ] {
            assert_eq!(basis_from_str(Some(b.as_str())), b);
        }
        assert_eq!(basis_from_str(Some("cuckoo")), Basis::Clean);
        assert_eq!(basis_from_str(None), Basis::Clean);
    }
}
