//! Turns a scenario's messages into real MIME (mail-builder, zip) and tells the data center's
//! oracle how each file is to be judged.
//!
//! File bytes are a pure function of the file's name and size, so the same attachment named
//! in two messages is the same file with the same MD5 — which is how scenarios say "the next
//! message carries that file again" (S6).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::Duration;

use aptsim_core::digest::Md5;
use aptsim_core::verdict::{Thresholds, Verdict};
use aptsim_peers::datacenter::{EICAR, EICAR_THREAT, Judgement};
use aptsim_simulator::rng::{self, ChaCha8Rng};
use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use rand_core::Rng;

use crate::format::{AttachmentSpec, MessageSpec, TrafficSpec};

/// A message ready for the sender's queue.
#[derive(Debug, Clone)]
pub struct BuiltMessage {
    /// Its id.
    pub id: String,
    /// When it is queued.
    pub at: Duration,
    /// Reverse path.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// The RFC 5322 message.
    pub raw: Vec<u8>,
    /// MD5s of its files (archive members, not archives).
    pub files: Vec<Md5>,
}

/// The bytes of a file.
pub fn file_bytes(spec: &AttachmentSpec) -> Vec<u8> {
    if spec.content.as_deref() == Some("eicar") {
        return EICAR.to_vec();
    }
    // Keyed by the name alone, so bytes follow from name and size and not from the seed.
    let mut out = vec![0u8; spec.size];
    rng::keyed(&spec.name).fill_bytes(&mut out);
    // Never start like an archive, so that a plain file is never taken apart.
    if let Some(first) = out.first_mut() {
        *first = b'#';
    }
    out
}

/// The MD5 of `bytes`, [`file_bytes`] of `spec`. Remembered by what makes the bytes (name
/// and size, or the test file), in each thread for a few thousand files: traffic with a
/// pool sends each file again and again, and hashing it for every message was a twentieth
/// of a simulation carrying a file in each. Bounded: when full, the memo starts again.
fn file_md5(spec: &AttachmentSpec, bytes: &[u8]) -> Md5 {
    const MEMO: usize = 1 << 16;
    thread_local! {
        /// Name → (size, the test file, MD5). Only looked up, never walked: its hash
        /// order cannot reach a message or a trace (N8).
        static SEEN: std::cell::RefCell<HashMap<String, (usize, bool, Md5)>> =
            std::cell::RefCell::new(HashMap::new());
    }
    let eicar = spec.content.as_deref() == Some("eicar");
    SEEN.with_borrow_mut(|seen| {
        if let Some(&(size, test, md5)) = seen.get(spec.name.as_str())
            && (size, test) == (spec.size, eicar)
        {
            return md5;
        }
        if seen.len() >= MEMO {
            seen.clear();
        }
        let md5 = Md5::of(bytes);
        seen.insert(spec.name.clone(), (spec.size, eicar, md5));
        md5
    })
}

/// The messages a traffic spec stands for, drawn from `rng` (its own stream of the run),
/// one at a time: a million-message traffic is never held as a list.
pub fn generate(traffic: &TrafficSpec, rng: ChaCha8Rng) -> TrafficStream {
    let files = traffic.count.saturating_mul(traffic.attachments).max(1);
    let pool = traffic.pool.unwrap_or(files).max(1);
    TrafficStream {
        high: (traffic.high.clamp(0.0, 1.0) * pool as f64).round() as usize,
        medium: (traffic.medium.clamp(0.0, 1.0) * pool as f64).round() as usize,
        pool,
        traffic: traffic.clone(),
        rng,
        next: 0,
        fresh: 0,
    }
}

/// A traffic spec's messages, in order ([`generate`]).
#[derive(Debug, Clone)]
pub struct TrafficStream {
    traffic: TrafficSpec,
    rng: ChaCha8Rng,
    pool: usize,
    high: usize,
    medium: usize,
    next: usize,
    fresh: usize,
}

impl Iterator for TrafficStream {
    type Item = MessageSpec;

