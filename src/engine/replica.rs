//! Snapshots of a replica's state, and restoring one (cluster mode).
//!
//! The shared log would grow forever if every node had to replay it from the
//! start. So now and then one node takes a [`ReplicaSnapshot`] at a log
//! position and stores it; the log is then trimmed before that position. A
//! node that starts, or that finds the log trimmed past where it was,
//! restores the snapshot and applies the log after it.
//!
//! What a snapshot holds is exactly the state every replica computes alike:
//! the core, the event sequence (so consoles resume on any node), the log
//! clock, the per-group wait estimate and the visitor chats with their
//! messages. What is this node's own (its sessions, visitors' sockets, the
//! resume ring) is not in it.

use serde::{Deserialize, Serialize};

use super::Engine;
use super::outbox::CloseReason;
use super::submit::{After, Pending};
use crate::api_error::{ApiError, ErrorCode};
use crate::domain::{AgentIx, Command, Core, CoreSnapshot, Millis};

/// The snapshot format this build writes and reads. A node refuses a
/// snapshot of another format rather than misread it (see docs/operations.md,
/// upgrades).
pub const SNAPSHOT_FORMAT: u32 = 1;

/// The replicated state of a node's engine after applying the log up to
/// `after`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaSnapshot {
    /// [`SNAPSHOT_FORMAT`] of the writer.
    pub format: u32,
    /// The id of the last log entry applied.
    pub after: String,
    core: CoreSnapshot,
    seq: u64,
    last_now: Millis,
    chat_wait_ewma_ms: Vec<Option<f64>>,
    /// Open visitor chats and their messages.
    visitors: Vec<super::visitors::VisitorState>,
}

impl Engine {
    /// The replicated state now, after the log entry `self.applied`.
    pub(super) fn take_snapshot(&self) -> ReplicaSnapshot {
        ReplicaSnapshot {
            format: SNAPSHOT_FORMAT,
            after: self.applied.clone(),
            core: self.core.snapshot(),
            seq: self.seq,
            last_now: self.last_now,
            chat_wait_ewma_ms: self.chat_wait_ewma_ms.clone(),
            visitors: self.visitors_snapshot(),
        }
    }

    /// Replaces the replicated state with `snap`.
    ///
    /// Used at start (no sessions yet) and when this node fell behind a
    /// trimmed log. In the second case the local consoles saw events this
    /// replica never applied, so each is told to reconnect (it gets a fresh
    /// `welcome`), proposals in flight are refused as `unavailable`, and the
    /// restored sessions of this node are closed through the log like any
    /// dropped session (their agents get the reconnect grace).
    pub(super) fn restore_snapshot(&mut self, snap: ReplicaSnapshot) -> Result<(), ApiError> {
        if snap.format != SNAPSHOT_FORMAT {
            return Err(ApiError::new(
                ErrorCode::Internal,
                format!(
                    "the stored snapshot has format {}, this build reads {}: upgrade every node",
                    snap.format, SNAPSHOT_FORMAT
                ),
            ));
        }
        let dir = self.core.directory().clone();
        let core = Core::restore(dir, self.core.config(), snap.core)
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        self.drop_local_sessions(CloseReason::ServerGoingAway);
        for (_, (_, pending)) in self.pending.drain() {
            super::submit::answer_error(
                pending,
                ApiError::new(
                    ErrorCode::Unavailable,
                    "this node resynchronised; try again",
                ),
            );
        }
        self.tick_in_flight = false;
        self.core = core;
        self.seq = snap.seq;
        self.last_now = snap.last_now;
        self.chat_wait_ewma_ms = snap.chat_wait_ewma_ms;
        self.restore_visitors(snap.visitors);
        self.applied = snap.after;
        self.recent.reset(self.seq);
        self.board = Default::default();
        self.close_orphan_sessions();
        Ok(())
    }

    /// Closes, through the log, every session the core holds for this node
    /// that no local socket backs (after a resync, or an open whose answer
    /// was lost).
    fn close_orphan_sessions(&mut self) {
        let orphans: Vec<(AgentIx, u64)> = self
            .sessions_of_node(self.node)
            .into_iter()
            .filter(|(_, s)| !self.sessions.contains_key(s))
            .collect();
        for (agent, session) in orphans {
            self.submit(
                Command::CloseSession { agent, session },
                After::Nothing,
                Pending::None,
            );
        }
    }

    /// A session of this node came back from the log with nobody waiting for
    /// it (its proposer's answer was lost, or the node resynchronised): close
    /// it, so that it does not keep its agent logged in for ever.
    pub(super) fn close_if_orphan(&mut self, agent: AgentIx, session: u64) {
        if !self.sessions.contains_key(&session) {
            self.submit(
                Command::CloseSession { agent, session },
                After::Nothing,
                Pending::None,
            );
        }
    }
}
