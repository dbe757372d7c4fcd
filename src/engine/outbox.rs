//! A session's bounded outbox: the engine pushes frames without ever waiting,
//! the session's socket task writes them out.
//!
//! When a session does not read its socket, its outbox fills up; the engine
//! then cuts it off (records the reason and drops its sender) instead of
//! buffering without bound or blocking everyone else's pushes.

use std::sync::{Arc, OnceLock};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;

/// One serialised JSON frame, shared cheaply between recipients.
pub type Frame = Utf8Bytes;

/// Why the server ended a session, sent in the `closing` frame and the close
/// reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The outbox filled up: the client does not read.
    SlowConsumer,
    /// The server is shutting down; reconnect elsewhere.
    ServerGoingAway,
    /// An admin disabled the agent's account.
    Revoked,
    /// The login token that opened the session was logged out.
    LoggedOut,
    /// This node lost the shared store for longer than its heartbeat lives;
    /// reconnect (any node).
    CutOff,
}

impl CloseReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::ServerGoingAway => "server_going_away",
            CloseReason::Revoked => "revoked",
            CloseReason::LoggedOut => "logged_out",
            CloseReason::CutOff => "cut_off",
        }
    }
}

/// The engine's end of an outbox.
#[derive(Debug, Clone)]
pub struct OutboxSender {
    tx: mpsc::Sender<Frame>,
    closed: Arc<OnceLock<CloseReason>>,
}

/// The socket task's end of an outbox.
#[derive(Debug)]
pub struct OutboxReceiver {
    rx: mpsc::Receiver<Frame>,
    closed: Arc<OnceLock<CloseReason>>,
}

/// Makes an outbox holding at most `capacity` frames.
pub fn outbox(capacity: usize) -> (OutboxSender, OutboxReceiver) {
    let (tx, rx) = mpsc::channel(capacity);
    let closed = Arc::new(OnceLock::new());
    (
        OutboxSender {
            tx,
            closed: closed.clone(),
        },
        OutboxReceiver { rx, closed },
    )
}

impl OutboxSender {
    /// Queues a frame; false when the outbox is full or its session is gone.
    pub fn push(&self, frame: Frame) -> bool {
        self.tx.try_send(frame).is_ok()
    }

    /// Marks why the session is being closed; the receiver sees it once every
    /// sender is dropped.
    pub fn close(&self, reason: CloseReason) {
        let _ = self.closed.set(reason);
    }
}

impl OutboxReceiver {
    /// The next frame; `None` once the engine dropped the session.
    pub async fn recv(&mut self) -> Option<Frame> {
        self.rx.recv().await
    }

    /// The next frame if one is queued already, without waiting: lets the
    /// writer put several frames into one write to the socket.
    pub fn try_recv(&mut self) -> Option<Frame> {
        self.rx.try_recv().ok()
    }

    /// Why the engine closed the session, if it did.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed.get().copied()
    }
}
