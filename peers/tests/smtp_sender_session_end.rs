//! How the simulated senders end a session after the final dot, as the real MTAs do
//! (SMTP-SENDERS.md §1): Postfix pipelines QUIT and does not wait for the 221; Exim on a
//! first attempt pipelines QUIT and half-closes, then reads the replies; Sendmail and
//! Exchange go in lockstep.

mod common;

use aptsim_core::clock::Timestamp;
use aptsim_peers::smtp::presets::{SenderPreset, SenderTimeouts, SessionEnd};
use aptsim_peers::smtp::sender::{AttemptResult, SenderOutput, SenderSession};
use common::t;

const EHLO_PIPELINING: &[u8] = b"250-mx\r\n250-PIPELINING\r\n250 SIZE 1000000\r\n";
const EHLO_PLAIN: &[u8] = b"250-mx\r\n250 SIZE 1000000\r\n";

/// What a session did up to the reply to its dot: the bytes it wrote, and whether it
/// half-closed before that reply.
fn to_the_dot(end: SessionEnd, first: bool, ehlo: &[u8]) -> (SenderSession, String, bool) {
    let mut s = SenderSession::new(
        SenderTimeouts::rfc5321(),
        "mta.example",
        "a@example.com",
        vec!["b@example.net".into()],
        b"Subject: x\r\n\r\nhi\r\n",
        t(0),
    )
    .with_session_end(end, first);
    s.handle_connected(t(0));
    let mut wire = String::new();
    let mut half_closed = false;
    for reply in [
        &b"220 mx\r\n"[..],
        ehlo,
        b"250 ok\r\n",
        b"250 ok\r\n",
        b"354 go\r\n",
    ] {
        s.handle_bytes(reply, t(1));
        while let Some(o) = s.poll_output() {
            match o {
                SenderOutput::Send(b) => wire.push_str(&String::from_utf8_lossy(&b)),
                SenderOutput::HalfClose => half_closed = true,
                SenderOutput::Close => panic!("closed before the dot's reply"),
                SenderOutput::Event(_) => {}
            }
        }
    }
    (s, wire, half_closed)
}

fn closes(s: &mut SenderSession) -> bool {
    std::iter::from_fn(|| s.poll_output()).any(|o| matches!(o, SenderOutput::Close))
}

#[test]
fn postfix_pipelines_quit_and_skips_the_221() {
    let end = SenderPreset::postfix().session_end;
    let (mut s, wire, half) = to_the_dot(end, true, EHLO_PIPELINING);
    assert!(wire.ends_with("\r\n.\r\nQUIT\r\n"), "{wire:?}");
    assert!(!half, "Postfix never calls shutdown()");
    s.handle_bytes(b"250 2.0.0 queued\r\n", t(2));
    assert!(closes(&mut s), "closes on the dot's reply");
    assert!(matches!(s.result(), Some(AttemptResult::Delivered { .. })));
}

#[test]
fn no_pipelined_quit_without_pipelining() {
    let end = SenderPreset::postfix().session_end;
    let (mut s, wire, _) = to_the_dot(end, true, EHLO_PLAIN);
    assert!(wire.ends_with("\r\n.\r\n"), "{wire:?}");
    s.handle_bytes(b"250 2.0.0 queued\r\n", t(2));
    let quit: String = std::iter::from_fn(|| s.poll_output())
        .filter_map(|o| match o {
            SenderOutput::Send(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(quit, "QUIT\r\n");
}

#[test]
fn exim_half_closes_on_a_first_attempt_and_reads_the_221_for_a_second() {
    let end = SenderPreset::exim().session_end;
    assert_eq!(end, SessionEnd::PipelinedQuitHalfClose);
    let (mut s, wire, half) = to_the_dot(end, true, EHLO_PIPELINING);
    assert!(wire.ends_with("\r\n.\r\nQUIT\r\n"), "{wire:?}");
    assert!(half, "FIN before the dot's reply");
    s.handle_bytes(b"250 2.0.0 queued\r\n", t(2));
    assert!(!closes(&mut s), "waits for the 221");
    assert_eq!(s.poll_timeout(), Some(t(3)));
    s.handle_bytes(b"221 bye\r\n", Timestamp::from_millis(2_500));
    assert!(s.is_finished());
    assert!(matches!(s.result(), Some(AttemptResult::Delivered { .. })));
}

#[test]
fn exim_retries_do_not_pipeline_quit() {
    let end = SenderPreset::exim().session_end;
    let (_, wire, half) = to_the_dot(end, false, EHLO_PIPELINING);
    assert!(wire.ends_with("\r\n.\r\n"), "{wire:?}");
    assert!(!half);
}

#[test]
fn sendmail_and_exchange_go_in_lockstep() {
    for preset in [SenderPreset::sendmail(), SenderPreset::exchange()] {
        let (_, wire, half) = to_the_dot(preset.session_end, true, EHLO_PIPELINING);
        assert!(wire.ends_with("\r\n.\r\n"), "{}: {wire:?}", preset.name);
        assert!(!half);
    }
}
