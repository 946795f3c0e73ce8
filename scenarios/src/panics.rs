//! Panics inside a run, caught and turned into a result.
//!
//! A panic in an actor does not reach the caller: tokio catches it in the task, the actor
//! dies, the world runs on without it, and the run used to be reported `ok`. So a panic is
//! noticed where it happens, by a panic hook, and not only where it unwinds to: while
//! [`catch`] runs a closure, the hook records every panic on that thread (quietly: the
//! report prints it once), and [`catch`] also catches one that unwinds out of the closure.
//! Panics on other threads, and outside [`catch`], go to the hook that was there before.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

thread_local! {
    /// The panics seen on this thread while [`catch`] runs; `None` outside it.
    static CAUGHT: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Runs `f`. Returns its value, if it returned one, and the first panic on this thread while
/// it ran, if any (`message at file:line:column`).
pub fn catch<T>(f: impl FnOnce() -> T) -> (Option<T>, Option<String>) {
    install_hook();
    let outer = CAUGHT.with(|c| c.replace(Some(Vec::new())));
    // The closure's state is not used after a panic: only its result, or none.
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    let seen = CAUGHT.with(|c| c.replace(outer)).unwrap_or_default();
    match result {
        Ok(value) => (Some(value), seen.into_iter().next()),
        Err(payload) => {
            let first = seen
                .into_iter()
                .next()
                .unwrap_or_else(|| payload_text(payload.as_ref()));
            (None, Some(first))
        }
    }
}

fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            // `try_with`: a panic while the thread's locals are torn down is not ours.
            let recorded = CAUGHT
                .try_with(|c| match c.try_borrow_mut().as_deref_mut() {
                    Ok(Some(seen)) => {
                        seen.push(describe(info));
                        true
                    }
                    _ => false,
                })
                .unwrap_or(false);
            if !recorded {
                previous(info);
            }
        }));
    });
}

fn describe(info: &PanicHookInfo<'_>) -> String {
    let message = info.payload_as_str().unwrap_or("a panic without a message");
    match info.location() {
        Some(l) => format!("{message} at {}:{}:{}", l.file(), l.line(), l.column()),
        None => message.to_owned(),
    }
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_that_unwinds_is_caught_with_its_place() {
        let (value, panic) = catch(|| -> u32 { panic!("boom {}", 7) });
        assert_eq!(value, None);
        let panic = panic.expect("caught");
        assert!(
            panic.starts_with("boom 7 at ") && panic.contains("panics.rs"),
            "{panic}"
        );
    }

    #[test]
    fn a_panic_that_a_runtime_swallows_is_still_seen() {
        // As tokio does with a panicking task: caught inside, the caller carries on.
        let (value, panic) = catch(|| {
            let swallowed = panic::catch_unwind(|| panic!("in a task"));
            assert!(swallowed.is_err());
            42
        });
        assert_eq!(value, Some(42));
        assert!(panic.is_some_and(|p| p.starts_with("in a task")));
    }

    #[test]
    fn no_panic_no_report_and_nesting_restores_the_outer_record() {
        assert_eq!(catch(|| 1), (Some(1), None));
        let (_, outer) = catch(|| {
            let (_, inner) = catch(|| panic!("inner"));
            assert!(inner.is_some_and(|p| p.starts_with("inner")));
            panic!("outer")
        });
        assert!(
            outer.is_some_and(|p| p.starts_with("outer")),
            "inner panics stay inner"
        );
    }
}
