//! The timeline on its own: instants, order, cancelling, and a world busier than one turn
//! of its `LocalSet`.

use std::cell::RefCell;
use std::rc::Rc;

use super::*;

fn ms_since(epoch: Instant) -> u64 {
    u64::try_from((now().expect("in a world") - epoch).as_millis()).expect("ms")
}

/// A deadline between two milliseconds fires at the later one, as on tokio's wheel; the
/// clock does not move while a task can run.
#[test]
fn deadlines_are_rounded_up_to_whole_milliseconds() {
    let seen = block_on(async {
        let epoch = now().expect("in a world");
        let mut seen = Vec::new();
        for micros in [1, 999, 1_000, 1_001, 250_500] {
            let start = now().expect("in a world");
            sleep_until(start + Duration::from_micros(micros)).await;
            seen.push(ms_since(epoch));
        }
        seen
    });
    assert_eq!(seen, vec![1, 2, 3, 5, 256]);
}

/// Timers due at one instant fire in the order they were set; a cancelled one never fires;
/// a call set for a time already past runs at the next turn, without moving the clock.
#[test]
fn one_instant_fires_in_the_order_set_and_cancelled_timers_never() {
    let log: Rc<RefCell<Vec<(u64, &str)>>> = Rc::default();
    let got = Rc::clone(&log);
    block_on(async move {
        let epoch = now().expect("in a world");
        let at = epoch + Duration::from_millis(10);
        for name in ["first", "second", "cancelled", "third"] {
            let log = Rc::clone(&got);
            let key = call_at(at, move || log.borrow_mut().push((ms_since(epoch), name)));
            if name == "cancelled" {
                cancel(key);
            }
        }
        let log = Rc::clone(&got);
        call_at(epoch, move || {
            log.borrow_mut().push((ms_since(epoch), "past"))
        });
        sleep(Duration::from_millis(20)).await;
    });
    assert_eq!(
        *log.borrow(),
        vec![(0, "past"), (10, "first"), (10, "second"), (10, "third")]
    );
}

/// Hundreds of tasks runnable at once (a `LocalSet` runs 61 a turn) all run before the
/// clock moves; a sleep reset to another deadline ends there; a dropped sleep never wakes.
#[test]
fn a_busy_instant_runs_to_its_end_before_the_clock_moves() {
    let log: Rc<RefCell<Vec<u64>>> = Rc::default();
    let got = Rc::clone(&log);
    let (reset_at, dropped_left) = block_on(async move {
        let epoch = now().expect("in a world");
        for _ in 0..500 {
            let log = Rc::clone(&got);
            actix::spawn(async move {
                log.borrow_mut().push(ms_since(epoch));
                sleep(Duration::from_millis(1)).await;
                log.borrow_mut().push(ms_since(epoch));
            });
        }
        let mut s = sleep(Duration::from_millis(50));
        s.reset(epoch + Duration::from_millis(7));
        (&mut s).await;
        let reset_at = ms_since(epoch);
        // A sleep polled once and dropped: its timer goes with it.
        let mut dropped = Box::pin(sleep(Duration::from_millis(5)));
        let pending = std::future::poll_fn(|cx| Poll::Ready(dropped.as_mut().poll(cx))).await;
        assert!(pending.is_pending());
        drop(dropped);
        let left = PENDING.with_borrow(|p| p.len());
        (reset_at, left)
    });
    let log = log.borrow();
    assert_eq!(log.len(), 1_000);
    assert!(log[..500].iter().all(|&ms| ms == 0), "{:?}", &log[..10]);
    assert!(log[500..].iter().all(|&ms| ms == 1));
    assert_eq!(reset_at, 7);
    assert_eq!(dropped_left, 0);
}

/// A world that can do nothing more and has no timer set would wait forever: it stops with
/// a clear message instead.
#[test]
#[should_panic(expected = "the world waits for nothing")]
fn a_world_waiting_for_nothing_stops() {
    block_on(std::future::pending::<()>());
}

/// Outside a world there is no virtual time; after one, nothing of it is left.
#[test]
fn nothing_outlives_its_world() {
    assert_eq!(now(), None);
    block_on(async {
        call_at(now().expect("in a world") + Duration::from_secs(60), || {});
    });
    assert_eq!(now(), None);
    assert_eq!(PENDING.with_borrow(|p| p.len()), 0);
    assert_eq!(QUEUE.with_borrow(|q| q.len()), 0);
}

/// A call due at an instant runs after the tasks woken there by timers set before it, as a
/// task that slept until then ran: a fault set for an instant acts before a message that
/// arrives in it looks at the link.
#[test]
fn a_call_runs_in_its_place_among_the_tasks_of_its_instant() {
    let seen = block_on(async {
        let epoch = now().expect("in a world");
        let cut = Rc::new(std::cell::Cell::new(false));
        let fault = Rc::clone(&cut);
        actix::spawn(async move {
            sleep_until(epoch + Duration::from_millis(10)).await;
            fault.set(true);
        });
        // Let the fault's task set its timer first.
        sleep(Duration::from_millis(1)).await;
        let seen: Rc<RefCell<Option<bool>>> = Rc::default();
        let got = Rc::clone(&seen);
        call_at(epoch + Duration::from_millis(10), move || {
            *got.borrow_mut() = Some(cut.get());
        });
        sleep(Duration::from_millis(20)).await;
        seen.take()
    });
    assert_eq!(seen, Some(true));
}

/// Wakes that tokio defers to its runtime's next park (a task's `yield_now`, a future out
/// of its cooperative budget) are made at once: the world goes on at the same instant.
#[test]
fn deferred_wakes_are_not_lost() {
    let (yielded_at, answers) = block_on(async {
        let epoch = now().expect("in a world");
        let after_yield: Rc<RefCell<Option<u64>>> = Rc::default();
        let got = Rc::clone(&after_yield);
        actix::spawn(async move {
            tokio::task::yield_now().await;
            *got.borrow_mut() = Some(ms_since(epoch));
        });
        // Hundreds of requests and answers through a oneshot each, which spends the
        // cooperative budget of whoever awaits them (128 a poll).
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
        actix::spawn(async move {
            for i in 0..300 {
                tx.send(i).expect("receiver lives");
            }
        });
        let mut answers = 0;
        while rx.recv().await.is_some() {
            answers += 1;
        }
        sleep(Duration::from_millis(1)).await;
        let yielded_at = *after_yield.borrow();
        (yielded_at, answers)
    });
    assert_eq!(yielded_at, Some(0));
    assert_eq!(answers, 300);
}

/// A sleep set in one world and polled in the next stops with a message rather than
/// waking on the other world's clock.
#[test]
#[should_panic(expected = "a sleep was polled after its world ended")]
fn a_sleep_does_not_outlive_its_world() {
    let stale = block_on(async {
        let mut s = sleep(Duration::from_millis(50));
        let first = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut s).poll(cx))).await;
        assert!(first.is_pending());
        // Handed out of its world (wrapped: the world's output is not awaited in it).
        Some(s)
    });
    block_on(stale.expect("the sleep"));
}

/// The same for a sleep made in one world and first awaited in the next: its deadline is
/// on the clock of the world that made it.
#[test]
#[should_panic(expected = "a sleep was polled after its world ended")]
fn a_sleep_made_in_one_world_is_not_awaited_in_another() {
    let unpolled = block_on(async { Some(sleep(Duration::from_millis(50))) });
    block_on(async move {
        sleep(Duration::from_secs(1)).await;
        unpolled.expect("the sleep").await;
    });
}
