//! The IMAP wire layer: framing with literals split anywhere, continuations, size bounds, every
//! FETCH form real clients send (reference/IMAP.md), FETCH responses re-serialised, and hostile
//! bytes that never panic.

use aptsim_core::imap::{
    ClientCommand, CommandEvent, CommandReader, ContentFetch, ContentItem, FetchRequest, ItemName,
    Partial, ResponseKind, ResponseReader, SectionSpec, SectionText, SeqBound, SeqRange,
    ServerResponse, WireError, WireLimits, fetch_content,
};
use proptest::prelude::*;

/// Feeds `bytes` in the given chunks and collects every event (an error ends the list).
fn read_commands(chunks: &[&[u8]], limits: WireLimits) -> Vec<Result<CommandEvent, WireError>> {
    let mut reader = CommandReader::new(limits);
    let mut events = Vec::new();
    for chunk in chunks {
        reader.push(chunk);
        loop {
            match reader.next_event() {
                Ok(Some(event)) => events.push(Ok(event)),
                Ok(None) => break,
                Err(error) => {
                    let recoverable = error.is_recoverable();
                    events.push(Err(error));
                    if !recoverable {
                        return events;
                    }
                }
            }
        }
    }
    events
}

fn request(line: &str) -> FetchRequest {
    match fetch_content(&ClientCommand::from_bytes(line)) {
        ContentFetch::Fetch(request) => request,
        other => panic!("{line:?} gave {other:?}"),
    }
}

fn whole(name: ItemName, peek: bool) -> ContentItem {
    ContentItem {
        name,
        section: SectionSpec::default(),
        partial: None,
        peek,
    }
}

fn section(part: &[u32], text: Option<SectionText>) -> SectionSpec {
    SectionSpec {
        part: part.to_vec(),
        text,
    }
}

fn one(n: u32) -> SeqRange {
    SeqRange {
        first: SeqBound::Number(n),
        last: SeqBound::Number(n),
    }
}

#[test]
fn thunderbird_opens_a_message_by_uid() {
    let r = request("5 UID fetch 4711 (UID RFC822.SIZE BODY[])\r\n");
    assert!(r.uid);
    assert_eq!(r.tag, "5");
    assert_eq!(r.messages, vec![one(4711)]);
    assert_eq!(r.content, vec![whole(ItemName::Body, false)]);
    assert!(r.content[0].section.is_whole_message());
}

#[test]
fn thunderbird_chunked_partial_and_offline_sync() {
    let r = request("6 UID fetch 12 (UID RFC822.SIZE BODY[]<65536.65536>)\r\n");
    let partial = Some(Partial {
        offset: 65536,
        length: 65536,
    });
    assert_eq!(
        r.content,
        vec![ContentItem {
            partial,
            ..whole(ItemName::Body, false)
        }]
    );

    let r = request("7 UID fetch 3,5:9,12 (UID RFC822.SIZE BODY.PEEK[])\r\n");
    assert_eq!(
        r.messages,
        vec![
            one(3),
            SeqRange {
                first: SeqBound::Number(5),
                last: SeqBound::Number(9)
            },
            one(12)
        ]
    );
    assert_eq!(r.content, vec![whole(ItemName::Body, true)]);
}

#[test]
fn thunderbird_new_mail_preview_has_two_content_items() {
    let r = request(
        "8 UID fetch 20 (UID BODY.PEEK[HEADER.FIELDS (Content-Type Content-Transfer-Encoding)] \
         BODY.PEEK[TEXT]<0.2048>)\r\n",
    );
    let fields = vec![
        "Content-Type".to_owned(),
        "Content-Transfer-Encoding".to_owned(),
    ];
    assert_eq!(r.content.len(), 2);
    assert_eq!(
        r.content[0].section,
        section(&[], Some(SectionText::HeaderFields(fields)))
    );
    assert_eq!(r.content[1].section, section(&[], Some(SectionText::Text)));
    assert_eq!(
        r.content[1].partial,
        Some(Partial {
            offset: 0,
            length: 2048
        })
    );
    assert!(r.content.iter().all(|item| item.peek));
}

