//! Mail-client presets: each real program's timeouts, check schedule and fetch habits, with
//! each value's source (`reference/IMAP.md` §2–5, the programs' sources where it is silent).
//!
//! A scenario picks a preset by name ([`preset`]) and may override any field: the structs are
//! plain data and map onto TOML with serde (unknown keys are an error). Values IMAP.md marks
//! "unconfirmed" are chosen here, said so in their doc, and can be changed per scenario.
//!
//! ```
//! use std::time::Duration;
//! use aptsim_peers::mail_client::presets::{self, Program};
//!
//! let mut p = presets::preset("thunderbird").expect("a known preset");
//! assert_eq!(p.timeouts.read, Some(Duration::from_secs(100)));
//! // A user who turned off offline sync, so that opening a message fetches it.
//! if let Program::Thunderbird(tb) = &mut p.program {
//!     tb.offline_sync = false;
//! }
//! ```

use std::time::Duration;

const MIN: u64 = 60;

/// The names [`preset`] knows.
pub const PRESETS: [&str; 5] = [
    "thunderbird",
    "thunderbird-android",
    "outlook",
    "mbsync",
    "fetchmail",
];

/// What resets a client's read timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerReset {
    /// Any bytes from the server (an inactivity timer on the socket): Thunderbird, K-9,
    /// mbsync, Outlook.
    AnyBytes,
    /// Only a whole line (the timer is set around each line read): fetchmail. Bytes without
    /// a line end do not reset it.
    Line,
}

/// How long a client waits. Every timer runs only while the client waits for something:
/// the connection, the greeting, or the reply to a command (never while idle or in IDLE).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTimeouts {
    /// Opening the connection.
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub connect: Duration,
    /// Waiting for the server's bytes; `None` (`"off"`) waits for ever.
    #[serde(with = "aptsim_core::duration::serde_text_opt")]
    pub read: Option<Duration>,
    /// What restarts the read timer.
    pub reset: TimerReset,
}

/// How a client writes its command tags.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TagStyle {
    /// `1`, `2`, … (Thunderbird, K-9, mbsync `drv_imap.c` `"%d "`).
    Numeric,
    /// A prefix and a zero-padded number: fetchmail's `A0001` (`imap.c`, `"A%04d"`).
    Prefixed {
        /// Before the number.
        prefix: String,
        /// Digits, zero-padded.
        width: usize,
    },
}

/// Thunderbird's dynamic chunk size (IMAP.md §2, nsImapProtocol `AdjustChunkSize`): after
/// each chunk, measured in whole seconds from its command to its reply.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkTuning {
    /// A full chunk this fast grows the chunk by `add` (`mail.imap.chunk_fast`, 2 s).
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub fast: Duration,
    /// Up to this long the size stays (`mail.imap.chunk_ideal`, 4 s); slower resets it to
    /// the start size, or shrinks it by `add` if it is there already.
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub ideal: Duration,
    /// The step (`mail.imap.chunk_add`, 8192).
    pub add: u32,
}

/// Thunderbird desktop (IMAP.md §2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThunderbirdParams {
    /// `mail.server.default.fetch_by_chunks` = true.
    pub fetch_by_chunks: bool,
    /// `mail.imap.chunk_size` = 65536: the first chunk size.
    pub chunk_size: u32,
    /// `mail.imap.min_chunk_size_threshold` = 98304: larger messages are chunked. It follows
    /// the chunk size (1.5 ×) when tuning changes it.
    pub chunk_threshold: u32,
    /// `AdjustChunkSize`; `None` keeps the chunk size fixed.
    pub chunk_tuning: Option<ChunkTuning>,
    /// Offline sync (default on, MJ:617-618): new messages are downloaded after each check.
    pub offline_sync: bool,
    /// nsAutoSyncManager `kDefaultGroupSize`, 2 MB (2 MiB here): one `UID fetch` of
    /// `BODY.PEEK[]` holds messages up to this total; a larger message goes alone.
    pub offline_group_bytes: u64,
    /// The header sync's field list (IP `kHeadersRFC822andUid`; IMAP.md lists these and
    /// elides any that follow).
    pub header_fields: String,
    /// `use_idle` = true: between checks the connection waits in IDLE (if offered).
    pub use_idle: bool,
    /// From 154.0a1: a message whose bytes add up to less than its `RFC822.SIZE` is
    /// discarded and fetched again later (bug 770888).
    pub discard_short: bool,
}

