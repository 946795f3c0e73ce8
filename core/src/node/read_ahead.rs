//! How far a client's unread input runs ahead of the session: what a driver that reads
//! real sockets consults to stop reading one, so that TCP holds the rest as it does for
//! Postfix and Exim, which read a client's next command only when they are ready for it.

use super::{ConnId, Node};

impl Node {
    /// Bytes from client `conn` that its session has received and not read yet (0 when
    /// there is no such session).
    pub fn client_unread(&self, conn: ConnId) -> usize {
        self.sessions
            .get(&conn)
            .map_or(0, |entry| entry.session.client_unread())
    }
}