#[test]
fn k9_batches_sections_and_partials() {
    let r = request("9 UID FETCH 101,102,103 (UID BODY.PEEK[])\r\n");
    assert_eq!(r.messages.len(), 3);
    assert_eq!(r.content, vec![whole(ItemName::Body, true)]);

    let r = request("10 UID FETCH 104 (UID BODY.PEEK[2])\r\n");
    assert_eq!(r.content[0].section, section(&[2], None));
    let r = request("11 UID FETCH 104 (UID BODY[2.1] BODY.PEEK[3.MIME])\r\n");
    assert_eq!(r.content[0].section, section(&[2, 1], None));
    assert!(!r.content[0].peek);
    assert_eq!(r.content[1].section, section(&[3], Some(SectionText::Mime)));
    let r = request("12 UID FETCH 104 (UID BODY.PEEK[]<0.65536>)\r\n");
    assert_eq!(
        r.content[0].partial,
        Some(Partial {
            offset: 0,
            length: 65536
        })
    );
    assert!(r.content[0].section.is_whole_message());
}

#[test]
fn binary_forms() {
    let r = request("13 UID FETCH 7 (BINARY[] BINARY.PEEK[3] BINARY[2.1]<0.100>)\r\n");
    assert_eq!(r.content[0], whole(ItemName::Binary, false));
    assert_eq!(
        r.content[1],
        ContentItem {
            section: section(&[3], None),
            ..whole(ItemName::Binary, true)
        }
    );
    assert_eq!(r.content[2].section, section(&[2, 1], None));
    assert_eq!(
        r.content[2].partial,
        Some(Partial {
            offset: 0,
            length: 100
        })
    );
    // BINARY.SIZE returns a number, not content.
    assert!(!request("14 FETCH 1 (BINARY.SIZE[3])\r\n").asks_for_content());
}

#[test]
fn outlook_rfc822_forms_including_peek() {
    let r = request("15 UID fetch 39 (UID RFC822.SIZE RFC822.peek)\r\n");
    assert_eq!(r.content, vec![whole(ItemName::Rfc822, true)]);
    let r = request("16 FETCH 2 RFC822\r\n");
    assert_eq!(r.content, vec![whole(ItemName::Rfc822, false)]);
    let r = request("17 UID FETCH 39 (UID BODY.PEEK[HEADER])\r\n");
    assert_eq!(
        r.content[0].section,
        section(&[], Some(SectionText::Header))
    );
}

#[test]
fn fetchmail_by_sequence_number() {
    assert!(!request("a1 FETCH 1 RFC822.SIZE\r\n").asks_for_content());
    let r = request("a2 FETCH 1 RFC822.HEADER\r\n");
    assert_eq!(r.content[0].name, ItemName::Rfc822);
    assert_eq!(
        r.content[0].section,
        section(&[], Some(SectionText::Header))
    );
    let r = request("a3 FETCH 1 BODY.PEEK[TEXT]\r\n");
    assert!(!r.uid);
    assert_eq!(r.content[0].section, section(&[], Some(SectionText::Text)));
}

#[test]
fn mbsync_and_offlineimap_listing_and_bodies() {
    let r = request(
        "12 UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (X-TUID MESSAGE-ID)])\r\n",
    );
    assert_eq!(
        r.messages,
        vec![SeqRange {
            first: SeqBound::Number(1),
            last: SeqBound::Last
        }]
    );
    assert_eq!(r.content.len(), 1);
    let r = request("13 UID FETCH 42 (FLAGS INTERNALDATE BODY.PEEK[])\r\n");
    assert_eq!(r.content, vec![whole(ItemName::Body, true)]);
    assert!(!request("14 FETCH 1:100 (FLAGS UID INTERNALDATE)\r\n").asks_for_content());
    assert!(!request("15 FETCH 1:* (UID ENVELOPE BODYSTRUCTURE BODY)\r\n").asks_for_content());
    assert!(!request("16 FETCH * FAST\r\n").asks_for_content());
}

