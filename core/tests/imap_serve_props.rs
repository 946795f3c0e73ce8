//! I6 as properties of `FetchResponse::serve_from` and the section functions, on the forms
//! real clients use (reference/IMAP.md): Thunderbird's chunks, K-9's BODYSTRUCTURE then
//! sections, fetchmail's RFC822.HEADER then TEXT; a served copy holding NUL; and arbitrary
//! messages, which never make it panic and always come out consistent.

mod imap_fixtures;

use aptsim_core::imap::{
    BinaryError, ClientCommand, ContentFetch, FetchRequest, FetchResponse, SectionSpec, ServeError,
    ServerResponse, binary_bytes, bodystructure, fetch_content, partial, section_bytes,
};
use imap_codec::imap_types::body::{BodyStructure, SpecificFields};
use imap_fixtures::{crlf, message_lf};
use proptest::prelude::*;

fn request(items: &str) -> FetchRequest {
    let line = format!("T UID FETCH 9 ({items})\r\n");
    match fetch_content(&ClientCommand::from_bytes(line.into_bytes())) {
        ContentFetch::Fetch(request) => request,
        other => panic!("{items}: {other:?}"),
    }
}

/// Serves `message` into a server response `* 1 FETCH (items)`, returns the bytes sent.
fn serve(response: &str, items: &str, message: &[u8]) -> Result<Vec<u8>, ServeError> {
    let raw = ServerResponse::from_bytes(response.as_bytes().to_vec());
    let mut parsed = match raw.fetch() {
        Some(Ok(parsed)) => parsed,
        other => panic!("{response:?}: {other:?}"),
    };
    parsed.serve_from(message, &request(items))?;
    Ok(parsed.encode())
}

/// The content items of a response the proxy sends, read back as a client reads them.
fn read_back(sent: &[u8]) -> (Option<u32>, Vec<Vec<u8>>) {
    let response = ServerResponse::from_bytes(sent.to_vec());
    let parsed: FetchResponse<'_> = match response.fetch() {
        Some(Ok(parsed)) => parsed,
        other => panic!("the served response does not parse: {other:?}"),
    };
    let data = parsed
        .content()
        .iter()
        .map(|c| c.data.unwrap_or_default().to_vec())
        .collect();
    (parsed.rfc822_size(), data)
}

fn section(message: &[u8], part: &[u32]) -> Vec<u8> {
    let spec = SectionSpec {
        part: part.to_vec(),
        text: None,
    };
    section_bytes(message, &spec)
        .map(|c| c.into_owned())
        .unwrap_or_default()
}

/// Every part's size (and lines) in BODYSTRUCTURE is that of the BODY[part] served.
fn structure_agrees(structure: &BodyStructure<'_>, message: &[u8]) -> Result<(), String> {
    fn children(s: &BodyStructure<'_>, path: &[u32], m: &[u8]) -> Result<(), String> {
        match s {
            BodyStructure::Multi { bodies, .. } => {
                for (i, child) in bodies.as_ref().iter().enumerate() {
                    let mut p = path.to_vec();
                    p.push(u32::try_from(i + 1).unwrap_or(u32::MAX));
                    part(child, &p, m)?;
                }
                Ok(())
            }
            single => {
                let mut p = path.to_vec();
                p.push(1);
                part(single, &p, m)
            }
        }
    }
    fn part(s: &BodyStructure<'_>, path: &[u32], m: &[u8]) -> Result<(), String> {
        let BodyStructure::Single { body, .. } = s else {
            return children(s, path, m);
        };
        let bytes = section(m, path);
        let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u32;
        if body.basic.size as usize != bytes.len() {
            return Err(format!(
                "{path:?}: size {} vs {} bytes",
                body.basic.size,
                bytes.len()
            ));
        }
        match &body.specific {
            SpecificFields::Text {
                number_of_lines, ..
            } if *number_of_lines != lines => {
                Err(format!("{path:?}: {number_of_lines} lines vs {lines}"))
            }
            SpecificFields::Message {
                body_structure,
                number_of_lines,
                ..
            } => {
                if *number_of_lines != lines {
                    return Err(format!("{path:?}: {number_of_lines} lines vs {lines}"));
                }
                children(body_structure, path, m)
            }
            _ => Ok(()),
        }
    }
    children(structure, &[], message)
}

