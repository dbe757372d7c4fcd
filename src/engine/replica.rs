//! Snapshots of this node's replica, and restoring one.
//!
//! The log would grow forever if every node had to replay it from the
//! start. So now and then one node takes a snapshot of its
//! [`StateMachine`](crate::replica::StateMachine) at a log position and
//! stores it; the log is then trimmed before that position. A node that
//! starts, or that finds the log trimmed past where it was, restores the
//! snapshot and applies the log after it. What is this node's own (its
//! sessions, visitors' sockets, the resume ring) is not in a snapshot; this
//! file says what becomes of it when the replicated state is replaced.

use super::Engine;
use super::outbox::CloseReason;
use super::submit::{After, Pending};
use crate::api_error::{ApiError, ErrorCode};
use crate::domain::{AgentIx, Command, LogOp};
use crate::replica::ReplicaSnapshot;

impl Engine {
    /// Replaces the replicated state with `snap`.
    ///
    /// Used at start (no sessions yet) and when this node fell behind a
    /// trimmed log. In the second case the local consoles saw events this
    /// replica never applied, so each is told to reconnect (it gets a fresh
    /// `welcome`), proposals in flight are answered `outcome_unknown` (they
    /// may be in the log past the snapshot), and the
    /// restored sessions of this node are closed through the log like any
    /// dropped session (their agents get the reconnect grace).
    pub(super) fn restore_snapshot(&mut self, snap: ReplicaSnapshot) -> Result<(), ApiError> {
        self.state
            .restore(snap)
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        self.drop_local_sessions(CloseReason::ServerGoingAway);
        for pending in self.proposals.drain_waiting() {
            super::submit::answer_error(
                pending,
                ApiError::new(
                    ErrorCode::OutcomeUnknown,
                    "this node resynchronised before the write came back: it may or may not \
                     be applied; retry with the same idempotency key to learn which",
                ),
            );
        }
        self.proposals.tick_in_flight = false;
        self.forget_closed_visitor_sockets();
        self.recent.reset(self.state.seq());
        self.board = Default::default();
        self.close_orphan_sessions();
        Ok(())
    }

    /// This node was cut off from the store for longer than its heartbeat
    /// lives: no console stays connected to a node the cluster may no longer
    /// count (it would get no work and its changes would be refused), and
    /// whoever waits on a proposal learns its outcome is unknown.
    pub(super) fn cut_off(&mut self) {
        // Until the heartbeat rejoins under a new id, a console must go
        // elsewhere: a session opened under the old id (the store may be
        // back before the heartbeat notices) would be closed by the rejoin
        // while its socket stays open here.
        self.rejoining = true;
        self.drop_local_sessions(CloseReason::CutOff);
        for pending in self.proposals.drain_waiting() {
            super::submit::answer_error(
                pending,
                ApiError::new(
                    ErrorCode::OutcomeUnknown,
                    "this node lost the shared store: the write may or may not be applied; \
                     retry with the same idempotency key to learn which",
                ),
            );
        }
        self.proposals.tick_in_flight = false;
    }

    /// Back after a cut-off, as node `new`: the sessions the log still holds
    /// under `old` (none has a socket here any more) are closed through it,
    /// so their agents get the usual reconnect grace.
    pub(super) fn rejoined(&mut self, old: u32, new: u32) {
        self.node = new;
        self.rejoining = false;
        self.submit_op(LogOp::DropNode(old), After::Nothing, Pending::None);
    }

    /// A peer's `DropNode` named this node while it runs: its heartbeat
    /// lapsed though nothing failed here (a store that hung rather than
    /// refused, or a pause). The log has closed this node's sessions, so no
    /// console may stay on them: as after a cut-off, every console is told
    /// to reconnect (elsewhere; this node refuses new ones until the
    /// heartbeat has rejoined under a new id).
    pub(super) fn dropped_by_peer(&mut self) {
        tracing::warn!(
            node = self.node,
            "another node dropped this node's sessions: telling its consoles to reconnect"
        );
        self.cut_off();
        self.dropped
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Closes, through the log, every session the core holds for this node
    /// that no local socket backs (after a resync, or an open whose answer
    /// was lost).
    fn close_orphan_sessions(&mut self) {
        let orphans: Vec<(AgentIx, u64)> = self
            .state
            .sessions_of_node(self.node)
            .into_iter()
            .filter(|(_, s)| !self.local.by_id.contains_key(s))
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
        if !self.local.by_id.contains_key(&session) {
            self.submit(
                Command::CloseSession { agent, session },
                After::Nothing,
                Pending::None,
            );
        }
    }
}