#[test]
fn not_fetch_and_unknown_forms() {
    for line in [
        "a LOGIN u p\r\n",
        "b UID STORE 1 +FLAGS (\\Seen)\r\n",
        "DONE\r\n",
        "\r\n",
    ] {
        assert_eq!(
            fetch_content(&ClientCommand::from_bytes(line)),
            ContentFetch::NotFetch
        );
    }
    // Forms imap-codec cannot parse are unknown: fetched whole or refused, never passed through.
    for line in [
        "c UID fetch 1 (XSENDER UID RFC822.SIZE BODY[])\r\n",
        "d FETCH 1 (BODY[2.X])\r\n",
        "e FETCH 1 (BODY[]<0>)\r\n",
        "f fetch\r\n",
    ] {
        let got = fetch_content(&ClientCommand::from_bytes(line));
        assert!(
            matches!(got, ContentFetch::Unknown { .. }),
            "{line:?} gave {got:?}"
        );
    }
}

const LITERAL_LOGIN: &[u8] =
    b"A1 LOGIN {5}\r\nal\r\ne {3+}\r\npw!\r\nA2 UID FETCH 1:* (BODY.PEEK[])\r\n";

#[test]
fn literals_split_at_every_boundary_give_the_same_result() {
    let whole = read_commands(&[LITERAL_LOGIN], WireLimits::default());
    assert_eq!(
        whole,
        vec![
            Ok(CommandEvent::SendContinuation {
                tag: Some("A1".to_owned())
            }),
            Ok(CommandEvent::Command(ClientCommand::from_bytes(
                &b"A1 LOGIN {5}\r\nal\r\ne {3+}\r\npw!\r\n"[..]
            ))),
            Ok(CommandEvent::Command(ClientCommand::from_bytes(
                &b"A2 UID FETCH 1:* (BODY.PEEK[])\r\n"[..]
            ))),
        ]
    );
    for i in 0..=LITERAL_LOGIN.len() {
        for j in i..=LITERAL_LOGIN.len() {
            let chunks = [
                &LITERAL_LOGIN[..i],
                &LITERAL_LOGIN[i..j],
                &LITERAL_LOGIN[j..],
            ];
            assert_eq!(
                read_commands(&chunks, WireLimits::default()),
                whole,
                "split at {i}, {j}"
            );
        }
    }
}

#[test]
fn continuation_comes_once_the_announcing_line_ends() {
    let mut reader = CommandReader::new(WireLimits::default());
    reader.push(b"A3 APPEND INBOX {11}");
    assert_eq!(reader.next_event(), Ok(None));
    reader.push(b"\r\n");
    assert_eq!(
        reader.next_event(),
        Ok(Some(CommandEvent::SendContinuation {
            tag: Some("A3".to_owned())
        }))
    );
    reader.push(b"Hello");
    assert_eq!(reader.next_event(), Ok(None));
    reader.push(b" world\r\n");
    let Ok(Some(CommandEvent::Command(command))) = reader.next_event() else {
        panic!("no command")
    };
    assert_eq!(command.raw(), b"A3 APPEND INBOX {11}\r\nHello world\r\n");
    assert_eq!(command.tag(), Some("A3"));
}

#[test]
fn literal_plus_needs_no_continuation() {
    let events = read_commands(
        &[b"A4 LOGIN {5+}\r\nalice {2+}\r\npw\r\n"],
        WireLimits::default(),
    );
    assert_eq!(
        events,
        vec![Ok(CommandEvent::Command(ClientCommand::from_bytes(
            &b"A4 LOGIN {5+}\r\nalice {2+}\r\npw\r\n"[..]
        )))]
    );
}

#[test]
fn literal_bytes_are_never_read_as_commands() {
    let bytes = b"A5 APPEND INBOX {19+}\r\nA6 LOGOUT\r\n{99}\r\n!!\r\nA7 NOOP\r\n";
    let events = read_commands(&[bytes], WireLimits::default());
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[1],
        Ok(CommandEvent::Command(ClientCommand::from_bytes(
            &b"A7 NOOP\r\n"[..]
        )))
    );
}

