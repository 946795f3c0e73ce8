//! The gateway fails closed, as a property: for every generated message and every decision
//! that is not `allow`, the bytes handed on — read back by aptsim *and* by Python's `email`
//! package (scripts/payload_oracle.py) — carry none of the acted-on content.
//!
//! Messages are trees of multiparts, attached messages (plain, base64 or quoted-printable)
//! and attachments (7bit, base64, quoted-printable; plain or zipped; named by `filename`,
//! `name`, a bare `attachment` disposition or RFC 2231 continuations), each attachment
//! holding a unique token. Limits are drawn small (depth, parts, size, parameters, archive
//! depth and members) so that they are hit in most cases. Every level's action is drawn
//! from the non-`allow` ones and every file found is known to the cache, so every decision
//! acts on every file — and on every piece the extractor could not enter: no token may
//! survive, whether the extractor found it or not.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use aptsim_core::archive::ArchiveLimits;
use aptsim_core::cache::{MemoryCache, VerdictCache};
use aptsim_core::inspect::{Decision, Flavour, Inspection};
use aptsim_core::mime::{self, MimeLimits};
use aptsim_core::policy::{Action, Policy};
use aptsim_core::verdict::{ThreatLevel, Thresholds, Verdict};
use common::{b64, generous_limits, t, zip};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Cte {
    SevenBit,
    Base64,
    QuotedPrintable,
}

#[derive(Debug, Clone, Copy)]
enum Naming {
    Filename,
    TypeName,
    DispositionOnly,
    /// RFC 2231 continuations, this many.
    Continuations(u8),
    /// An RFC 2047 name that decodes to the enclosing boundary and a part of its own: a
    /// rewrite that wrote the name as it is into its notice would hand that part on.
    Injected,
}

/// Oddities real (and hostile) mail has, which readers may take differently.
#[derive(Debug, Clone, Copy)]
enum Odd {
    None,
    /// Header names and values in odd case and spacing.
    Case,
    /// A line that is no header field inside the header block.
    JunkLine,
    /// A second, later Content-Type saying text/plain.
    SecondType,
    /// A multipart without its closing delimiter.
    Unterminated,
}

#[derive(Debug, Clone)]
enum Node {
    Text,
    File {
        cte: Cte,
        zipped: bool,
        naming: Naming,
        odd: Odd,
    },
    Multipart(Vec<Node>, Odd),
    Message(Box<Node>, Cte),
}

fn odd() -> impl Strategy<Value = Odd> {
    prop_oneof![
        8 => Just(Odd::None),
        1 => Just(Odd::Case),
        1 => Just(Odd::JunkLine),
        1 => Just(Odd::SecondType),
        1 => Just(Odd::Unterminated),
    ]
}

fn cte() -> impl Strategy<Value = Cte> {
    prop_oneof![
        Just(Cte::SevenBit),
        Just(Cte::Base64),
        Just(Cte::QuotedPrintable)
    ]
}

fn naming() -> impl Strategy<Value = Naming> {
    prop_oneof![
        3 => Just(Naming::Filename),
        1 => Just(Naming::TypeName),
        1 => Just(Naming::DispositionOnly),
        1 => (2u8..12).prop_map(Naming::Continuations),
        1 => Just(Naming::Injected),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        1 => Just(Node::Text),
        3 => (cte(), any::<bool>(), naming(), odd())
            .prop_map(|(cte, zipped, naming, odd)| Node::File { cte, zipped, naming, odd }),
    ];
    leaf.prop_recursive(10, 48, 6, |inner| {
        prop_oneof![
            3 => (proptest::collection::vec(inner.clone(), 1..6), odd())
                .prop_map(|(parts, odd)| Node::Multipart(parts, odd)),
            1 => (inner, cte()).prop_map(|(n, c)| Node::Message(Box::new(n), c)),
        ]
    })
}

