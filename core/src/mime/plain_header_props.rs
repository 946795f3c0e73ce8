//! The plain header reader ([`super::plain_header`]) held to mail-parser: on generated
//! header blocks, plain and not, an entity read with it has exactly the fields, body,
//! malformations and cost of one read by mail-parser alone; and the blocks real mail
//! software writes are plain, so the reader is used at all.

use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::plain_header;
use super::split::entity;
use super::{MimeLimits, header_parser};

/// Reads `block` + an empty line + a body both ways and asserts they agree; whether the
/// plain reader took the block.
fn agree(block: &[u8], limits: &MimeLimits) -> bool {
    agree_entity(&[block, b"\r\nbody\r\n"].concat(), limits)
}

/// What may follow the generated fields: the empty line and a body, mostly; else what
/// ends a block otherwise, or makes it no plain block.
const TAILS: &[&str] = &[
    "\r\nbody\r\n",
    "\r\nbody\r\n",
    "\nbody",
    "\r\n",
    "",
    "no header line\r\n\r\nbody",
    "no header line\r\nbody",
    "\r\r\nbody",
    ": no name\r\n\r\n",
    "Name With Space: x\r\n\r\n",
];

/// Reads `raw`, an entity, both ways and asserts they agree; whether the plain reader took
/// its header block.
fn agree_entity(raw: &[u8], limits: &MimeLimits) -> bool {
    let (mut fast_work, mut reference_work) = (1_000_000u64, 1_000_000u64);
    let fast = entity(
        header_parser(),
        true,
        raw,
        0..raw.len(),
        limits,
        &mut fast_work,
    );
    let reference = entity(
        header_parser(),
        false,
        raw,
        0..raw.len(),
        limits,
        &mut reference_work,
    );
    let text = String::from_utf8_lossy(raw);
    match (fast, reference) {
        (Ok(f), Ok(r)) => {
            assert_eq!(f.fields, r.fields, "fields of {text:?}");
            assert_eq!(f.body, r.body, "body of {text:?}");
            assert_eq!(f.header_syntax, r.header_syntax, "syntax of {text:?}");
        }
        (Err(f), Err(r)) => assert_eq!(f, r, "limit of {text:?}"),
        (f, r) => panic!(
            "{text:?}: plain reading {:?}, mail-parser {:?}",
            f.err(),
            r.err()
        ),
    }
    assert_eq!(fast_work, reference_work, "work charged for {text:?}");
    plain_header::read(raw, limits.max_header_bytes, &mut Default::default()).is_some()
}

/// Pieces of header fields, plain and not: each of the reader's refusals, and what
/// mail-parser reads in its own way.
const NAMES: &[&str] = &[
    "Content-Type",
    "content-TYPE",
    "Content-Disposition",
    "Content-Transfer-Encoding",
    "Content-ID",
    "Content-Description",
    "Content-Location",
    "Content-Typo",
    "Subject",
    "X-Mailer",
];
const TYPES: &[&str] = &[
    "text",
    "Text",
    "application",
    "multipart",
    "attachment",
    "inline",
    "",
    "te xt",
    "a*b",
    "x'y",
    "(c)text",
    "text ",
];
const SUBTYPES: &[&str] = &[
    "",
    "/plain",
    "/PDF",
    "/octet-stream",
    "/",
    "/ mixed",
    "/mixed ",
    "/a=b",
];
const SEPARATORS: &[&str] = &[
    "; ",
    ";",
    " ; ",
    ";\r\n\t",
    ";\r\n ",
    "\r\n ",
    " ",
    ";;",
    "; \r\n \r\n\t",
    ";\n ",
];
const PARAMETER_NAMES: &[&str] = &[
    "name",
    "filename",
    "Boundary",
    "charset",
    "file name",
    "name*",
    "name*0",
    "*",
    "",
];
const EQUALS: &[&str] = &["=", "=", "=", " = ", "= "];
const VALUES: &[&str] = &[
    "a.pdf",
    "\"a.pdf\"",
    "\"\"",
    "\"a b\"",
    "\"a;b=c\"",
    "\"=?utf-8?q?x?=\"",
    "\"a\\\"b\"",
    "\"O'x\"",
    "a/b",
    "\"a\r\n b\"",
    "(c)",
    "x(y)",
    "\"\u{e9}t\u{e9}.pdf\"",
    "a=b",
    "\"A.PDF\"",
    "abc  ",
    "\"x\"y",
    "\"a\tb\"",
    "",
    "\"----=_Part_1\"",
];
const ENCODINGS: &[&str] = &[
    " base64",
    "  base64  ",
    " BASE64",
    " 7bit (c)",
    "",
    " ",
    " =?x?q?y?=",
    " base64\r\n x",
    " quoted-printable",
    "base64",
];
const TEXTS: &[&str] = &[
    " <a@b>",
    " =?utf-8?q?caf=C3=A9?=",
    " plain words",
    " x\r\n\ty",
    "",
];

prop_compose! {
    /// One Content-Type or Content-Disposition value.
    fn parameter_value()(
        t in 0..TYPES.len(),
        st in 0..SUBTYPES.len(),
        params in prop::collection::vec(
            (0..SEPARATORS.len(), 0..PARAMETER_NAMES.len(), 0..EQUALS.len(), 0..VALUES.len()),
            0..4,
        ),
        trailing in prop::sample::select(vec!["", ";", " ", "; "]),
    ) -> String {
        let mut v = format!(" {}{}", TYPES[t], SUBTYPES[st]);
        for (s, n, e, x) in params {
            v += SEPARATORS[s];
            v += PARAMETER_NAMES[n];
            v += EQUALS[e];
            v += VALUES[x];
        }
        v + trailing
    }
}

