//! Unit tests of archive expansion: every format, every limit, damaged input.

use super::*;
use proptest::prelude::*;
use std::io::Write;
use zip::CompressionMethod::{Deflated, Stored};

/// Builds a zip; a name ending in `/` is a directory.
fn zip_of(entries: &[(&str, &[u8], zip::CompressionMethod)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for &(name, data, method) in entries {
        let opts = zip::write::SimpleFileOptions::default().compression_method(method);
        if name.ends_with('/') {
            w.add_directory(name, opts).expect("add directory");
        } else {
            w.start_file(name, opts).expect("start file");
            w.write_all(data).expect("write member");
        }
    }
    w.finish().expect("finish zip").into_inner()
}

/// Offsets of every `sig` in `bytes` (test data avoids accidental matches).
fn find(bytes: &[u8], sig: &[u8]) -> Vec<usize> {
    let hits = bytes.windows(sig.len()).enumerate();
    hits.filter(|(_, w)| *w == sig).map(|(i, _)| i).collect()
}

/// Overwrites a field of every local (`local_at`) and central (`central_at`) header.
fn patch(bytes: &mut [u8], local_at: usize, central_at: usize, value: &[u8]) {
    for (sig, at) in [(b"PK\x03\x04", local_at), (b"PK\x01\x02", central_at)] {
        for i in find(bytes, sig) {
            bytes[i + at..i + at + value.len()].copy_from_slice(value);
        }
    }
}

/// Breaks the CRC of the last member: had it been inflated, it would show as corrupt.
fn break_last_crc(z: &mut [u8]) {
    for (sig, at) in [(b"PK\x03\x04", 14), (b"PK\x01\x02", 16)] {
        let i = find(z, sig).last().copied().unwrap_or_default();
        z[i + at] ^= 0xff;
    }
}

fn gz(data: &[u8], name: Option<&str>) -> Vec<u8> {
    let mut b = flate2::GzBuilder::new();
    if let Some(n) = name {
        b = b.filename(n);
    }
    let mut w = b.write(Vec::new(), flate2::Compression::default());
    w.write_all(data).expect("gzip write");
    w.finish().expect("gzip finish")
}

fn tar_of(entries: &[(&str, &[u8], u8)]) -> Vec<u8> {
    let mut t = Vec::new();
    for &(name, data, flag) in entries {
        let mut h = vec![0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
        h[156] = flag;
        h[257..265].copy_from_slice(b"ustar\x0000");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        t.extend(h);
        t.extend(data);
        t.resize(t.len().div_ceil(512) * 512, 0);
    }
    t.extend([0u8; 1024]);
    t
}

fn run_with(bytes: &[u8], set: impl FnOnce(&mut ArchiveLimits)) -> Vec<String> {
    let mut limits = ArchiveLimits::default();
    set(&mut limits);
    show(&expand(bytes, &limits).expect("an archive"))
}

fn run(bytes: &[u8]) -> Vec<String> {
    run_with(bytes, |_| ())
}

/// `path=content` or `path!reason` per member, then `problem reason` if any; corrupt
/// messages are left out, being free text.
fn show(e: &Expansion) -> Vec<String> {
    let short = |u: &Unscannable| match u {
        Unscannable::Corrupt(_) => "Corrupt".to_owned(),
        other => format!("{other:?}"),
    };
    let member = |m: &Member| match &m.content {
        MemberContent::Bytes(b) => format!("{}={}", m.path, String::from_utf8_lossy(b)),
        MemberContent::Unscannable { reason, .. } => format!("{}!{}", m.path, short(reason)),
    };
    let mut out: Vec<String> = e.members.iter().map(member).collect();
    out.extend(e.problem.as_ref().map(|p| format!("problem {}", short(p))));
    out
}

/// The raw bytes of the first member, which must be unscannable.
fn first_raw(bytes: &[u8], limits: &ArchiveLimits) -> Vec<u8> {
    let e = expand(bytes, limits).expect("an archive");
    match e.members.into_iter().next().map(|m| m.content) {
        Some(MemberContent::Unscannable { raw, .. }) => raw,
        other => panic!("{other:?}"),
    }
}

#[test]
fn sniffs_by_content() {
    assert_eq!(
        sniff(&zip_of(&[("a", b"x", Stored)])),
        Some(ArchiveKind::Zip)
    );
    assert_eq!(sniff(&zip_of(&[])), Some(ArchiveKind::Zip));
    assert_eq!(sniff(&gz(b"x", Some("a.zip"))), Some(ArchiveKind::Gzip));
    assert_eq!(sniff(&tar_of(&[("a", b"x", b'0')])), Some(ArchiveKind::Tar));
    assert_eq!(sniff(b"just text named like archive.zip"), None);
    assert_eq!(expand(b"plain", &ArchiveLimits::default()), None);
    assert_eq!(run(&zip_of(&[])), Vec::<String>::new());
}

/// What the MIME walk relies on to drop an attachment's bytes: a prefix for which
/// `may_be_archive` says no is never the start of something `sniff` calls an archive.
fn prefix_rule_holds(bytes: &[u8]) -> bool {
    sniff(bytes).is_none() || may_be_archive(&bytes[..bytes.len().min(SNIFF_PREFIX)])
}

#[test]
fn a_prefix_tells_every_archive() {
    for archive in
        samples()
            .into_iter()
            .chain([gz(b"x", None), zip_of(&[]), tar_of(&[("a", b"x", b'0')])])
    {
        assert!(sniff(&archive).is_some());
        assert!(may_be_archive(&archive[..SNIFF_PREFIX.min(archive.len())]));
    }
    assert!(!may_be_archive(b"%PDF-1.7\n"));
    assert!(!may_be_archive(&[0u8; 1000]));
    // An Office document is a zip that is no archive; its prefix still says "maybe", and
    // the walk keeps its bytes for `sniff` to decide.
    let docx = zip_of(&[("[Content_Types].xml", b"<Types/>", Stored)]);
    assert_eq!(sniff(&docx), None);
    assert!(may_be_archive(&docx));
}

#[test]
fn zip_members_in_order_directories_skipped() {
    let z = zip_of(&[
        ("d/", b"", Stored),
        ("d/a", b"alpha", Stored),
        ("b", b"bbb", Deflated),
    ]);
    assert_eq!(run(&z), ["d/a=alpha", "b=bbb"]);
}

#[test]
fn nested_zips_are_flattened_up_to_max_depth() {
    let l3 = zip_of(&[("x.txt", b"deep", Deflated)]);
    let l2 = zip_of(&[("l3.zip", &l3, Stored)]);
    let l1 = zip_of(&[("a.txt", b"top", Stored), ("l2.zip", &l2, Deflated)]);
    assert_eq!(run(&l1), ["a.txt=top", "l2.zip/l3.zip/x.txt=deep"]);
    let deep = run_with(&l1, |l| l.max_depth = 2);
    assert_eq!(deep, ["a.txt=top", "l2.zip/l3.zip!OverLimit(Depth(2))"]);
    assert_eq!(
        run_with(&l1, |l| l.max_depth = 0),
        ["problem OverLimit(Depth(0))"]
    );
    let limits = ArchiveLimits {
        max_depth: 1,
        ..Default::default()
    };
    assert_eq!(
        first_raw(&zip_of(&[("l3.zip", &l3, Deflated)]), &limits),
        l3
    );
}

#[test]
fn encrypted_member_is_unscannable_with_raw_bytes() {
    let mut z = zip_of(&[
        ("secret.doc", b"ciphertext", Stored),
        ("b", b"plain", Stored),
    ]);
    // Bit 0 of the general-purpose flags, in the first local and central header only.
    z[6] |= 1;
    let central = find(&z, b"PK\x01\x02")[0];
    z[central + 8] |= 1;
    assert_eq!(run(&z), ["secret.doc!Encrypted", "b=plain"]);
    assert_eq!(first_raw(&z, &ArchiveLimits::default()), b"ciphertext");
}

#[test]
fn unsupported_method_and_bad_crc_are_member_level() {
    let mut z = zip_of(&[("a.bz2", b"aaaa", Stored)]);
    patch(&mut z, 8, 10, &12u16.to_le_bytes());
    assert_eq!(run(&z), ["a.bz2!UnsupportedMethod(12)"]);

    let mut z = zip_of(&[("bad", b"0123456789", Stored), ("good", b"fine", Stored)]);
    let at = find(&z, b"0123")[0];
    z[at] = b'X';
    assert_eq!(run(&z), ["bad!Corrupt", "good=fine"]);
}

#[test]
fn bomb_is_refused_by_its_declared_size() {
    let mut z = zip_of(&[
        ("a", b"small", Stored),
        ("zeros", &vec![0; 4 << 20], Deflated),
    ]);
    break_last_crc(&mut z);
    let e = run_with(&z, |l| {
        (l.max_total_bytes, l.max_ratio) = (256 << 10, u32::MAX)
    });
    assert_eq!(e, ["a=small", "problem OverLimit(TotalBytes(262144))"]);
}

#[test]
fn ratio_limit_is_per_member() {
    let mut z = zip_of(&[
        ("b", b"next", Stored),
        ("zeros", &vec![0; 2 << 20], Deflated),
    ]);
    break_last_crc(&mut z);
    assert_eq!(run(&z), ["b=next", "zeros!OverLimit(Ratio(100))"]);
}

#[test]
fn small_repetitive_members_are_below_the_ratio_floor() {
    let text = b"Payment within 30 days.\n".repeat(400);
    let z = zip_of(&[("terms.txt", &text, Deflated)]);
    assert_eq!(run(&z).len(), 1);
    assert!(!run(&z)[0].contains('!'), "{:?}", run(&z));
}

#[test]
fn office_and_java_zips_are_documents_not_archives() {
    for first in ["[Content_Types].xml", "mimetype", "META-INF/MANIFEST.MF"] {
        let z = zip_of(&[
            (first, b"x", Stored),
            ("word/document.xml", b"<w/>", Deflated),
        ]);
        assert_eq!(sniff(&z), None, "{first}");
        assert_eq!(expand(&z, &ArchiveLimits::default()), None, "{first}");
    }
    let z = zip_of(&[("readme.txt", b"x", Stored)]);
    assert_eq!(sniff(&z), Some(ArchiveKind::Zip));
}

#[test]
fn lying_declared_size_is_read_bounded_and_corrupt() {
    let mut z = zip_of(&[("zeros", &vec![0; 4 << 20], Deflated)]);
    patch(&mut z, 22, 24, &1000u32.to_le_bytes());
    let limits = ArchiveLimits {
        max_total_bytes: 1 << 20,
        ..Default::default()
    };
    let e = expand(&z, &limits).expect("an archive");
    assert_eq!(show(&e), ["zeros!Corrupt"]);
    let MemberContent::Unscannable {
        reason: Unscannable::Corrupt(msg),
        raw,
    } = &e.members[0].content
    else {
        unreachable!("checked above");
    };
    assert!(msg.contains("larger than"), "{msg}");
    assert!(raw.len() < 64 << 10, "raw is the compressed data");
}

#[test]
fn member_budget_is_shared_across_nesting() {
    let inner = zip_of(&[
        ("b", b"b", Stored),
        ("c", b"c", Stored),
        ("d", b"d", Stored),
    ]);
    let outer = zip_of(&[("a", b"a", Stored), ("inner.zip", &inner, Stored)]);
    let e = run_with(&outer, |l| l.max_members = 3);
    assert_eq!(
        e,
        [
            "a=a",
            "inner.zip/b=b",
            "inner.zip/c=c",
            "problem OverLimit(Members(3))"
        ]
    );
}

#[test]
fn truncated_zip_is_corrupt() {
    let z = zip_of(&[("a.txt", b"alpha", Stored), ("b.txt", b"beta", Deflated)]);
    for cut in [4, 30, z.len() / 2, z.len() - 1] {
        assert_eq!(run(&z[..cut]), ["problem Corrupt"], "cut at {cut}");
    }
}

#[test]
fn gzip_member_named_by_fname_or_empty() {
    assert_eq!(run(&gz(b"hello", Some("report.txt"))), ["report.txt=hello"]);
    assert_eq!(run(&gz(b"hello", None)), ["=hello"]);
    assert_eq!(
        run(&gz(&vec![0; 2 << 20], None)),
        ["!OverLimit(Ratio(100))"]
    );
    let bad = gz(b"hello hello", Some("h"));
    assert_eq!(run(&bad[..bad.len() - 3]), ["problem Corrupt"]);
    // Nested, the broken gzip is the member that cannot be scanned.
    let z = zip_of(&[("inner.gz", &bad[..bad.len() - 3], Stored)]);
    assert_eq!(run(&z), ["inner.gz!Corrupt"]);
}

#[test]
fn gzip_names_come_from_the_first_member_and_latin1_is_read() {
    let mut both = gz(b"a", Some("a.txt"));
    both.extend_from_slice(&gz(b"b", Some("b.txt")));
    assert_eq!(run(&both), ["a.txt=ab"]);
    let mut latin1 = gz(b"x", Some("cafX.txt"));
    let at = latin1.iter().position(|&b| b == b'X').expect("placeholder");
    latin1[at] = 0xe9;
    assert_eq!(run(&latin1), ["café.txt=x"]);
}

#[test]
fn tar_files_and_tar_gz() {
    let big = "7".repeat(600); // spans two blocks
    let t = tar_of(&[
        ("dir/", b"", b'5'),
        ("dir/a", b"alpha", b'0'),
        ("b", big.as_bytes(), 0),
    ]);
    assert_eq!(run(&t), ["dir/a=alpha".to_owned(), format!("b={big}")]);
    assert_eq!(
        run(&gz(&t, Some("bundle.tar")))[0],
        "bundle.tar/dir/a=alpha"
    );
    assert_eq!(run(&gz(&t, None))[0], "dir/a=alpha");
    assert_eq!(
        run_with(&gz(&t, None), |l| l.max_depth = 1),
        ["!OverLimit(Depth(1))"]
    );
}

#[test]
fn tar_long_names_lone_zero_block_and_budget() {
    let long = "l/".repeat(80) + "x.txt";
    let pax = format!("{} path={long}\n", long.len() + 10); // 3 digits, space, "path=", \n
    let mut t = tar_of(&[("././@LongLink", b"gnu.txt\0", b'L'), ("short", b"g", b'0')]);
    t.truncate(t.len() - 1024);
    t.extend([0; 512]); // a lone zero block does not end the archive
    t.extend(tar_of(&[
        ("PaxHeader", pax.as_bytes(), b'x'),
        ("short", b"p", b'0'),
    ]));
    assert_eq!(run(&t), ["gnu.txt=g".to_owned(), format!("{long}=p")]);
    let e = run_with(&t, |l| l.max_total_bytes = 1);
    assert_eq!(e, ["gnu.txt=g", "problem OverLimit(TotalBytes(1))"]);
}

#[test]
fn tar_checksum_and_truncation() {
    let t = tar_of(&[("a.txt", b"alpha", b'0'), ("b.txt", b"beta", b'0')]);
    let mut bad = t.clone();
    bad[0] = b'A'; // first header: not recognised as a tar at all
    assert_eq!(
        (sniff(&bad), expand(&bad, &ArchiveLimits::default())),
        (None, None)
    );
    let mut bad = t.clone();
    bad[1024] = b'B'; // second header: what came before is kept
    assert_eq!(run(&bad), ["a.txt=alpha", "problem Corrupt"]);
    assert_eq!(
        run(&t[..1024 + 512 + 2]),
        ["a.txt=alpha", "problem Corrupt"]
    );
}

fn samples() -> Vec<Vec<u8>> {
    let inner = zip_of(&[("x.txt", &[b'x'; 3000], Deflated)]);
    let t = tar_of(&[("a.txt", b"alpha", b'0'), ("z", &[0; 5000], b'0')]);
    let z = zip_of(&[
        ("a", b"alpha", Stored),
        ("i.zip", &inner, Deflated),
        ("z", &[0; 5000], Deflated),
    ]);
    vec![z, gz(&t, Some("t.tar")), t]
}

proptest! {
    #[test]
    fn damaged_archives_never_panic_and_stay_in_budget(
        which in 0usize..3, cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let mut bytes = samples().swap_remove(which);
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= b;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let limits = ArchiveLimits { max_total_bytes: 8 << 10, max_ratio: 1000, ..Default::default() };
        if let Some(e) = expand(&bytes, &limits) {
            let len = |m: &Member| match &m.content {
                MemberContent::Bytes(b) | MemberContent::Unscannable { raw: b, .. } => b.len() as u64,
            };
            prop_assert!(e.members.iter().map(len).sum::<u64>() <= limits.max_total_bytes);
        }
    }

    #[test]
    fn random_bytes_never_panic(magic in 0usize..4, tail in prop::collection::vec(any::<u8>(), 0..1500)) {
        let mut bytes = [&b"PK\x03\x04"[..], b"PK\x05\x06", b"\x1f\x8b", b""][magic].to_vec();
        bytes.extend(tail);
        prop_assert!(prefix_rule_holds(&bytes));
        let _ = expand(&bytes, &ArchiveLimits::default());
    }

    #[test]
    fn no_archive_hides_behind_a_plain_prefix(
        which in 0usize..3,
        flips in prop::collection::vec((0usize..600, any::<u8>()), 0..6),
    ) {
        let mut bytes = samples().swap_remove(which);
        for (at, b) in flips {
            if let Some(x) = bytes.get_mut(at) {
                *x ^= b;
            }
        }
        prop_assert!(prefix_rule_holds(&bytes));
    }
}