    fn next(&mut self) -> Option<MessageSpec> {
        let i = self.next;
        let t = &self.traffic;
        if i >= t.count {
            return None;
        }
        self.next += 1;
        let attachments = (0..t.attachments)
            .map(|_| {
                // Without a pool every file is new; with one, files repeat.
                let k = if t.pool.is_some() {
                    (self.rng.next_u64() % self.pool as u64) as usize
                } else {
                    self.fresh += 1;
                    self.fresh - 1
                };
                let level = if k < self.high {
                    Some(aptsim_core::verdict::ThreatLevel::High)
                } else if k < self.high + self.medium {
                    Some(aptsim_core::verdict::ThreatLevel::Medium)
                } else {
                    None
                };
                AttachmentSpec {
                    name: numbered(&t.prefix, "-file-", k, ".bin"),
                    size: t.size,
                    level,
                    score: None,
                    analysis: None,
                    content: None,
                    archive: None,
                }
            })
            .collect();
        Some(MessageSpec {
            id: numbered(&t.prefix, "-", i, ""),
            at: t.start + t.every * i as u32,
            from: "sender@traffic.example".to_owned(),
            to: vec![t.to.clone()],
            attachments,
            via: t.via,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.traffic.count - self.next;
        (left, Some(left))
    }
}

/// `{prefix}{middle}{n}{suffix}`, made at its size (a generated message's id or file name).
fn numbered(prefix: &str, middle: &str, n: usize, suffix: &str) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n);
    let mut s = String::with_capacity(prefix.len() + middle.len() + digits.len() + suffix.len());
    for piece in [prefix, middle, digits, suffix] {
        s.push_str(piece);
    }
    s
}

/// What the data center will say about each file of the scenario, gathered one message at
/// a time ([`Oracle::add`]).
#[derive(Debug, Clone)]
pub struct Oracle {
    thresholds: Thresholds,
    map: BTreeMap<Md5, Judgement>,
}

impl Oracle {
    /// The oracle before any message: EICAR is known.
    pub fn new(thresholds: &Thresholds) -> Self {
        let mut map = BTreeMap::new();
        map.insert(
            Md5::of(EICAR),
            Judgement {
                verdict: Verdict::from_score(100, thresholds).with_threat(EICAR_THREAT),
                analysis: None,
            },
        );
        Oracle {
            thresholds: *thresholds,
            map,
        }
    }

    /// Adds what `m` says about its files. A file with no level, score or analysis time
    /// of its own is judged by the data center's defaults and needs no entry.
    pub fn add(&mut self, m: &MessageSpec) {
        let thresholds = &self.thresholds;
        for a in &m.attachments {
            let verdict = match (a.score, a.level) {
                (Some(score), _) => Some(Verdict::from_score(score, thresholds)),
                (None, Some(level)) => Some(Verdict::from_level(level, thresholds)),
                (None, None) => None,
            };
            if verdict.is_none() && a.analysis.is_none() {
                continue;
            }
            let md5 = Md5::of(&file_bytes(a));
            let entry = self.map.entry(md5).or_insert_with(|| Judgement {
                verdict: verdict
                    .clone()
                    .unwrap_or_else(|| Verdict::from_score(0, thresholds)),
                analysis: None,
            });
            if let Some(v) = verdict {
                entry.verdict = v;
            }
            if a.analysis.is_some() {
                entry.analysis = a.analysis;
            }
        }
    }

    /// The judgements, by MD5.
    pub fn judgements(self) -> BTreeMap<Md5, Judgement> {
        self.map
    }
}

/// What the data center will say about each file of `messages`.
pub fn oracle(messages: &[MessageSpec], thresholds: &Thresholds) -> BTreeMap<Md5, Judgement> {
    let mut o = Oracle::new(thresholds);
    messages.iter().for_each(|m| o.add(m));
    o.judgements()
}