prop_compose! {
    /// One header field, with its line end.
    fn field()(
        name in 0..NAMES.len(),
        parameters in parameter_value(),
        encoding in 0..ENCODINGS.len(),
        text in 0..TEXTS.len(),
        lf in prop::bool::weighted(0.1),
    ) -> String {
        let name = NAMES[name];
        let value = match name.to_ascii_lowercase().as_str() {
            "content-type" | "content-disposition" | "content-typo" => parameters,
            "content-transfer-encoding" => ENCODINGS[encoding].to_owned(),
            _ => TEXTS[text].to_owned(),
        };
        let field = format!("{name}:{value}\r\n");
        if lf { field.replace("\r\n", "\n") } else { field }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    #[test]
    fn plain_reading_agrees_with_mail_parser(
        fields in prop::collection::vec(field(), 1..6),
        tail in prop::sample::select(TAILS),
        mbox in prop::bool::weighted(0.05),
        limit in prop::sample::select(vec![0, 0, 0, 1, 2]),
    ) {
        let from = if mbox { "From alice@example.com Tue Nov 14 22:13:20 2023\r\n" } else { "" };
        let raw = [from, &fields.concat(), tail].concat();
        // Limits that a few blocks reach: two parameters, or 120 bytes of header.
        let limits = match limit {
            1 => MimeLimits { max_parameters: 2, ..MimeLimits::default() },
            2 => MimeLimits { max_header_bytes: 120, ..MimeLimits::default() },
            _ => MimeLimits::default(),
        };
        agree_entity(raw.as_bytes(), &limits);
    }
}

#[test]
fn the_generated_blocks_are_often_plain_and_often_not() {
    // Else the property above compares little: the two readings must both be exercised.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(field(), 1..6);
    let (mut plain, mut not) = (0, 0);
    for _ in 0..2000 {
        let block = strategy
            .new_tree(&mut runner)
            .expect("a block")
            .current()
            .concat();
        if agree(block.as_bytes(), &MimeLimits::default()) {
            plain += 1;
        } else {
            not += 1;
        }
    }
    assert!(plain > 200 && not > 200, "{plain} plain, {not} not");
}

#[test]
fn what_mail_software_writes_is_plain() {
    let blocks: &[&str] = &[
        // Thunderbird: the boundary on a folded line.
        "Content-Type: multipart/mixed;\r\n boundary=\"------------0F2A6B1C9D\"\r\n",
        "Content-Type: application/pdf; name=\"report.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n",
        // Outlook: size and dates as parameters, folded with tabs.
        "Content-Type: application/vnd.ms-excel; name=\"Q3 figures.xls\"\r\n\
         Content-Description: Q3 figures.xls\r\n\
         Content-Disposition: attachment; filename=\"Q3 figures.xls\"; size=23552;\r\n\
         \tcreation-date=\"Tue, 14 Nov 2023 22:13:20 GMT\";\r\n\
         \tmodification-date=\"Tue, 14 Nov 2023 22:13:20 GMT\"\r\n\
         Content-Transfer-Encoding: base64\r\n",
        // Gmail: a content ID and a header of its own.
        "Content-Type: image/png; name=\"image001.png\"\r\n\
         Content-Disposition: attachment; filename=\"image001.png\"\r\n\
         Content-Transfer-Encoding: base64\r\nContent-ID: <f_lx1a2b3c0>\r\n\
         X-Attachment-Id: f_lx1a2b3c0\r\n",
        // A top-level block, encoded words outside the MIME fields.
        "From: \"Alice\" <alice@example.com>\r\nTo: bob@example.net\r\n\
         Subject: =?UTF-8?B?w6lsw6h2ZQ==?=\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"----=_Part_0_1234.5678\"\r\n",
        // UTF-8 in a quoted file name, as Apple Mail and many webmails send it.
        "Content-Type: text/csv; charset=utf-8; name=\"\u{e9}t\u{e9}.csv\"\r\n",
        // Bare LF line ends.
        "Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n",
    ];
    for block in blocks {
        assert!(
            agree(block.as_bytes(), &MimeLimits::default()),
            "not read as plain: {block:?}"
        );
    }
}

#[test]
fn names_a_byte_away_from_a_mime_field_are_told_apart_as_mail_parser_does() {
    // The plain reader compares the `content-` of a name eight bytes at a time: every
    // printable byte in every place of every MIME field name, and the names in other
    // cases, must still be read as mail-parser reads them.
    let names = [
        "Content-Type",
        "Content-Disposition",
        "Content-Transfer-Encoding",
        "Content-ID",
        "Content-Description",
        "Content-Location",
    ];
    let mut plain = 0;
    for name in names {
        let variants = [name.to_owned(), name.to_uppercase(), name.to_lowercase()];
        for variant in &variants {
            for at in 0..variant.len() {
                for b in (33u8..=126).filter(|&b| b != b':') {
                    let mut n = variant.as_bytes().to_vec();
                    n[at] = b;
                    let block = [&n[..], b": application/pdf; name=\"a.pdf\"\r\n"].concat();
                    plain += usize::from(agree(&block, &MimeLimits::default()));
                }
            }
        }
    }
    // Most of them are plain blocks (all but the transfer encodings with this value).
    assert!(plain > 10_000, "{plain} plain");
}
