//! The simulated link on its own: segments arrive after the latency, in the order sent, also
//! when the link has been idle in between (its one delivering task waits for the next); a
//! segment sent into a cut arrives at the first retransmission after the repair.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use aptsim_simulator::link::{Link, Wire};

/// What an end received: (virtual ms since the start, connection, bytes or "FIN").
type Log = Rc<RefCell<Vec<(u64, u64, String)>>>;

/// An end that logs every segment it receives.
struct End {
    start: tokio::time::Instant,
    log: Log,
}

impl Actor for End {
    type Context = Context<Self>;
}

impl Handler<Wire> for End {
    type Result = ();

    fn handle(&mut self, msg: Wire, _: &mut Context<Self>) {
        let what = match &msg {
            Wire::Bytes { bytes, .. } => String::from_utf8_lossy(bytes).into_owned(),
            Wire::Closed { .. } => "FIN".to_owned(),
            other => format!("{other:?}"),
        };
        let ms = (aptsim_simulator::clock::now() - self.start).as_millis() as u64;
        self.log.borrow_mut().push((ms, msg.conn(), what));
    }
}

/// Runs `script` on a world's timeline with two ends, `a` and `b`, and returns what `b` got.
fn run<F, Fut>(script: F) -> Vec<(u64, u64, String)>
where
    F: FnOnce(Link, Rc<Recipient<Wire>>, Rc<Recipient<Wire>>) -> Fut + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let log: Log = Rc::default();
    let got = Rc::clone(&log);
    aptsim_simulator::timeline::block_on(async move {
        let start = aptsim_simulator::clock::now();
        let a = End {
            start,
            log: Rc::default(),
        }
        .start()
        .recipient();
        let (a, b) = (
            Rc::new(a),
            Rc::new(End { start, log: got }.start().recipient()),
        );
        script(Link::new(Duration::from_millis(5)), a, b).await;
        // Long enough for every retransmission of the cuts below.
        aptsim_simulator::timeline::sleep(Duration::from_secs(60)).await;
    });
    log.borrow().clone()
}

fn bytes(conn: u64, text: &str) -> Wire {
    Wire::Bytes {
        conn,
        bytes: text.as_bytes().to_vec(),
    }
}

#[test]
fn segments_arrive_after_the_latency_in_order_also_after_an_idle_link() {
    let got = run(|link, a, b| async move {
        link.send_stream(&a, &b, bytes(1, "one"));
        link.send_stream(&a, &b, bytes(2, "two"));
        link.send_stream(&a, &b, Wire::Closed { conn: 1 });
        // The link has nothing on its way for a while, then carries more.
        aptsim_simulator::timeline::sleep(Duration::from_millis(100)).await;
        link.send_stream(&a, &b, bytes(1, "late"));
        aptsim_simulator::timeline::sleep(Duration::from_millis(2)).await;
        link.send_stream(&a, &b, bytes(2, "later"));
    });
    // What is sent in one instant arrives in one instant, in the order sent.
    let want = [
        (5, 1, "one"),
        (5, 2, "two"),
        (5, 1, "FIN"),
        (105, 1, "late"),
        (107, 2, "later"),
    ];
    let got: Vec<(u64, u64, &str)> = got.iter().map(|(t, c, w)| (*t, *c, w.as_str())).collect();
    assert_eq!(got, want);
}

#[test]
fn a_segment_sent_into_a_cut_arrives_at_the_first_retransmission_after_the_repair() {
    let got = run(|link, a, b| async move {
        link.set_cut(true);
        link.send_stream(&a, &b, bytes(1, "held"));
        link.send_stream(&a, &b, Wire::Closed { conn: 1 });
        aptsim_simulator::timeline::sleep(Duration::from_millis(500)).await;
        link.set_cut(false);
    });
    // Linux's data retransmissions: 200 ms, then 600 ms after the first send (200 + 400);
    // the path is back at 500 ms, so both arrive, in order, at 600 ms plus the latency.
    let got: Vec<(u64, u64, &str)> = got.iter().map(|(t, c, w)| (*t, *c, w.as_str())).collect();
    assert_eq!(got, [(605, 1, "held"), (605, 1, "FIN")]);
}
