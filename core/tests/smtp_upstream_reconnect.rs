//! The upstream lost between transactions: the proxy reconnects for the client's next
//! command, and a reconnect that fails gets the client an answer (421), never silence.

mod common;

use aptsim_core::policy::Policy;
use common::harness::Harness;

#[test]
fn a_failed_reconnect_for_a_client_command_answers_421() {
    let mut h = Harness::ready(Policy::default());
    // The server drops the idle connection (Postfix smtpd_timeout, 300 s).
    h.advance(300);
    h.s.handle_upstream_closed(&mut h.gw, h.now);
    h.drain();
    let connects = h.connects;
    h.client(b"MAIL FROM:<alice@example.com>\r\n");
    assert_eq!(h.connects, connects + 1, "reconnecting for the command");
    h.s.handle_upstream_connect_failed(&mut h.gw, h.now);
    h.drain();
    let reply = h.take_client();
    assert!(reply.starts_with("421 4.4.0 "), "{reply:?}");
    assert!(h.client_closed);
}