#[test]
fn thunderbird_chunks_add_up_to_the_served_message_and_its_size() {
    let copy = crlf(&message_lf("mixed-base64.drop"));
    let chunk = 100u32;
    let mut got = Vec::new();
    let mut size = None;
    for n in 0.. {
        let start = n * chunk;
        let items = format!("UID RFC822.SIZE BODY[]<{start}.{chunk}>");
        // The server's response is for the original (longer) message: any bytes will do.
        let response =
            format!("* 1 FETCH (UID 9 RFC822.SIZE 5000 BODY[]<{start}> {{3}}\r\nabc)\r\n");
        let (rfc822_size, data) = read_back(&serve(&response, &items, &copy).expect("served"));
        size = rfc822_size;
        got.extend_from_slice(&data[0]);
        // A literal shorter than asked ends Thunderbird's download.
        if data[0].len() < chunk as usize {
            break;
        }
    }
    assert_eq!(got, copy);
    assert_eq!(size, Some(copy.len() as u32));
}

#[test]
fn k9_sections_match_the_bodystructure_it_was_given() {
    for name in [
        "mixed-base64.drop",
        "rfc822-attached.drop",
        "alternative-in-mixed.deny",
    ] {
        let copy = crlf(&message_lf(name));
        structure_agrees(&bodystructure(&copy), &copy).unwrap_or_else(|e| panic!("{name}: {e}"));
        let response = "* 1 FETCH (UID 9 BODY[2] {3}\r\nabc BODY[1]<0> {3}\r\nabc)\r\n";
        let (_, data) = read_back(
            &serve(response, "UID BODY.PEEK[2] BODY.PEEK[1]<0.9>", &copy).expect("served"),
        );
        assert_eq!(data[0], section(&copy, &[2]), "{name}");
        assert_eq!(data[1], partial(&section(&copy, &[1]), 0, 9), "{name}");
    }
}

#[test]
fn fetchmail_header_then_text_is_the_whole_message() {
    let copy = crlf(&message_lf("plain.deny"));
    let response = "* 1 FETCH (RFC822.HEADER {3}\r\nabc BODY[TEXT] {3}\r\nabc RFC822.SIZE 3)\r\n";
    let (size, data) = read_back(
        &serve(response, "RFC822.HEADER BODY.PEEK[TEXT] RFC822.SIZE", &copy).expect("served"),
    );
    assert_eq!([data[0].clone(), data[1].clone()].concat(), copy);
    assert_eq!(size, Some(copy.len() as u32));
}

#[test]
fn nul_in_a_served_copy_is_sent_as_0x80_in_body_and_as_is_in_binary() {
    let copy = crlf(&message_lf("nul.drop"));
    assert!(copy.contains(&0));
    let response = "* 1 FETCH (BODY[] {3}\r\nabc BINARY[1] {3}\r\nabc RFC822.SIZE 3)\r\n";
    let sent = serve(response, "BODY.PEEK[] BINARY.PEEK[1] RFC822.SIZE", &copy).expect("served");
    assert!(
        sent.windows(4).any(|w| w == b"~{12"),
        "BINARY[1] with NUL is a literal8"
    );
    let (size, data) = read_back(&sent);
    let expected: Vec<u8> = copy
        .iter()
        .map(|&b| if b == 0 { 0x80 } else { b })
        .collect();
    assert_eq!(data[0], expected);
    assert_eq!(size, Some(data[0].len() as u32));
    assert_eq!(data[1], b"before\0after");
}