fn limits() -> impl Strategy<Value = MimeLimits> {
    (
        2u32..9,
        3u32..60,
        prop_oneof![3 => Just(usize::MAX), 1 => 2_000usize..30_000],
        3u32..100,
        1u32..4,
        1u32..6,
    )
        .prop_map(
            |(max_depth, max_parts, max_message_bytes, max_parameters, zip_depth, members)| {
                MimeLimits {
                    max_message_bytes: max_message_bytes.min(64 << 20),
                    max_depth,
                    max_parts,
                    max_parameters,
                    archive: ArchiveLimits {
                        max_depth: zip_depth,
                        max_members: members,
                        ..ArchiveLimits::default()
                    },
                    ..MimeLimits::default()
                }
            },
        )
}

/// Builds the message text; each file holds a unique token, recorded in `tokens`.
struct Builder {
    seed: u64,
    tokens: Vec<String>,
    boundaries: u32,
    /// The boundaries of the multiparts being written, innermost last.
    open: Vec<String>,
}

impl Builder {
    fn token(&mut self) -> String {
        let t = format!(
            "APTSIM-PAYLOAD-{:016x}",
            self.seed ^ (self.tokens.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
        self.tokens.push(t.clone());
        t
    }

    fn entity(&mut self, node: &Node) -> String {
        match node {
            Node::Text => "Content-Type: text/plain\r\n\r\nJust text.\r\n".to_owned(),
            Node::File {
                cte,
                zipped,
                naming,
                odd,
            } => {
                let token = self.token();
                let n = self.tokens.len();
                let name = format!("f{n}.{}", if *zipped { "zip" } else { "bin" });
                let content = format!("payload {token} end\r\n").into_bytes();
                let bytes = if *zipped {
                    zip(&[(&format!("inner{n}.txt"), content)])
                } else {
                    content
                };
                let (kind, disposition) = match naming {
                    Naming::Filename => (
                        "application/octet-stream".to_owned(),
                        format!("Content-Disposition: attachment; filename=\"{name}\"\r\n"),
                    ),
                    Naming::TypeName => (
                        format!("application/octet-stream; name=\"{name}\""),
                        String::new(),
                    ),
                    Naming::DispositionOnly => (
                        "application/octet-stream".to_owned(),
                        "Content-Disposition: attachment\r\n".to_owned(),
                    ),
                    Naming::Continuations(k) => {
                        let pieces: String = (0..*k)
                            .map(|i| format!(";\r\n filename*{i}=\"{name}{i}\""))
                            .collect();
                        (
                            "application/octet-stream".to_owned(),
                            format!("Content-Disposition: attachment{pieces}\r\n"),
                        )
                    }
                    Naming::Injected => {
                        // The smuggled part holds a token no one planted as a file: it
                        // exists only if a rewrite lets the name out of its notice.
                        let boundary = self.open.last().cloned().unwrap_or_default();
                        let smuggled =
                            b64(format!("APTSIM-PAYLOAD-{:016x}", !self.seed).as_bytes());
                        let decoded = format!(
                            "x\r\n--{boundary}\r\nContent-Type: application/octet-stream; \
                             name=\"s.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                             {smuggled}\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
                        );
                        let q: String = decoded
                            .bytes()
                            .map(|b| {
                                if b.is_ascii_alphanumeric() {
                                    char::from(b).to_string()
                                } else {
                                    format!("={b:02X}")
                                }
                            })
                            .collect();
                        (
                            format!("application/octet-stream; name=\"=?utf-8?q?{q}?=\""),
                            "Content-Disposition: attachment\r\n".to_owned(),
                        )
                    }
                };
                // A zip is binary: 7bit cannot carry it.
                let cte = if *zipped && matches!(cte, Cte::SevenBit) {
                    Cte::Base64
                } else {
                    *cte
                };
                let headers = format!(
                    "Content-Type: {kind}\r\n{disposition}{}",
                    encoding_header(cte)
                );
                format!("{}\r\n{}", oddly(&headers, *odd), encode(&bytes, cte))
            }
            Node::Multipart(parts, odd) => {
                self.boundaries += 1;
                let b = format!("b{}x{:x}", self.boundaries, self.seed & 0xffff);
                let headers = format!("Content-Type: multipart/mixed; boundary=\"{b}\"\r\n");
                let mut text = format!("{}\r\n", oddly(&headers, *odd));
                self.open.push(b.clone());
                for p in parts {
                    text.push_str(&format!("--{b}\r\n{}\r\n", self.entity(p)));
                }
                self.open.pop();
                if !matches!(odd, Odd::Unterminated) {
                    text.push_str(&format!("--{b}--\r\n"));
                }
                text
            }
            Node::Message(inner, cte) => {
                let message = self.message(inner);
                format!(
                    "Content-Type: message/rfc822\r\n{}\r\n{}",
                    encoding_header(*cte),
                    encode(message.as_bytes(), *cte)
                )
            }
        }
    }

    fn message(&mut self, node: &Node) -> String {
        format!(
            "From: a@example.com\r\nTo: b@example.net\r\nSubject: generated\r\nMIME-Version: 1.0\r\n{}",
            self.entity(node)
        )
    }
}

/// `headers` (CRLF-ended field lines) with `odd` applied.
fn oddly(headers: &str, odd: Odd) -> String {
    match odd {
        Odd::None | Odd::Unterminated => headers.to_owned(),
        Odd::Case => headers
            .replace("Content-Type: ", "CONTENT-type:  ")
            .replace(
                "Content-Disposition: attachment",
                "content-DISPOSITION:ATTACHMENT",
            )
            .replace("base64", "BASE64 ")
            .replace("quoted-printable", "Quoted-Printable"),
        Odd::JunkLine => format!("X-Before: 1\r\nthis line is no header field\r\n{headers}"),
        Odd::SecondType => format!("{headers}Content-Type: text/plain\r\n"),
    }
}

fn encoding_header(cte: Cte) -> &'static str {
    match cte {
        Cte::SevenBit => "",
        Cte::Base64 => "Content-Transfer-Encoding: base64\r\n",
        Cte::QuotedPrintable => "Content-Transfer-Encoding: quoted-printable\r\n",
    }
}

fn encode(bytes: &[u8], cte: Cte) -> String {
    match cte {
        Cte::SevenBit => String::from_utf8_lossy(bytes).into_owned(),
        Cte::Base64 => b64(bytes) + "\r\n",
        Cte::QuotedPrintable => {
            // Every byte as =XX, in lines of 25 encoded bytes with soft breaks.
            let mut out = String::new();
            for (i, b) in bytes.iter().enumerate() {
                if i > 0 && i % 25 == 0 {
                    out.push_str("=\r\n");
                }
                out.push_str(&format!("={b:02X}"));
            }
            out.push_str("\r\n");
            out
        }
    }
}

/// The tokens aptsim finds in `bytes`: raw, and in every file a generous extraction finds
/// (archives expanded).
fn tokens_by_aptsim(bytes: &[u8]) -> BTreeSet<String> {
    let generous = generous_limits();
    let mut found = tokens_in(bytes);
    for f in mime::extract_with_contents(bytes, &generous).files {
        if let Some(c) = f.content {
            found.extend(tokens_in(&c));
        }
    }
    found
}

fn tokens_in(bytes: &[u8]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for at in memchr::memmem::find_iter(bytes, b"APTSIM-PAYLOAD-") {
        if let Some(t) = bytes.get(at..at + 31)
            && t[15..].iter().all(u8::is_ascii_hexdigit)
        {
            found.insert(String::from_utf8_lossy(t).into_owned());
        }
    }
    found
}

/// One Python process for the whole test run (scripts/payload_oracle.py).
struct Oracle {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

fn oracle() -> &'static Mutex<Oracle> {
    static ORACLE: std::sync::OnceLock<Mutex<Oracle>> = std::sync::OnceLock::new();
    ORACLE.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/payload_oracle.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs scripts/payload_oracle.py (Debian: apt-get install python3)");
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Mutex::new(Oracle {
            _child: child,
            stdin,
            stdout,
        })
    })
}