fn small() -> WireLimits {
    WireLimits {
        max_line: 40,
        max_literal: 10,
        max_message: 100,
    }
}

#[test]
fn oversized_line_is_a_final_error() {
    let long = [b'x'; 41];
    let events = read_commands(&[&long], small());
    assert_eq!(
        events,
        vec![Err(WireError::LineTooLong {
            seen: 41,
            limit: 40
        })]
    );
    let mut reader = CommandReader::new(small());
    reader.push(&long);
    assert!(reader.next_event().is_err());
    reader.push(b"\r\nA1 NOOP\r\n");
    assert!(reader.next_event().is_err(), "the error repeats");
}

#[test]
fn oversized_synchronising_literal_is_refused_and_reading_goes_on() {
    let events = read_commands(&[b"A1 APPEND INBOX {11}\r\nA2 NOOP\r\n"], small());
    assert_eq!(
        events,
        vec![
            Err(WireError::LiteralTooLarge {
                announced: 11,
                limit: 10,
                synchronising: true,
                tag: Some("A1".to_owned())
            }),
            Ok(CommandEvent::Command(ClientCommand::from_bytes(
                &b"A2 NOOP\r\n"[..]
            ))),
        ]
    );
}

#[test]
fn oversized_literal_plus_and_message_are_final() {
    let events = read_commands(&[b"A1 APPEND INBOX {11+}\r\n"], small());
    assert_eq!(
        events,
        vec![Err(WireError::LiteralTooLarge {
            announced: 11,
            limit: 10,
            synchronising: false,
            tag: Some("A1".to_owned())
        })]
    );
    let many = b"A1 LOGIN {10+}\r\n0123456789 {10+}\r\n0123456789 {10+}\r\n0123456789 {10+}\r\n0123456789 {10+}\r\n0123456789 {10+}\r\n0123456789\r\n";
    let events = read_commands(&[many], small());
    assert_eq!(events, vec![Err(WireError::MessageTooLarge { limit: 100 })]);
}

/// A Dovecot answer to Thunderbird's message open, as Dovecot writes it.
const FETCH_RESPONSE: &[u8] =
    b"* 3 FETCH (UID 4711 RFC822.SIZE 25 BODY[] {25}\r\nSubject: hi\r\n\r\nHello!\r\n\r\n)\r\n";

#[test]
fn server_fetch_response_is_parsed_and_reserialised_byte_identically() {
    let stream = [FETCH_RESPONSE, b"5 OK Fetch completed.\r\n"].concat();
    for split in 0..=stream.len() {
        let mut reader = ResponseReader::new(WireLimits::default());
        let mut responses = Vec::new();
        for chunk in [&stream[..split], &stream[split..]] {
            reader.push(chunk);
            while let Some(response) = reader.next_response().expect("within limits") {
                responses.push(response);
            }
        }
        assert_eq!(responses.len(), 2, "split at {split}");
        assert_eq!(responses[0].raw(), FETCH_RESPONSE);
        assert_eq!(responses[1].kind(), ResponseKind::Tagged("5".to_owned()));
    }
    let response = ServerResponse::from_bytes(FETCH_RESPONSE);
    assert_eq!(response.kind(), ResponseKind::Untagged);
    let fetch = response.fetch().expect("a FETCH").expect("parses");
    assert_eq!(
        (fetch.seq(), fetch.uid(), fetch.rfc822_size()),
        (3, Some(4711), Some(25))
    );
    let content = fetch.content();
    assert_eq!(content.len(), 1);
    assert_eq!(
        content[0].data,
        Some(&b"Subject: hi\r\n\r\nHello!\r\n\r\n"[..])
    );
    assert_eq!(fetch.encode(), FETCH_RESPONSE);
}

