//! Which sessions have a file with a given MD5: the sessions a verdict or an outage is for.
//!
//! A data-center answer concerns only the inspections that have the file. Handing it to
//! every session instead cost each of them a turn (its engine driven, its outputs flushed,
//! its deadline re-armed) for every answer, so that with a few thousand messages held a
//! day of mail spent more time telling sessions about files they did not have than on the
//! sessions that did; a live gateway holding many messages would pay the same. The node
//! keeps this index up to date after every turn of a session, from the files the session
//! says it has ([`super::AnySession::watched_files`]), so it is exact: a session is listed
//! under an MD5 exactly while one of its inspections has that file.

use std::collections::BTreeMap;

use super::ConnId;
use crate::digest::Md5;

/// MD5 → the sessions that have the file, in connection order.
#[derive(Debug, Default)]
pub(super) struct Watchers {
    by_md5: BTreeMap<Md5, Vec<ConnId>>,
}

impl Watchers {
    /// The sessions that have `md5`, in connection order (the order every session was told
    /// in before, so traces stay as they were).
    pub(super) fn of(&self, md5: &Md5) -> Vec<ConnId> {
        self.by_md5.get(md5).cloned().unwrap_or_default()
    }

    /// `conn` now has exactly the files in `now` (sorted, no repeats); `before` is what it
    /// had, and becomes `now`.
    pub(super) fn update(&mut self, conn: ConnId, before: &mut Vec<Md5>, now: &[Md5]) {
        if before.as_slice() == now {
            return;
        }
        for md5 in before.iter().filter(|m| now.binary_search(m).is_err()) {
            self.unlist(conn, md5);
        }
        for md5 in now.iter().filter(|m| before.binary_search(m).is_err()) {
            let conns = self.by_md5.entry(*md5).or_default();
            if let Err(at) = conns.binary_search(&conn) {
                conns.insert(at, conn);
            }
        }
        before.clear();
        before.extend_from_slice(now);
    }

    /// `conn` is gone, with the files it had.
    pub(super) fn forget(&mut self, conn: ConnId, had: &[Md5]) {
        for md5 in had {
            self.unlist(conn, md5);
        }
    }

    fn unlist(&mut self, conn: ConnId, md5: &Md5) {
        if let Some(conns) = self.by_md5.get_mut(md5) {
            conns.retain(|c| *c != conn);
            if conns.is_empty() {
                self.by_md5.remove(md5);
            }
        }
    }

    /// How many MD5s have a session listed (for tests: nothing is left behind).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_md5.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5(n: u8) -> Md5 {
        Md5([n; 16])
    }

    #[test]
    fn lists_each_session_under_its_files_in_connection_order_and_forgets_them() {
        let mut w = Watchers::default();
        let (mut of_7, mut of_3) = (Vec::new(), Vec::new());
        w.update(7, &mut of_7, &[md5(1), md5(2)]);
        w.update(3, &mut of_3, &[md5(2)]);
        assert_eq!(w.of(&md5(1)), vec![7]);
        assert_eq!(w.of(&md5(2)), vec![3, 7]);
        assert!(w.of(&md5(9)).is_empty());
        // Session 7's message is done; its next has another file.
        w.update(7, &mut of_7, &[md5(4)]);
        assert_eq!(of_7, vec![md5(4)]);
        assert!(w.of(&md5(1)).is_empty());
        assert_eq!(w.of(&md5(2)), vec![3]);
        assert_eq!(w.of(&md5(4)), vec![7]);
        w.forget(3, &of_3);
        w.forget(7, &of_7);
        assert_eq!(w.len(), 0);
    }
}
