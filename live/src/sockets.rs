//! The socket tasks of the live proxy: each owns one TCP connection and nothing else. It
//! reports what it reads to the coordinator ([`super::smtp`]) over one shared bounded
//! channel and writes what the coordinator sends it over its own unbounded one.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use std::net::IpAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::log::secs;
use super::smtp::{Protocol, READ_CHUNK};

/// Which socket an event is from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Peer {
    Client(u64),
    Upstream(u64),
}

#[derive(Debug)]
pub(crate) enum SockEvent {
    /// The upstream connection is open.
    Connected,
    /// The upstream could not be reached.
    ConnectFailed(String),
    Bytes(Vec<u8>),
    /// The peer sent its FIN: it will send nothing more (it may still read).
    Eof,
    /// The peer closed the connection, or it broke (the reason, if it broke).
    Closed(Option<String>),
}

#[derive(Debug)]
pub(crate) struct Msg {
    pub(crate) peer: Peer,
    pub(crate) event: SockEvent,
    /// For bytes read: one of the socket's [`IN_FLIGHT`] permits, given back when the
    /// coordinator drops the message, once it has handled it.
    pub(crate) _credit: Option<OwnedSemaphorePermit>,
}

/// Chunks a socket task may have read that the coordinator has not handled yet. A socket
/// paused for read-ahead (`read_ahead.rs`) stops reading only when the coordinator gets to
/// its bytes; without this bound a fast peer could have queued megabytes in the shared
/// inbox by then. With it, at most 64 KiB more arrive after the pause is decided.
const IN_FLIGHT: usize = 4;

/// What the coordinator tells a socket task.
#[derive(Debug)]
pub(crate) enum Cmd {
    Write(Vec<u8>),
    /// Stop reading: the session has enough unread (`read_ahead`); the peer's further
    /// bytes wait in the kernel, and TCP's window stops it sending.
    Pause,
    /// Read again.
    Resume,
    /// Flush and close. Dropping the sender does the same.
    Close,
}

/// Connects to the first upstream address that accepts, in order (each given
/// `connect_timeout`: failover), then relays like [`socket_loop`].
pub(crate) async fn upstream_task(
    addrs: Arc<[String]>,
    connect_timeout: Duration,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    inbox: mpsc::Sender<Msg>,
    up: u64,
) {
    let peer = Peer::Upstream(up);
    let connect = async {
        let mut failures = Vec::new();
        for addr in addrs.iter() {
            match tokio::time::timeout(connect_timeout, TcpStream::connect(addr.as_str())).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(e)) => failures.push(format!("{addr}: {e}")),
                Err(_) => failures.push(format!(
                    "{addr}: no connection after {}",
                    secs(connect_timeout)
                )),
            }
        }
        Err(failures.join("; "))
    };
    let given_up = async {
        // Before the connection is open the coordinator sends nothing; a closed channel
        // means the session no longer wants it.
        while cmds.recv().await.is_some() {}
    };
    let result = tokio::select! {
        r = connect => r,
        () = given_up => return,
    };
    let event = match result {
        Ok(stream) => {
            let _ = stream.set_nodelay(true);
            if inbox
                .send(Msg {
                    peer,
                    event: SockEvent::Connected,
                    _credit: None,
                })
                .await
                .is_err()
            {
                return;
            }
            return socket_loop(stream, cmds, inbox, peer).await;
        }
        Err(why) => SockEvent::ConnectFailed(why),
    };
    let _ = inbox
        .send(Msg {
            peer,
            event,
            _credit: None,
        })
        .await;
}

/// Owns one socket: writes what the coordinator sends, reports what it reads, and ends on
/// `Close`, a dropped sender, end of stream or an error (reported as `Closed`).
pub(crate) async fn socket_loop(
    stream: TcpStream,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    inbox: mpsc::Sender<Msg>,
    peer: Peer,
) {
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = vec![0u8; READ_CHUNK];
    let credit = Arc::new(Semaphore::new(IN_FLIGHT));
    // After the peer's FIN the socket still writes: a half-closed client reads its replies.
    let mut reading = true;
    let mut paused = false;
    loop {
        tokio::select! {
            biased;
            cmd = cmds.recv() => match cmd {
                Some(Cmd::Write(bytes)) => {
                    if let Err(e) = wr.write_all(&bytes).await {
                        let event = SockEvent::Closed(Some(e.to_string()));
                        let msg = Msg {
                            peer,
                            event,
                            _credit: None,
                        };
                        let _ = inbox.send(msg).await;
                        return;
                    }
                }
                Some(Cmd::Pause) => paused = true,
                Some(Cmd::Resume) => paused = false,
                Some(Cmd::Close) | None => {
                    let _ = wr.shutdown().await;
                    return;
                }
            },
            read = rd.read(&mut buf), if reading && !paused => {
                let event = match read {
                    Ok(0) => {
                        reading = false;
                        SockEvent::Eof
                    }
                    Ok(n) => SockEvent::Bytes(buf[..n].to_vec()),
                    Err(e) => SockEvent::Closed(Some(e.to_string())),
                };
                let last = matches!(event, SockEvent::Closed(_));
                // Waits while IN_FLIGHT chunks are still unhandled; the semaphore is never
                // closed, so a permit always comes.
                let credit = match event {
                    SockEvent::Bytes(_) => credit.clone().acquire_owned().await.ok(),
                    _ => None,
                };
                if inbox.send(Msg { peer, event, _credit: credit }).await.is_err() || last {
                    return;
                }
            }
        }
    }
}

/// Runs a socket task, counted in `open` while it lives: a proxy shutting down waits until
/// every socket task has written what it was given and closed (a task still queued when the
/// runtime stops would lose its last 421).
pub(crate) async fn counted(open: Arc<AtomicUsize>, task: impl Future<Output = ()>) {
    struct Live(Arc<AtomicUsize>);
    impl Drop for Live {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::AcqRel);
        }
    }
    open.fetch_add(1, Ordering::AcqRel);
    let _live = Live(open);
    task.await;
}

/// A connection accepted on one of the listening addresses, or why accepting failed.
pub(crate) enum Accepted {
    Conn(TcpStream, IpAddr, Protocol),
    Error(String),
}

/// Accepts connections on one address for the coordinator until it is aborted.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    protocol: Protocol,
    to: mpsc::Sender<Accepted>,
) {
    loop {
        let next = match listener.accept().await {
            Ok((stream, peer)) => Accepted::Conn(stream, peer.ip(), protocol),
            Err(e) => {
                // EMFILE and friends: say so, and do not spin on them.
                let _ = to.send(Accepted::Error(e.to_string())).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if to.send(next).await.is_err() {
            return;
        }
    }
}