/// Builds one message. `date` is the virtual time it is queued (no wall clock in a run).
pub fn build(spec: &MessageSpec) -> BuiltMessage {
    // Attachments in order; an archive stands where its first member is named.
    enum Slot {
        /// A file on its own: its name, base64 body and MD5.
        File(String, Vec<u8>, Md5),
        Archive(String, Vec<(String, Vec<u8>, Md5)>),
    }
    let mut slots: Vec<Slot> = Vec::new();
    for a in &spec.attachments {
        let bytes = file_bytes(a);
        let md5 = file_md5(a, &bytes);
        let Some(archive) = &a.archive else {
            // mail-builder's own encoder takes about twelve instructions a byte; core's
            // writes the same text (tested below) at a fraction of that.
            let body = aptsim_core::mime::mime_base64(&bytes);
            slots.push(Slot::File(a.name.clone(), body, md5));
            continue;
        };
        let existing = slots.iter_mut().find_map(|s| match s {
            Slot::Archive(name, members) if name == archive => Some(members),
            _ => None,
        });
        match existing {
            Some(members) => members.push((a.name.clone(), bytes, md5)),
            None => slots.push(Slot::Archive(
                archive.clone(),
                vec![(a.name.clone(), bytes, md5)],
            )),
        }
    }
    // The files in the order they stand in the message (an archive's members where the
    // archive is), as the extractor finds them: the mail server relies on it
    // (`aptsim_actors::originals`).
    let files: Vec<Md5> = slots
        .iter()
        .flat_map(|slot| match slot {
            Slot::File(_, _, md5) => vec![*md5],
            Slot::Archive(_, members) => members.iter().map(|(_, _, md5)| *md5).collect(),
        })
        .collect();
    let mut parts = vec![MimePart::new(
        "text/plain",
        [
            "Message ",
            spec.id.as_str(),
            " from the aptsim scenario.\r\n",
        ]
        .concat(),
    )];
    for slot in &slots {
        parts.push(match slot {
            // Encoded already: the part is written as it is, with the header mail-builder
            // would have written before it.
            Slot::File(name, body, _) => MimePart::new("application/octet-stream", &body[..])
                .attachment(name.as_str())
                .transfer_encoding("base64"),
            Slot::Archive(name, members) => {
                MimePart::new("application/zip", zip(members)).attachment(name.as_str())
            }
        });
    }
    // The headers and the text part take a few hundred bytes; written at once into room
    // enough, the message is not copied as it grows.
    let room = 1024
        + slots
            .iter()
            .map(|slot| match slot {
                Slot::File(_, body, _) => body.len() + 256,
                Slot::Archive(_, members) => {
                    members.iter().map(|(_, b, _)| b.len() * 4 / 3 + 256).sum()
                }
            })
            .sum::<usize>();
    let date = 1_700_000_000 + spec.at.as_secs() as i64;
    let mut raw = Vec::with_capacity(room);
    let written = MessageBuilder::new()
        .from(spec.from.as_str())
        .to(spec.to.iter().map(|t| t.as_str()).collect::<Vec<_>>())
        .subject(["aptsim ", spec.id.as_str()].concat())
        .message_id([spec.id.as_str(), "@aptsim.invalid"].concat())
        .header("Date", Raw::new(date_text(date)))
        .header("X-Aptsim-Id", Raw::new(spec.id.as_str()))
        .body(MimePart::new(
            // A fixed boundary: mail-builder's own comes from the clock, and the same
            // scenario must build the same bytes (N8).
            ContentType::new("multipart/mixed")
                .attribute("boundary", ["aptsim-", spec.id.as_str()].concat()),
            parts,
        ))
        .write_to(&mut raw);
    if written.is_err() {
        // Writing to memory only fails on a bug; an empty message would show in the tests.
        raw.clear();
    }
    BuiltMessage {
        id: spec.id.clone(),
        at: spec.at,
        from: spec.from.clone(),
        to: spec.to.clone(),
        raw,
        files,
    }
}

