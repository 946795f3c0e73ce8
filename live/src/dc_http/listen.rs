//! The HTTP data center's accept loop: at most `max_connections` connections at once (the
//! next ones wait in the kernel's listen backlog, unread, until one ends), each served by
//! hyper's HTTP/1.1 connection with a header-read timeout, so that neither idle keep-alive
//! connections nor a client that sends its request head a byte a minute hold a slot for
//! long. `axum::serve` offers neither limit, hence this loop.

use std::sync::Arc;
use std::time::Duration;

use aptsim_core::clock::Timestamp;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::log::Log;

/// How the accept loop bounds its connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// A request head must be complete this long after the server starts waiting for it
    /// (after the connection opens, or after the previous answer); then the connection
    /// closes.
    pub header_timeout: Duration,
}

/// Serves `router` on `listener` until the task is dropped. Accept errors (out of file
/// descriptors) are logged and retried after a pause, as the proxy does.
pub async fn serve(listener: TcpListener, router: Router, limits: ConnLimits, log: Log) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        // A slot first, then the connection: past the limit, connections wait unaccepted.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            // The semaphore is never closed; nothing to serve if it were.
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // The log's clock: wall time since its start.
                let since = log.wall_start.elapsed().unwrap_or_default();
                let now =
                    Timestamp::from_millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX));
                log.always(now, "error", &format!("accept: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        tokio::spawn(async move {
            // A connection that breaks is the client's business; the slot is freed either way.
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(slot);
        });
    }
}
