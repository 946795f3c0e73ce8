//! `smtp_command`, `smtp_reply`, `smtp_data`: the SMTP parsers, split at every byte the input chooses.

use super::*;

/// The command line as a client would write it for `c`.
fn render(c: &Command) -> String {
    let with_params = |verb: &str, path: &str, params: &str| {
        if params.is_empty() {
            format!("{verb}<{path}>")
        } else {
            format!("{verb}<{path}> {params}")
        }
    };
    match c {
        Command::Helo(d) => format!("HELO {d}"),
        Command::Ehlo(d) => format!("EHLO {d}"),
        Command::Mail { from, params } => with_params("MAIL FROM:", from, params),
        Command::Rcpt { to, params } => with_params("RCPT TO:", to, params),
        Command::Data => "DATA".into(),
        Command::Rset => "RSET".into(),
        Command::Noop => "NOOP".into(),
        Command::Quit => "QUIT".into(),
        Command::Vrfy(s) => format!("VRFY {s}"),
        Command::NotImplemented(v) => v.clone(),
    }
}

/// `command::parse`, `has_control_bytes` and `size_param` on the input, and a `LineReader`
/// fed it in two pieces: paths never hold `<`, `>`, CR or LF; a parsed command written back
/// parses the same; lines never exceed the reader's maximum; where the input is cut does
/// not change the lines; and the reader never holds more than its maximum.
pub fn smtp_command(data: &[u8]) {
    let control = command::has_control_bytes(data);
    assert_eq!(
        control,
        data.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    );
    let text = String::from_utf8_lossy(data);
    let size = command::size_param(&text);
    if let Ok(Some(n)) = size {
        assert!(
            text.to_ascii_uppercase().contains("SIZE="),
            "SIZE {n} out of nothing"
        );
    }
    if let Ok(c) = command::parse(data) {
        match &c {
            Command::Mail { from: path, params } | Command::Rcpt { to: path, params } => {
                assert!(
                    !path.contains(['<', '>', '\r', '\n']),
                    "path {path:?} holds a bracket or a line end"
                );
                let _ = command::size_param(params);
            }
            _ => {}
        }
        if let Command::Rcpt { to, .. } = &c {
            assert!(!to.is_empty(), "empty forward path accepted");
        }
        let again = render(&c);
        assert_eq!(
            command::parse(again.as_bytes()).as_ref(),
            Ok(&c),
            "{again:?} does not parse back"
        );
    }

    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(first) % (rest.len() + 1);
    for max in [32, 2_048] {
        // What is left over may differ inside a line being discarded (the part already
        // thrown away depends on the cut); the lines may not.
        let (whole, _) = read_lines(max, &[rest]);
        let (split, _) = read_lines(max, &[&rest[..cut], &rest[cut..]]);
        assert_eq!(
            whole, split,
            "cutting at {cut} changed the lines (max {max})"
        );
    }
}

/// The lines a `LineReader` of `max` gives for `chunks`, and what it holds at the end.
fn read_lines(max: usize, chunks: &[&[u8]]) -> (Vec<Line>, Vec<u8>) {
    let mut r = LineReader::new(max);
    let mut lines = Vec::new();
    for chunk in chunks {
        r.push(chunk);
        while let Some(line) = r.next_line() {
            if let Line::Complete(l) = &line {
                assert!(!l.contains(&b'\n'), "a line holds LF");
                assert!(
                    l.len() < max,
                    "line of {} bytes from a reader of max {max}",
                    l.len()
                );
            }
            lines.push(line);
        }
    }
    let rest = r.unread().to_vec();
    assert!(
        rest.len() <= max,
        "reader holds {} bytes, over its max {max}",
        rest.len()
    );
    (lines, rest)
}

// ---------------------------------------------------------------------------------------
// smtp_reply
// ---------------------------------------------------------------------------------------

/// Every result a `ReplyParser` gives for `chunks`, reading on after errors.
fn read_replies(chunks: &[&[u8]]) -> Vec<Result<Reply, ReplyError>> {
    let mut p = ReplyParser::default();
    let mut out = Vec::new();
    for chunk in chunks {
        p.push(chunk);
        let mut results = 0;
        loop {
            match p.next_reply() {
                Ok(None) => break,
                Ok(Some(r)) => out.push(Ok(r)),
                Err(e) => out.push(Err(e)),
            }
            results += 1;
            assert!(results <= chunk.len() + 1, "parser gives more than it read");
        }
    }
    out
}

