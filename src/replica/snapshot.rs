//! The snapshot of a [`StateMachine`](super::StateMachine): its whole state
//! after one log entry, as stored (JSON, deflated) so that the log before it
//! can be trimmed and a starting node need not replay from the beginning.

use serde::{Deserialize, Serialize};

use super::chats::ChatState;
use crate::domain::{CoreSnapshot, Millis, SnapshotError};

/// The snapshot format this build writes and reads. A node refuses a
/// snapshot of another format rather than misread it (see
/// docs/operations.md, upgrades).
pub const SNAPSHOT_FORMAT: u32 = 1;

/// The replicated state after applying the log up to `after`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`SNAPSHOT_FORMAT`] of the writer.
    pub format: u32,
    /// The id of the last log entry applied.
    pub after: String,
    pub(super) core: CoreSnapshot,
    pub(super) seq: u64,
    pub(super) last_now: Millis,
    pub(super) chat_wait_ewma_ms: Vec<Option<f64>>,
    /// Open visitor chats and their messages.
    pub(super) visitors: Vec<ChatState>,
    /// Password hashes and integration keys (absent from snapshots written
    /// before they were administered live: those keep the directory
    /// file's).
    #[serde(default)]
    pub(super) credentials: Option<super::credentials::Credentials>,
    /// Idempotency keys still in their window, with their first outcomes.
    #[serde(default)]
    pub(super) remembered: super::idempotency::Remembered,
}

/// Why a snapshot cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Written by a build with another format.
    #[error(
        "the stored snapshot has format {0}, this build reads {SNAPSHOT_FORMAT}: upgrade every node"
    )]
    Format(u32),
    /// Its core does not fit this directory.
    #[error("{0}")]
    Core(#[from] SnapshotError),
}