impl Default for ThunderbirdParams {
    fn default() -> Self {
        ThunderbirdParams {
            fetch_by_chunks: true,
            chunk_size: 65_536,
            chunk_threshold: 98_304,
            chunk_tuning: Some(ChunkTuning {
                fast: Duration::from_secs(2),
                ideal: Duration::from_secs(4),
                add: 8_192,
            }),
            offline_sync: true,
            offline_group_bytes: 2 * 1024 * 1024,
            header_fields: "From To Cc Bcc Subject Date Message-ID Priority X-Priority \
                References Newsgroups In-Reply-To Content-Type Reply-To Received"
                .to_owned(),
            use_idle: true,
            discard_short: true,
        }
    }
}

/// Thunderbird for Android / K-9 (IMAP.md §5; RealImapFolder.kt, ImapSync.kt).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct K9Params {
    /// `maximumAutoDownloadMessageSize` = 131072: messages up to this size are fetched whole
    /// (`BODY.PEEK[]`); larger ones by structure and text parts, a single-part one as
    /// `BODY.PEEK[TEXT]<0.N>` with this `N`.
    pub max_download_size: u32,
    /// `FETCH_WINDOW_SIZE` = 100 UIDs per `UID FETCH`.
    pub fetch_window: usize,
}

impl Default for K9Params {
    fn default() -> Self {
        K9Params {
            max_download_size: 131_072,
            fetch_window: 100,
        }
    }
}

/// The whole-message item classic Outlook asks for (IMAP.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutlookItem {
    /// `BODY.PEEK[]` (IMAP4rev1 servers).
    BodyPeek,
    /// `RFC822.peek`, as in the go-imap trace `UID fetch 39 (UID RFC822.SIZE RFC822.peek)`.
    Rfc822Peek,
}

/// Classic Outlook 2007–2024 (IMAP.md §3).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutlookParams {
    /// Which item fetches a whole message. Default `BODY.PEEK[]`.
    pub item: OutlookItem,
    /// Fetch each new message's header (`BODY.PEEK[HEADER]`) before its body, as in
    /// Outlook's "download headers" mode. Default off (whole items).
    pub headers_first: bool,
    /// The seed's quirk I5: a fetch of a message during a sync that times out or loses its
    /// connection is taken for a denied connection, and Outlook stops syncing until the user
    /// restarts it (WatchGuard, IMAP.md \[WG1\]; Dovecot \[DOVDOC\]). Default on.
    pub stall_on_held_fetch: bool,
}

impl Default for OutlookParams {
    fn default() -> Self {
        OutlookParams {
            item: OutlookItem::BodyPeek,
            headers_first: false,
            stall_on_held_fetch: true,
        }
    }
}

/// mbsync / isync 1.4.4 (IMAP.md §4).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MbsyncParams {
    /// `PipelineDepth`: per-message fetches in flight at once; `None` is mbsync's default,
    /// unlimited.
    pub pipeline_depth: Option<usize>,
}

/// fetchmail 6.3.26 (IMAP.md §4; imap.c, driver.c). Always `keep` (messages stay on the
/// server, marked `\Seen`): the simulated mailbox stays as the scenario left it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetchmailParams {
    /// `fetchsizelimit` = 100: sizes are asked for this many messages at a time
    /// (`FETCH a:b RFC822.SIZE`, or `FETCH n RFC822.SIZE` for one).
    pub fetch_size_limit: u32,
    /// `MAX_TIMEOUTS` = 20 (tunable.h): after more consecutive timeouts (no line read in
    /// between) fetchmail stops polling until restarted; `None` never stops.
    pub max_timeouts: Option<u32>,
}