/// `ReplyParser` push and next_reply until `None`: where the input is cut does not change
/// the replies; each reply is written back as one CRLF-ended line per text line (no line
/// holds an LF: the type keeps its lines apart with them); a reply with a valid code
/// (100–999) written back by `to_bytes` parses the same.
pub fn smtp_reply(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(first) % (rest.len() + 1);
    let whole = read_replies(&[rest]);
    if rest.len() <= MAX_REPLY_BYTES {
        let split = read_replies(&[&rest[..cut], &rest[cut..]]);
        assert_eq!(whole, split, "cutting at {cut} changed the replies");
    }
    for r in whole.iter().flatten() {
        assert!(r.code <= 999, "code {}", r.code);
        let wire = r.to_bytes();
        let line_ends = wire.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(
            line_ends,
            r.lines().count(),
            "written as other lines: {wire:?}"
        );
        assert!(
            wire.ends_with(b"\r\n"),
            "written without its last CRLF: {wire:?}"
        );
        if r.code >= 100 {
            let again = read_replies(&[&r.to_bytes()]);
            assert_eq!(again, vec![Ok(r.clone())], "reply does not round-trip");
        }
    }
}

// ---------------------------------------------------------------------------------------
// smtp_data
// ---------------------------------------------------------------------------------------

/// A receiver fed `chunks` until the end of data: bytes consumed, whether the end came, and
/// the result.
fn receive(max: usize, chunks: &[&[u8]]) -> (usize, bool, Result<Vec<u8>, DataError>) {
    let mut r = DataReceiver::new(max);
    let mut used = 0;
    let mut done = false;
    for chunk in chunks {
        let (n, d) = r.ingest(chunk);
        assert!(n <= chunk.len(), "consumed more than given");
        used += n;
        if d {
            done = true;
            break;
        }
        assert_eq!(n, chunk.len(), "stopped early without the end of data");
    }
    (used, done, r.finish())
}

/// True when every CR is followed by LF and every LF preceded by CR.
pub fn canonical_line_ends(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, &c)| match c {
        b'\r' => b.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && b[i - 1] == b'\r',
        _ => true,
    })
}

/// `DataReceiver` fed the input in two pieces (cut where the first byte says): the same as
/// in one piece; the size limit changes the result but never where the data ends; the data
/// ends only at CRLF `.` CRLF; an accepted body has canonical line ends and short lines,
/// and `dot_stuff` of it, received again, gives it back and ends with CRLF `.` CRLF.
pub fn smtp_data(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(first) % (rest.len() + 1);
    let big = 1 << 20;
    let (used, done, result) = receive(big, &[&rest[..cut], &rest[cut..]]);
    let whole = receive(big, &[rest]);
    assert_eq!(
        (used, done, &result),
        (whole.0, whole.1, &whole.2),
        "cutting at {cut} changed the outcome"
    );
    let small = receive(64, &[rest]);
    assert_eq!(
        (small.0, small.1),
        (used, done),
        "the size limit moved the end of data"
    );
    if !done {
        assert_eq!(used, rest.len());
        return;
    }
    let wire = &rest[..used];
    assert!(
        wire == b".\r\n" || wire.ends_with(b"\r\n.\r\n"),
        "data ended without CRLF . CRLF: {:?}",
        String::from_utf8_lossy(&wire[wire.len().saturating_sub(8)..])
    );
    let Ok(body) = result else {
        return;
    };
    match &small.2 {
        Ok(b) => assert_eq!(b, &body, "size limit changed an accepted body"),
        Err(e) => assert!(
            body.len() > 64 && *e == DataError::TooBig,
            "limit 64 refused a body of {} bytes with {e:?}",
            body.len()
        ),
    }
    assert!(
        canonical_line_ends(&body),
        "accepted body with a bare CR or LF"
    );
    assert!(
        body.is_empty() || body.ends_with(b"\r\n"),
        "accepted body without a final CRLF"
    );
    for line in body.split(|&b| b == b'\n') {
        // With its CR, without the dot a client may have doubled.
        assert!(
            line.len() < data::MAX_LINE,
            "accepted a line of {} bytes",
            line.len()
        );
    }
    let stuffed = data::dot_stuff(&body);
    assert!(
        stuffed.ends_with(b"\r\n.\r\n") || (body.is_empty() && stuffed == b".\r\n"),
        "dot_stuff does not end with CRLF . CRLF"
    );
    let again = receive(big, &[&stuffed]);
    assert_eq!(
        (again.0, again.1),
        (stuffed.len(), true),
        "dot_stuff'ed body does not end exactly at its end"
    );
    assert_eq!(again.2, Ok(body), "dot_stuff round trip");
}

// ---------------------------------------------------------------------------------------
// smtp_proxy_session
// ---------------------------------------------------------------------------------------
