//! Serving TCP connections: the accept loop `axum::serve` would be, plus
//! what it cannot be told: a read timeout on request headers and a cap on
//! the connections one client address holds open.
//!
//! Without them a client that opens connections and sends its headers one
//! byte at a time (slowloris) holds a file descriptor per connection for as
//! long as it likes. Here hyper closes a connection whose request headers are
//! not complete within `header_read_timeout` (an idle keep-alive connection
//! waits for its next request's headers, so it is closed after the same
//! time), and a client address over `max_connections_per_address` has its
//! new connections closed at once, before anything is read. The body has its
//! own deadline (`body_read_timeout`, a layer of the router).
//!
//! # Ownership
//! One [`PerAddress`] table per server, shared by the accept loop (which
//! takes a slot per accepted connection) and the connections' tasks (whose
//! socket owns the slot and gives it back when dropped). It is a
//! `std::sync::Mutex<HashMap>` held for one map operation, never across an
//! `.await`. The slot lives in the socket itself ([`Counted`]), so a
//! connection upgraded to a WebSocket keeps counting until the socket
//! closes.
//!
//! # Shutdown
//! When `shutdown` resolves the loop stops accepting, tells every connection
//! to finish its request in flight and close, and returns once every
//! connection task has ended (each holds a receiver of `done`; the sender's
//! `closed()` resolves when the last is dropped, as in `axum::serve`).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use super::TransportConfig;
use crate::metrics as m;

/// Open connections per client address, and the most allowed (0: no cap).
#[derive(Debug)]
struct PerAddress {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in [`PerAddress`]; given back when dropped.
#[derive(Debug)]
struct AddressSlot {
    ip: IpAddr,
    table: Arc<PerAddress>,
}

impl PerAddress {
    fn new(max: usize) -> Arc<Self> {
        Arc::new(PerAddress {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `ip`, or `None` when that address
    /// already holds the most allowed.
    fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        if self.max > 0 {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            let n = open.entry(ip).or_insert(0);
            if *n >= self.max {
                return None;
            }
            *n += 1;
        }
        metrics::gauge!(m::CONNECTIONS_OPEN).increment(1.0);
        Some(AddressSlot {
            ip,
            table: self.clone(),
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        metrics::gauge!(m::CONNECTIONS_OPEN).decrement(1.0);
        if self.table.max == 0 {
            return;
        }
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A client's socket carrying its [`AddressSlot`]: the slot is given back
/// exactly when the socket is dropped, whoever holds it last (hyper, or the
/// WebSocket it was upgraded to).
struct Counted {
    tcp: TcpStream,
    _slot: AddressSlot,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// Whether an accept error concerns only the one connection (the client
/// gave up), as opposed to the process (out of descriptors).
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets every
/// connection finish its request in flight and returns when all are closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &TransportConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let per_address = PerAddress::new(config.max_connections_per_address);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of descriptors, most likely: accepting again at
                    // once would spin; connections closing free some.
                    tracing::error!(error = %e, "accept failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = per_address.acquire(peer.ip()) else {
            metrics::counter!(m::CONNECTIONS_REFUSED, "reason" => "per_address").increment(1);
            tracing::debug!(ip = %peer.ip(), "connection refused: over the cap per address");
            continue;
        };
        // Pushes are small frames that must leave at once: no Nagle delay.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let io = TokioIo::new(Counted { tcp, _slot: slot });
        tokio::spawn(serve_one(
            &http,
            io,
            app.clone(),
            peer,
            stop_rx.clone(),
            done_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(());
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

/// Serves one connection until it closes, or until `stop` asks it to
/// finish its request in flight and close; `_done` is dropped at the end.
fn serve_one(
    http: &http1::Builder,
    io: TokioIo<Counted>,
    app: Router,
    peer: SocketAddr,
    mut stop: watch::Receiver<()>,
    _done: watch::Receiver<()>,
) -> impl Future<Output = ()> + Send + 'static {
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(req)
    });
    let conn = http.serve_connection(io, service).with_upgrades();
    async move {
        let mut conn = pin!(conn);
        let result = tokio::select! {
            result = conn.as_mut() => result,
            _ = stop.changed() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        match result {
            Err(e) if e.is_timeout() => {
                metrics::counter!(m::HTTP_TIMEOUTS, "phase" => "headers").increment(1);
                tracing::debug!("closed a connection whose request headers did not arrive in time");
            }
            Err(e) => tracing::trace!(error = %e, "connection ended with an error"),
            Ok(()) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_per_address_counts_and_gives_back() {
        let table = PerAddress::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = table.acquire(a).unwrap();
        let _a2 = table.acquire(a).unwrap();
        assert!(table.acquire(a).is_none(), "a third from the same address");
        let _b1 = table.acquire(b).unwrap();
        drop(a1);
        let _a3 = table.acquire(a).unwrap();
        drop(_a3);
        drop(_a2);
        assert!(
            !table.open.lock().unwrap().contains_key(&a),
            "an address with no connection left is forgotten"
        );
    }

    #[test]
    fn zero_means_no_cap() {
        let table = PerAddress::new(0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let slots: Vec<_> = (0..100).map(|_| table.acquire(a).unwrap()).collect();
        assert_eq!(slots.len(), 100);
        assert!(table.open.lock().unwrap().is_empty());
    }
}
