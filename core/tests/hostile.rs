//! Hostile input: zip bombs, 10,000 parts, 100-deep nesting, a 50 MB line. Each must end in
//! a typed outcome, without a panic, within bounded memory (measured here by a counting
//! allocator) — and in bounded time, which nextest's slow-test timeout enforces.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use aptsim_core::archive::{LimitExceeded, Unscannable};
use aptsim_core::mime::{self, Malformed, MimeLimits};
use common::message;

/// Counts live heap bytes and the peak since the last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap growth (bytes above what was live at the start) while `f` runs. The tests in
/// this file run one at a time (see the mutex) so that they do not count each other.
fn peak_growth<T>(f: impl FnOnce() -> T) -> (T, usize) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

const MIB: usize = 1 << 20;

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(false);
    for (name, bytes) in entries {
        w.start_file(*name, options).expect("zip entry");
        w.write_all(bytes).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

#[test]
fn zip_bomb_is_refused_without_inflating() {
    // 64 MiB of zeros deflate to about 64 KiB: a ratio near 1,000, ten times the limit.
    let bomb = zip_of(&[("zeros.bin", &vec![0u8; 64 * MIB])]);
    let raw = message(&[("bomb.zip", bomb)]);
    let (x, peak) = peak_growth(|| mime::extract(&raw, &MimeLimits::default()));
    let reasons: Vec<_> = x.files.iter().map(|f| f.unscannable.clone()).collect();
    assert_eq!(
        reasons,
        [Some(Unscannable::OverLimit(LimitExceeded::Ratio(100)))],
        "{x:?}"
    );
    assert!(
        peak < 16 * MIB,
        "peak heap {peak} bytes: the bomb was inflated"
    );
}

#[test]
fn nested_bomb_runs_out_of_budget() {
    // 42.zip in small: 16 zips each holding 16 copies of 64 KiB of pseudo-random bytes
    // (incompressible, so the ratio check passes and the byte budget must stop it).
    let leaf = common::noise(MIB / 16, 0x2545_f491_4f6c_dd1d);
    let names: Vec<String> = (0..16).map(|i| format!("{i}.bin")).collect();
    let inner = zip_of(
        &names
            .iter()
            .map(|n| (n.as_str(), leaf.as_slice()))
            .collect::<Vec<_>>(),
    );
    let zips: Vec<String> = (0..16).map(|i| format!("{i}.zip")).collect();
    let outer = zip_of(
        &zips
            .iter()
            .map(|n| (n.as_str(), inner.as_slice()))
            .collect::<Vec<_>>(),
    );
    let raw = message(&[("42.zip", outer)]);
    let limits = MimeLimits {
        archive: aptsim_core::archive::ArchiveLimits {
            max_total_bytes: 4 * MIB as u64,
            ..Default::default()
        },
        ..MimeLimits::default()
    };
    let (x, peak) = peak_growth(|| mime::extract(&raw, &limits));
    let last = x.files.last().expect("the archive itself is listed");
    assert!(
        matches!(
            last.unscannable,
            Some(Unscannable::OverLimit(LimitExceeded::TotalBytes(_)))
        ),
        "{:?}",
        last.unscannable
    );
    // The budget bounds what is held: 4 MiB of members plus the message and its decoding.
    assert!(peak < 4 * MIB + 4 * raw.len(), "peak heap {peak} bytes");
}

#[test]
fn ten_thousand_parts_stop_at_the_part_limit() {
    let mut raw =
        b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
    for i in 0..10_000 {
        write!(
            raw,
            "--b\r\nContent-Type: application/octet-stream; name=\"f{i}.bin\"\r\n\r\nx{i}\r\n"
        )
        .expect("vec write");
    }
    raw.extend_from_slice(b"--b--\r\n");
    let (x, _) = peak_growth(|| mime::extract(&raw, &MimeLimits::default()));
    assert!(
        x.malformed.contains(&Malformed::PartLimit),
        "{:?}",
        x.malformed
    );
    assert!(x.is_incomplete());
    // The message is entity 1; parts 1..=1999 are files, and the rest is unwalked: the part
    // at the limit and the 8,000 after it, as two pieces (fail_closed.rs checks what is
    // delivered).
    let found = x.files.iter().filter(|f| f.unscannable.is_none()).count();
    assert_eq!(found, MimeLimits::default().max_parts as usize - 1);
    let unwalked: Vec<_> = x.attachments.iter().filter(|a| a.unwalked).collect();
    assert_eq!(unwalked.len(), 2, "{unwalked:?}");
    assert_eq!(unwalked[1].span.end, raw.len() - b"\r\n--b--\r\n".len());
}

#[test]
fn hundred_deep_nesting_stops_at_the_depth_limit() {
    // Multiparts inside multiparts, and attached messages inside attached messages.
    let mut multipart = b"Content-Type: application/pdf; name=deep.pdf\r\n\r\n%PDF\r\n".to_vec();
    let mut rfc822 = multipart.clone();
    for level in 0..100 {
        let mut outer =
            format!("Content-Type: multipart/mixed; boundary=\"l{level}\"\r\n\r\n--l{level}\r\n")
                .into_bytes();
        outer.extend_from_slice(&multipart);
        write!(outer, "\r\n--l{level}--\r\n").expect("vec write");
        multipart = outer;

        let mut outer = b"From: x@example.com\r\nContent-Type: message/rfc822\r\n\r\n".to_vec();
        outer.extend_from_slice(&rfc822);
        rfc822 = outer;
    }
    for raw in [multipart, rfc822] {
        let (x, _) = peak_growth(|| mime::extract(&raw, &MimeLimits::default()));
        assert!(
            x.malformed.contains(&Malformed::DepthLimit),
            "{:?}",
            x.malformed
        );
        assert!(
            x.files
                .iter()
                .all(|f| f.name == mime::UNWALKED_NAME && f.unscannable.is_some()),
            "the file sits below the limit, inside one unwalked piece: {:?}",
            x.files
        );
        assert_eq!(x.files.len(), 1);
    }
}

#[test]
fn fifty_megabyte_line_is_parsed_in_bounded_memory() {
    let mut raw =
        b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
        Content-Type: application/octet-stream; name=line.bin\r\n\r\n"
            .to_vec();
    let start = raw.len();
    raw.resize(start + 50 * MIB, b'A');
    raw.extend_from_slice(b"\r\n--b--\r\n");
    let (x, peak) = peak_growth(|| mime::extract(&raw, &MimeLimits::default()));
    assert_eq!(x.files.len(), 1);
    assert_eq!(x.files[0].size, 50 * MIB as u64);
    assert!(
        peak < 2 * raw.len(),
        "peak heap {peak} bytes for a {} byte message",
        raw.len()
    );
}

#[test]
fn oversized_message_is_not_parsed() {
    let limits = MimeLimits {
        max_message_bytes: MIB,
        ..MimeLimits::default()
    };
    let raw = vec![b'a'; 2 * MIB];
    let (x, peak) = peak_growth(|| mime::extract(&raw, &limits));
    assert_eq!(
        x.malformed.iter().copied().collect::<Vec<_>>(),
        [Malformed::TooLarge]
    );
    assert_eq!(
        x.files.len(),
        1,
        "the whole message is one unscannable piece"
    );
    assert!(peak < MIB, "peak heap {peak}");
}