impl Default for FetchmailParams {
    fn default() -> Self {
        FetchmailParams {
            fetch_size_limit: 100,
            max_timeouts: Some(20),
        }
    }
}

/// Which program's dialogue the client speaks, with its habits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Program {
    /// Thunderbird desktop.
    Thunderbird(ThunderbirdParams),
    /// Thunderbird for Android / K-9 Mail.
    K9(K9Params),
    /// Classic Outlook.
    Outlook(OutlookParams),
    /// mbsync (isync).
    Mbsync(MbsyncParams),
    /// fetchmail.
    Fetchmail(FetchmailParams),
}

/// One mail program: its dialogue, timeouts and schedule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientPreset {
    /// The preset's name, for traces.
    pub name: String,
    /// The dialogue and its habits.
    pub program: Program,
    /// Connect and read timeouts.
    pub timeouts: ClientTimeouts,
    /// Time between checks for new mail; `None` (`"off"`) checks only once, at the
    /// configured start (and on a restart).
    #[serde(with = "aptsim_core::duration::serde_text_opt")]
    pub check_interval: Option<Duration>,
    /// Command tags.
    pub tags: TagStyle,
    /// Send `CAPABILITY` before logging in even when the greeting lists them (fetchmail's
    /// `capa_probe`); otherwise only when it does not.
    pub capability_first: bool,
}

impl ClientPreset {
    /// Thunderbird desktop: `mailnews.tcptimeout` 100 s reset by any socket event, connect
    /// 160 s; `check_time` 10 min (MJ:540, 583); offline sync, chunks, IDLE as
    /// [`ThunderbirdParams::default`].
    pub fn thunderbird() -> Self {
        ClientPreset {
            name: "thunderbird".to_owned(),
            program: Program::Thunderbird(ThunderbirdParams::default()),
            timeouts: ClientTimeouts {
                connect: Duration::from_secs(160),
                read: Some(Duration::from_secs(100)),
                reset: TimerReset::AnyBytes,
            },
            check_interval: Some(Duration::from_secs(10 * MIN)),
            tags: TagStyle::Numeric,
            capability_first: false,
        }
    }

    /// Thunderbird for Android (K-9): reads 60 s, connect 30 s (NetworkTimeouts.kt). Push is
    /// off by default (`folderPushMode = NONE`), so it polls; the poll interval is
    /// **unconfirmed** (`DEFAULT_SYNC_INTERVAL` not found): 15 min chosen.
    pub fn thunderbird_android() -> Self {
        ClientPreset {
            name: "thunderbird-android".to_owned(),
            program: Program::K9(K9Params::default()),
            timeouts: ClientTimeouts {
                connect: Duration::from_secs(30),
                read: Some(Duration::from_secs(60)),
                reset: TimerReset::AnyBytes,
            },
            check_interval: Some(Duration::from_secs(15 * MIN)),
            tags: TagStyle::Numeric,
            capability_first: false,
        }
    }

    /// Classic Outlook. Its "server timeout" slider's default is **unconfirmed** (commonly
    /// quoted as 1 min, TIMINGS.md; the slider reaches 5 min): 1 min chosen, for connecting
    /// too, and taken to be reset by any bytes (a socket inactivity timer, as in the other
    /// clients; also unconfirmed). Send/receive every 30 min: Outlook's "All Accounts" group
    /// default (not in IMAP.md).
    pub fn outlook() -> Self {
        ClientPreset {
            name: "outlook".to_owned(),
            program: Program::Outlook(OutlookParams::default()),
            timeouts: ClientTimeouts {
                connect: Duration::from_secs(MIN),
                read: Some(Duration::from_secs(MIN)),
                reset: TimerReset::AnyBytes,
            },
            check_interval: Some(Duration::from_secs(30 * MIN)),
            tags: TagStyle::Numeric,
            capability_first: false,
        }
    }