#[test]
fn server_fetch_response_with_a_replaced_literal_and_size() {
    let response = ServerResponse::from_bytes(FETCH_RESPONSE);
    let mut fetch = response.fetch().expect("a FETCH").expect("parses");
    let index = fetch.content()[0].index;
    fetch
        .replace_content(index, b"Subject: hi\r\n\r\nGone\r\n".to_vec())
        .expect("content item");
    assert!(fetch.set_rfc822_size(21));
    assert_eq!(
        fetch.encode(),
        b"* 3 FETCH (UID 4711 RFC822.SIZE 21 BODY[] {21}\r\nSubject: hi\r\n\r\nGone\r\n)\r\n"
    );
    assert!(
        fetch.replace_content(0, Vec::new()).is_err(),
        "UID is not content"
    );
}

#[test]
fn server_partial_section_and_binary_responses() {
    let raw = b"* 1 FETCH (BODY[2]<0> {4}\r\nabcd BINARY[3] ~{3}\r\nx\0y)\r\n";
    let response = ServerResponse::from_bytes(&raw[..]);
    let fetch = response.fetch().expect("a FETCH").expect("parses");
    let content = fetch.content();
    assert_eq!(content[0].section, section(&[2], None));
    assert_eq!(content[0].origin, Some(0));
    assert_eq!(content[1].name, ItemName::Binary);
    assert_eq!(content[1].data, Some(&b"x\0y"[..]));
    assert_eq!(fetch.encode(), raw);
    // Dovecot adds `<o>` to a partial BINARY reply, which RFC 3516's grammar (and imap-codec)
    // does not allow: such a FETCH is reported unparseable, for the session to refuse.
    let dovecot = ServerResponse::from_bytes(&b"* 1 FETCH (BINARY[1]<0> {3}\r\nabc)\r\n"[..]);
    assert!(matches!(dovecot.fetch(), Some(Err(_))));
    // A continuation request is its own kind.
    assert_eq!(
        ServerResponse::from_bytes(&b"+ idling\r\n"[..]).kind(),
        ResponseKind::Continuation
    );
}

#[test]
fn server_literal_over_the_limit_is_final() {
    let mut reader = ResponseReader::new(small());
    reader.push(b"* 1 FETCH (BODY[] {11}\r\n");
    assert!(matches!(
        reader.next_response(),
        Err(WireError::LiteralTooLarge {
            synchronising: false,
            ..
        })
    ));
}

proptest! {
    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..300) {
        let cut = cut.min(bytes.len());
        let mut commands = CommandReader::new(small());
        let mut responses = ResponseReader::new(small());
        for chunk in [&bytes[..cut], &bytes[cut..]] {
            commands.push(chunk);
            responses.push(chunk);
            for _ in 0..100 {
                match commands.next_event() {
                    Ok(Some(CommandEvent::Command(command))) => { let _ = fetch_content(&command); }
                    Ok(Some(CommandEvent::SendContinuation { .. })) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            while let Ok(Some(response)) = responses.next_response() {
                if let Some(Ok(fetch)) = response.fetch() {
                    let _ = fetch.encode();
                }
            }
        }
        let _ = fetch_content(&ClientCommand::from_bytes(bytes.clone()));
        let _ = ServerResponse::from_bytes(bytes).fetch();
    }

    #[test]
    fn hostile_fetch_lines_never_panic(items in "[A-Za-z0-9.\\[\\]<> ()*:,-]{0,60}") {
        let _ = fetch_content(&ClientCommand::from_bytes(format!("t UID FETCH 1:* ({items})\r\n")));
        let _ = ServerResponse::from_bytes(format!("* 1 FETCH ({items})\r\n")).fetch();
    }
}

#[test]
fn sequence_sets_are_kept_as_written() {
    // The session resolves them against the mailbox; reversed ranges and repeats are legal.
    let r = request("t UID FETCH 9:3,1,1,*:4 (BODY[])\r\n");
    let range = |first, last| SeqRange { first, last };
    assert_eq!(
        r.messages,
        vec![
            range(SeqBound::Number(9), SeqBound::Number(3)),
            one(1),
            one(1),
            range(SeqBound::Last, SeqBound::Number(4)),
        ]
    );
}