#[test]
fn a_partial_answer_nobody_asked_for_is_an_error() {
    let copy = crlf(&message_lf("plain"));
    let result = serve(
        "* 1 FETCH (BODY[]<7> {3}\r\nabc)\r\n",
        "BODY.PEEK[]<0.10>",
        &copy,
    );
    assert_eq!(
        result,
        Err(ServeError::UnmatchedPartial {
            item: "BODY[]".to_owned(),
            origin: 7
        })
    );
}

#[test]
fn answers_find_their_request_items_by_section_and_origin() {
    let copy = crlf(&message_lf("mixed-base64.drop"));
    let body = section(&copy, &[1]);
    // The same section whole and as a range, asked in one order and answered in the other.
    let response = "* 1 FETCH (BODY[1] {1}\r\nx BODY[1]<4> {1}\r\nx)\r\n";
    let (_, data) =
        read_back(&serve(response, "BODY.PEEK[1]<4.6> BODY.PEEK[1]", &copy).expect("served"));
    assert_eq!(data, vec![body.clone(), partial(&body, 4, 6).to_vec()]);
    // A server that leaves out the origin of a range still gets the range served.
    let (_, data) = read_back(
        &serve(
            "* 1 FETCH (BODY[1] {1}\r\nx)\r\n",
            "BODY.PEEK[1]<4.6>",
            &copy,
        )
        .expect("served"),
    );
    assert_eq!(data, vec![partial(&body, 4, 6).to_vec()]);
}

#[test]
fn binary_of_an_undecodable_part_is_an_error_naming_it() {
    let copy = crlf(&message_lf("odd-structure"));
    let result = serve(
        "* 1 FETCH (BINARY[4] {3}\r\nabc)\r\n",
        "BINARY.PEEK[4]",
        &copy,
    );
    assert!(
        matches!(
            result,
            Err(ServeError::Binary(BinaryError::UnknownCte { ref encoding, .. })) if encoding == "x-uuencode"
        ),
        "{result:?}"
    );
}

/// What the proptest asks for, and a response of the same shape from a server.
const ITEMS: &str = "UID RFC822.SIZE BODY[] BODY[]<3.17> BODY[1]<0.5> BODY[2.MIME] \
    BODY[1.HEADER.FIELDS (From)] BODY[HEADER] RFC822.TEXT BODYSTRUCTURE BODY ENVELOPE";
const RESPONSE: &str = "* 1 FETCH (UID 9 RFC822.SIZE 1 BODY[] {1}\r\nx BODY[]<3> {1}\r\nx \
    BODY[1]<0> {1}\r\nx BODY[2.MIME] {1}\r\nx BODY[1.HEADER.FIELDS (FROM)] {1}\r\nx \
    BODY[HEADER] {1}\r\nx RFC822.TEXT {1}\r\nx \
    BODYSTRUCTURE (\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1 NIL NIL NIL NIL) \
    BODY (\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1) \
    ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))\r\n";
const BINARY_ITEMS: &str = "BINARY[1] BINARY.SIZE[1] BINARY[2]<1.3> BINARY[]";
const BINARY_RESPONSE: &str =
    "* 1 FETCH (BINARY[1] ~{1}\r\nx BINARY.SIZE[1] 1 BINARY[2] {1}\r\nx BINARY[] {1}\r\nx)\r\n";