/// The text of the `Date:` header mail-builder writes for `unix` (`Date::to_rfc822`): the
/// day, made by mail-builder once per day, and the time of day appended here. Its `format!`
/// of seven fields for every message was 0.7 % of a day of mail.
fn date_text(unix: i64) -> String {
    thread_local! {
        /// The last day asked for, and its text up to the time of day.
        static DAY: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let (day, of_day) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    DAY.with_borrow_mut(|(known, prefix)| {
        if *known != day {
            let midnight = Date::new(day * 86_400).to_rfc822();
            // "Tue, 14 Nov 2023" and " 00:00:00 +0000" after it.
            *prefix = midnight[..midnight.len() - " 00:00:00 +0000".len()].to_owned();
            *known = day;
        }
        let mut text = String::with_capacity(prefix.len() + 15);
        text.push_str(prefix);
        for (sep, n) in [
            (' ', of_day / 3_600),
            (':', of_day / 60 % 60),
            (':', of_day % 60),
        ] {
            text.push(sep);
            text.push(char::from(b'0' + (n / 10) as u8));
            text.push(char::from(b'0' + (n % 10) as u8));
        }
        text.push_str(" +0000");
        text
    })
}

fn zip(members: &[(String, Vec<u8>, Md5)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        // A fixed timestamp: the same scenario builds the same bytes (N8).
        .last_modified_time(zip::DateTime::default());
    for (name, bytes, _) in members {
        // Writing to memory only fails on a bug; an empty zip would show in the tests.
        if w.start_file(name.as_str(), options).is_err() || w.write_all(bytes).is_err() {
            return Vec::new();
        }
    }
    w.finish().map(|c| c.into_inner()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aptsim_core::mime::{self, MimeLimits};

    fn spec(name: &str, archive: Option<&str>) -> AttachmentSpec {
        AttachmentSpec {
            name: name.to_owned(),
            size: 500,
            level: None,
            score: None,
            analysis: None,
            content: None,
            archive: archive.map(str::to_owned),
        }
    }

    #[test]
    fn remembered_md5s_are_those_of_the_bytes() {
        let mut eicar = spec("a.pdf", None);
        eicar.content = Some("eicar".into());
        let mut bigger = spec("a.pdf", None);
        bigger.size = 501;
        // The same name with another size or content, in turns, so each must be told apart.
        for a in [spec("a.pdf", None), bigger, eicar, spec("b.pdf", None)]
            .iter()
            .cycle()
            .take(12)
        {
            let bytes = file_bytes(a);
            assert_eq!(file_md5(a, &bytes), Md5::of(&bytes), "{a:?}");
        }
    }

    #[test]
    fn same_name_same_bytes_and_messages_hold_their_files() {
        assert_eq!(
            file_bytes(&spec("a.pdf", None)),
            file_bytes(&spec("a.pdf", None))
        );
        assert_ne!(
            file_bytes(&spec("a.pdf", None)),
            file_bytes(&spec("b.pdf", None))
        );
        let m = MessageSpec {
            id: "m1".into(),
            at: Duration::ZERO,
            from: "a@x".into(),
            to: vec!["b@y".into()],
            attachments: vec![
                spec("a.pdf", None),
                spec("1.txt", Some("z.zip")),
                spec("2.txt", Some("z.zip")),
            ],
            via: Default::default(),
        };
        let built = build(&m);
        let x = mime::extract(&built.raw, &MimeLimits::default());
        let found: Vec<Md5> = x.files.iter().map(|f| f.md5).collect();
        assert_eq!(found, built.files);
        assert_eq!(x.files[1].archive.as_deref(), Some("z.zip"));
        assert_eq!(aptsim_simulator::trace::message_id(&built.raw), "m1");
        assert_eq!(build(&m).raw, built.raw, "deterministic");
    }

    #[test]
    fn the_date_is_the_text_mail_builder_writes() {
        // Across days, months, a leap day and years, both ways round the memo of the day.
        let starts = [1_700_000_000, 1_709_164_799, 1_709_251_199, 1_735_689_599];
        for start in starts {
            for t in (start - 3 * 86_400..start + 3 * 86_400).step_by(3_607) {
                assert_eq!(date_text(t), Date::new(t).to_rfc822(), "{t}");
            }
            assert_eq!(date_text(start), Date::new(start).to_rfc822());
        }
    }

    #[test]
    fn base64_bodies_are_those_mail_builder_writes() {
        use mail_builder::encoders::base64::base64_encode_mime;
        // Around the line length and its multiples, and nothing at all.
        for len in [0, 1, 2, 3, 4, 56, 57, 58, 113, 114, 115, 500, 2048] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut expected = Vec::new();
            base64_encode_mime(&bytes, &mut expected, false).expect("writing to memory");
            assert_eq!(
                aptsim_core::mime::mime_base64(&bytes),
                expected,
                "{len} bytes"
            );
        }
    }

    #[test]
    fn a_file_sent_again_is_the_part_mail_builder_writes() {
        let a = spec("sent-again.pdf", None);
        let mut part = Vec::new();
        MimePart::new("application/octet-stream", file_bytes(&a))
            .attachment("sent-again.pdf")
            .write_part(&mut part)
            .expect("writing to memory");
        let m = MessageSpec {
            id: "m3".into(),
            at: Duration::ZERO,
            from: "a@x".into(),
            to: vec!["b@y".into()],
            attachments: vec![a.clone(), a],
            via: Default::default(),
        };
        // Its MD5 made for the first file, remembered for the second and the next
        // message: every copy is the part mail-builder writes from the bytes.
        for _ in 0..2 {
            let raw = build(&m).raw;
            let copies = raw.windows(part.len()).filter(|w| *w == part).count();
            assert_eq!(copies, 2);
        }
    }

    #[test]
    fn the_files_listed_are_those_the_extractor_finds_in_order() {
        let mut empty = spec("empty.bin", None);
        empty.size = 0;
        let mut eicar = spec("eicar.com", None);
        eicar.content = Some("eicar".into());
        let m = MessageSpec {
            id: "m2".into(),
            at: Duration::ZERO,
            from: "a@x".into(),
            to: vec!["b@y".into()],
            attachments: vec![
                spec("1.txt", Some("z.zip")),
                spec("a.pdf", None),
                spec("2.txt", Some("z.zip")),
                empty,
                eicar,
                spec("a.pdf", None),
            ],
            via: Default::default(),
        };
        let built = build(&m);
        let found: Vec<Md5> = mime::extract(&built.raw, &MimeLimits::default())
            .files
            .iter()
            .map(|f| f.md5)
            .collect();
        assert_eq!(found, built.files);
    }
}