fn tokens_by_python(bytes: &[u8]) -> BTreeSet<String> {
    let mut o = oracle().lock().unwrap_or_else(|e| e.into_inner());
    writeln!(o.stdin, "{}", bytes.len()).expect("oracle alive");
    o.stdin.write_all(bytes).expect("oracle alive");
    o.stdin.flush().expect("oracle alive");
    let mut line = String::new();
    o.stdout.read_line(&mut line).expect("oracle answers");
    let answer: serde_json::Value = serde_json::from_str(&line).expect("oracle's JSON");
    answer["tokens"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn acting(flavour: Flavour) -> impl Strategy<Value = Action> {
    match flavour {
        Flavour::Smtp => {
            prop_oneof![Just(Action::Drop), Just(Action::Lock), Just(Action::Block)].boxed()
        }
        Flavour::Imap => prop_oneof![
            Just(Action::Drop),
            Just(Action::Lock),
            Just(Action::Block),
            Just(Action::Quarantine),
            Just(Action::Deny)
        ]
        .boxed(),
    }
}

fn case() -> impl Strategy<Value = (Node, MimeLimits, Flavour, bool, [Action; 4], u8, u64)> {
    prop_oneof![Just(Flavour::Smtp), Just(Flavour::Imap)].prop_flat_map(|flavour| {
        (
            node(),
            limits(),
            Just(flavour),
            any::<bool>(),
            [
                acting(flavour),
                acting(flavour),
                acting(flavour),
                acting(flavour),
            ],
            0u8..4,
            any::<u64>(),
        )
    })
}

/// 128 cases, or `PROPTEST_CASES` (which `with_cases` alone would override).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn nothing_acted_on_is_handed_on(
        (tree, limits, flavour, release, actions, unscannable, seed) in case()
    ) {
        let mut builder = Builder { seed, tokens: Vec::new(), boundaries: 0, open: Vec::new() };
        let raw = builder.message(&tree).into_bytes();
        let planted: BTreeSet<String> = builder.tokens.iter().cloned().collect();
        prop_assert_eq!(&tokens_by_aptsim(&raw), &planted, "the generator planted what it says");

        let mut policy = Policy {
            release_immediately: release,
            unscannable_level: ThreatLevel::ALL[unscannable as usize],
            limits,
            ..Policy::default()
        };
        policy.levels.clean.action = actions[0];
        policy.levels.low.action = actions[1];
        policy.levels.medium.action = actions[2];
        policy.levels.high.action = actions[3];
        // Every file the extractor finds is known, at a level whose action is not allow, so
        // the decision is made at once and acts on everything.
        let found = mime::extract(&raw, &policy.limits);
        let mut cache = MemoryCache::default();
        for (i, f) in found.files.iter().enumerate() {
            let level = ThreatLevel::ALL[i % 4];
            cache.insert(f.md5, Verdict::from_level(level, &Thresholds::default()), t(0));
        }
        let mut m = Inspection::new(flavour, &raw, Arc::new(policy.clone()), &cache as &dyn VerdictCache, t(0));
        while m.poll_submission(&cache, t(0)).is_some() {}
        let outcome = m.poll_outcome().expect("every file known: decided at once");
        let handed_on = match outcome.decision {
            Decision::Deliver => Some(raw.clone()),
            Decision::DeliverRewritten(plan) => Some(plan.apply(&raw, &policy.limits)),
            Decision::Reject(_) | Decision::Quarantine => None,
            Decision::Tempfail(t) => return Err(TestCaseError::fail(format!("tempfail {t}"))),
        };
        if let Some(out) = handed_on {
            let by_aptsim = tokens_by_aptsim(&out);
            prop_assert!(by_aptsim.is_empty(), "aptsim reads {:?} in what was handed on ({:?})", by_aptsim, found.malformed);
            let by_python = tokens_by_python(&out);
            prop_assert!(by_python.is_empty(), "Python reads {:?} in what was handed on ({:?})", by_python, found.malformed);
        }
    }
}