fn mime_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"Content-Type: multipart/mixed; boundary=b\r\n".to_vec()),
        Just(b"Content-Type: multipart/alternative; boundary=\"bc\"\r\n".to_vec()),
        Just(b"Content-Type: multipart/digest; boundary=b\n".to_vec()),
        Just(b"Content-Type: message/rfc822\r\n".to_vec()),
        Just(b"Content-Type: text/plain; name*0*=utf-8''a%20; name*1=b\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: quoted-printable\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: x-unknown\r\n".to_vec()),
        Just(b"Content-Disposition: attachment; filename=\"a\\\"b\"\r\n".to_vec()),
        Just(b"MIME-Version: 1.0\r\n".to_vec()),
        Just(b"From: \"A\" <a@b>, G: c@d, (x) e;\r\n".to_vec()),
        Just(b"Subject: =?utf-8?q?x?=\r\n \t folded\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"--b\r\n".to_vec()),
        Just(b"--b--\r\n".to_vec()),
        Just(b"--bc\r\n".to_vec()),
        Just(b"--bc--\n".to_vec()),
        Just(b"aGVsbG8=\r\n".to_vec()),
        Just(b"=3D=\r\nx=\r".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..24),
    ]
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec(mime_piece(), 0..40).prop_map(|p| p.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Any message: serving never fails for the content items, the response parses back, its
    /// RFC822.SIZE is the length of its BODY[], the partials are cuts of their sections, and
    /// BODYSTRUCTURE's sizes and lines are those of the sections served.
    #[test]
    fn serving_any_message_is_consistent(message in message()) {
        let sent = serve(RESPONSE, ITEMS, &message).expect("content items never fail");
        let (size, data) = read_back(&sent);
        prop_assert_eq!(size, Some(data[0].len() as u32));
        prop_assert_eq!(data[0].len(), message.len());
        prop_assert_eq!(&data[1], &partial(&data[0], 3, 17).to_vec());
        let first: Vec<u8> = section(&message, &[1]);
        prop_assert_eq!(&data[2], &partial(&first, 0, 5).to_vec());
        prop_assert!(structure_agrees(&bodystructure(&message), &message).is_ok(),
            "{:?}", structure_agrees(&bodystructure(&message), &message));
    }

    /// BINARY items: served, or refused with the error `binary_bytes` gives for that part.
    #[test]
    fn binary_is_served_or_refused_as_binary_bytes_says(message in message()) {
        match serve(BINARY_RESPONSE, BINARY_ITEMS, &message) {
            Ok(sent) => {
                let (_, data) = read_back(&sent);
                let one = binary_bytes(&message, &[1]).expect("decodable").unwrap_or_default();
                prop_assert_eq!(&data[0], &one);
            }
            Err(ServeError::Binary(error)) => {
                let errors: Vec<BinaryError> = [&[1][..], &[2], &[]]
                    .iter()
                    .filter_map(|p| binary_bytes(&message, p).err())
                    .collect();
                prop_assert!(errors.contains(&error), "{:?} not in {:?}", error, errors);
            }
            Err(other) => prop_assert!(false, "{}", other),
        }
    }
}

/// Nesting past Dovecot's limit (100 levels) is cut where Dovecot cuts it: the structure
/// stays finite and consistent, and nothing recurses without bound. (The boundaries are no
/// prefixes of each other: with `b1` and `b10`, Dovecot's prefix match would end parts
/// early and make a bushier tree.)
#[test]
fn deep_nesting_stops_at_dovecots_limit() {
    let depth = 3000;
    let mut message = Vec::new();
    for level in 0..depth {
        message.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{level}x\r\n\r\n--b{level}x\r\n")
                .as_bytes(),
        );
    }
    message.extend_from_slice(b"Content-Type: text/plain\r\n\r\nleaf\r\n");
    for level in (0..depth).rev() {
        message.extend_from_slice(format!("--b{level}x--\r\n").as_bytes());
    }
    fn levels(s: &BodyStructure<'_>) -> usize {
        match s {
            BodyStructure::Multi { bodies, .. } => {
                1 + bodies.as_ref().iter().map(levels).max().unwrap_or(0)
            }
            BodyStructure::Single { .. } => 1,
        }
    }
    let structure = bodystructure(&message);
    assert!(levels(&structure) <= 100, "{} levels", levels(&structure));
    structure_agrees(&structure, &message).expect("consistent");
    // imap-codec reads no BODYSTRUCTURE nested deeper than its recursion limit (8), so the
    // response is checked as text.
    let sent = serve(RESPONSE, ITEMS, &message).expect("served");
    let size = format!("RFC822.SIZE {} ", message.len());
    assert!(sent.windows(size.len()).any(|w| w == size.as_bytes()));
}