    /// mbsync: `Timeout` 20 s, for connecting too, reset by any socket event and armed only
    /// while replies are pending (socket.c:809, 1094). mbsync has no schedule of its own
    /// (cron runs it); every 5 min chosen.
    pub fn mbsync() -> Self {
        ClientPreset {
            name: "mbsync".to_owned(),
            program: Program::Mbsync(MbsyncParams::default()),
            timeouts: ClientTimeouts {
                connect: Duration::from_secs(20),
                read: Some(Duration::from_secs(20)),
                reset: TimerReset::AnyBytes,
            },
            check_interval: Some(Duration::from_secs(5 * MIN)),
            tags: TagStyle::Numeric,
            capability_first: false,
        }
    }

    /// fetchmail: `timeout` 300 s (`CLIENT_TIMEOUT`, tunable.h) around each line read and
    /// the connect (transact.c, driver.c); the daemon's poll interval is the user's choice
    /// (`set daemon`): 5 min chosen.
    pub fn fetchmail() -> Self {
        ClientPreset {
            name: "fetchmail".to_owned(),
            program: Program::Fetchmail(FetchmailParams::default()),
            timeouts: ClientTimeouts {
                connect: Duration::from_secs(300),
                read: Some(Duration::from_secs(300)),
                reset: TimerReset::Line,
            },
            check_interval: Some(Duration::from_secs(5 * MIN)),
            tags: TagStyle::Prefixed {
                prefix: "A".to_owned(),
                width: 4,
            },
            capability_first: true,
        }
    }
}

/// The preset called `name` (one of [`PRESETS`], any case; `k9` for thunderbird-android),
/// or `None`.
pub fn preset(name: &str) -> Option<ClientPreset> {
    match name.to_ascii_lowercase().as_str() {
        "thunderbird" => Some(ClientPreset::thunderbird()),
        "thunderbird-android" | "k9" | "k-9" => Some(ClientPreset::thunderbird_android()),
        "outlook" => Some(ClientPreset::outlook()),
        "mbsync" | "isync" => Some(ClientPreset::mbsync()),
        "fetchmail" => Some(ClientPreset::fetchmail()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_by_name() {
        assert_eq!(preset("nosuchclient"), None);
        let want = [
            ("thunderbird", 100, 160),
            ("thunderbird-android", 60, 30),
            ("outlook", 60, 60),
            ("mbsync", 20, 20),
            ("fetchmail", 300, 300),
        ];
        for (name, read, connect) in want {
            let p = preset(name).expect("known");
            assert_eq!(p.name, name);
            assert_eq!(p.timeouts.read, Some(Duration::from_secs(read)), "{name}");
            assert_eq!(p.timeouts.connect, Duration::from_secs(connect), "{name}");
        }
        assert_eq!(preset("K9"), Some(ClientPreset::thunderbird_android()));
        assert_eq!(PRESETS.map(|n| preset(n).is_some()), [true; 5]);
        assert_eq!(
            ClientPreset::fetchmail().timeouts.reset,
            TimerReset::Line,
            "fetchmail's timer runs per line"
        );
    }

    #[test]
    fn scenarios_override_fields_in_toml() {
        let p: ClientPreset = toml::from_str(
            r#"
            name = "slow-outlook"
            check_interval = "5m"
            tags = "numeric"
            capability_first = false
            [timeouts]
            connect = "30s"
            read = "5m"
            reset = "any_bytes"
            [program.outlook]
            item = "rfc822_peek"
            "#,
        )
        .expect("valid");
        assert_eq!(p.timeouts.read, Some(Duration::from_secs(300)));
        let Program::Outlook(o) = &p.program else {
            panic!("outlook: {p:?}")
        };
        assert_eq!(o.item, OutlookItem::Rfc822Peek);
        assert!(o.stall_on_held_fetch, "unset fields keep their default");
        let off: ClientTimeouts =
            toml::from_str("connect = \"1s\"\nread = \"off\"\nreset = \"line\"").expect("valid");
        assert_eq!(off.read, None);
        assert!(toml::from_str::<ThunderbirdParams>("chunk_sise = 1").is_err());
        for name in PRESETS {
            let p = preset(name).expect("known");
            let back: ClientPreset =
                toml::from_str(&toml::to_string(&p).expect("writes")).expect("reads back");
            assert_eq!(back, p, "{name}");
        }
    }
}
