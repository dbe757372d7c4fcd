//! Storage: the ordered command log every replica applies, node
//! heartbeats, snapshots, the audit stream and the directory.
//!
//! # The contract ([`SharedLog`])
//! - `append` adds entries at the end of one totally ordered log, atomically
//!   and durably as far as the backend is (Redis: one `XADD` each, fsynced
//!   before the reply with `appendfsync always`, and on enough replicas when
//!   asked to wait for them). Once `append` returned, the entry will be read
//!   by every reader, in the same position for all.
//! - `read_after(id)` returns the entries after `id` in log order, so a reader
//!   that reconnects resumes exactly where it was, without a gap; or
//!   [`StoreError::Trimmed`] when entries after `id` may have been trimmed
//!   away, or [`StoreError::Diverged`] when the log lost `id` itself (a
//!   Redis failover), never a silent gap or a silent fork.
//! - `beat(node, ttl, applied)` keeps a node's heartbeat alive for `ttl` and
//!   records how far it applied the log; `dead_nodes` lists the registered
//!   nodes whose heartbeat expired (a crashed node's sessions then vanish from
//!   presence); `min_applied` is the least position a live node reported.
//! - `put_snapshot(at, data)` stores a snapshot of the state after entry `at`
//!   unless a later one is stored; `snapshot()` returns the stored one;
//!   `claim_snapshot` lets one node at a time take it.
//! - `trim(before)` drops the entries before `before` (only forward), and
//!   from then on `read_after` of a position before it is `Trimmed`.
//! - `append_audit(entry, records, cap)` adds the audit records one log entry
//!   produced to a stream capped near `cap`, under ids derived from the
//!   entry's, so appending the same batch twice adds nothing;
//!   `read_audit(upto, max)` returns the newest `max` records of entries up
//!   to `upto`, oldest first.
//! - `directory(proposed)` stores the directory once (the first node's) and
//!   returns the one every node must use.
//!
//! Integration events have a contract of their own beside it
//! ([`events::EventJournal`]: the journal, webhook cursors, dead letters, a
//! lease), kept by the same three stores.
//!
//! [`memory::MemoryLog`] (in-process, not durable), [`sqlite::SqliteLog`]
//! (embedded, durable: one node's data directory) and [`redis::RedisLog`]
//! (shared by several nodes) implement it and pass the same contract tests
//! (`tests/store_contract.rs`). The engine's replication tasks
//! (`engine::replication`) run a node's engine as a replica over any of
//! them: every mode applies commands the same way, from the log.

pub mod any_journal;
pub mod events;
pub mod memory;
pub mod redis;
pub mod redis_config;
pub mod redis_primary;
pub mod snapshot_codec;
pub mod sqlite;
pub mod tokens;

use std::future::Future;
use std::time::Duration;

use crate::domain::LogEntry;

/// Why the shared store failed a call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached (Redis down, connection lost).
    #[error("shared store unavailable: {0}")]
    Unavailable(String),
    /// The store could not be reached, and nothing was sent to it: an
    /// append that fails so certainly changed nothing.
    #[error("shared store unreachable, nothing sent: {0}")]
    NotSent(String),
    /// The store holds something this node cannot read.
    #[error("shared store holds an unreadable entry: {0}")]
    Corrupt(String),
    /// Entries after the position asked for were trimmed away: restore the
    /// stored snapshot, then read after it.
    #[error("the shared log was trimmed past {0}")]
    Trimmed(LogId),
    /// The log no longer holds entry `{0}`, which this reader read from it:
    /// a failover to a replica that lacked it (an append never confirmed).
    /// Restore the stored snapshot, then read after it.
    #[error("the shared log lost entry {0} (a failover to a replica that lacked it)")]
    Diverged(LogId),
    /// The append reached the primary, but fewer replicas than required
    /// confirmed it in time: a failover may lose it, so its outcome is
    /// unknown.
    #[error("only {got} of the {wanted} replicas required confirmed the write in time")]
    NotReplicated {
        /// Replicas required.
        wanted: u32,
        /// Replicas that confirmed.
        got: u32,
    },
}

/// Audit records of one log entry at most (a bigger batch is cut, with a
/// warning): the record's stream id is the entry's with its sequence scaled
/// by this, plus the record's index.
pub const AUDIT_PER_ENTRY: u64 = 1_000_000;

/// The stream id of the `index`th audit record of log entry `entry`.
pub fn audit_id(entry: &str, index: u64) -> (u64, u64) {
    let (ms, seq) = log_id_key(entry);
    (ms, seq * AUDIT_PER_ENTRY + index)
}

/// A log id as a comparable pair (`"<ms>-<seq>"`, as Redis stream ids);
/// an unreadable id sorts first.
pub fn log_id_key(id: &str) -> (u64, u64) {
    let mut parts = id.splitn(2, '-');
    let ms = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let seq = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (ms, seq)
}

/// A position in the log. `"0-0"` is before the first entry.
pub type LogId = String;

/// The shared, ordered, durable log of commands and what goes with it.
pub trait SharedLog: Clone + Send + Sync + 'static {
    /// Appends entries at the end of the log, in order.
    fn append(&self, entries: Vec<LogEntry>)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `max` entries after `after`, waiting up to `block` for one.
    fn read_after(
        &self,
        after: &str,
        max: usize,
        block: Duration,
    ) -> impl Future<Output = Result<Vec<(LogId, LogEntry)>, StoreError>> + Send;

    /// A new node id, never given out before.
    fn new_node(&self) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// Keeps `node` alive for `ttl`, recording that it applied the log up to
    /// `applied`.
    fn beat(
        &self,
        node: u32,
        ttl: Duration,
        applied: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The least log position a live node reported applying (`None` when no
    /// node is alive): the log may be trimmed up to it without leaving a
    /// live node behind.
    fn min_applied(&self) -> impl Future<Output = Result<Option<LogId>, StoreError>> + Send;

    /// Stores `data`, the state after entry `at`, unless a snapshot of a
    /// later entry is stored already.
    fn put_snapshot(
        &self,
        at: &str,
        data: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The stored snapshot and the entry it was taken after.
    fn snapshot(&self) -> impl Future<Output = Result<Option<(LogId, String)>, StoreError>> + Send;

    /// Whether `node` may take the next snapshot: true for one caller per
    /// `every`.
    fn claim_snapshot(
        &self,
        node: u32,
        every: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Appends the audit records (JSON) of log entry `entry`, keeping about
    /// the newest `cap` records; a batch already there is not added again.
    fn append_audit(
        &self,
        entry: &str,
        records: Vec<String>,
        cap: usize,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The newest `max` audit records of log entries up to `upto`, oldest
    /// first.
    fn read_audit(
        &self,
        upto: &str,
        max: usize,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Drops the entries before `before`. Never moves back: a `before`
    /// earlier than an earlier trim changes nothing.
    fn trim(&self, before: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Registered nodes other than `me` whose heartbeat expired; they are
    /// unregistered by this call.
    fn dead_nodes(&self, me: u32) -> impl Future<Output = Result<Vec<u32>, StoreError>> + Send;

    /// Stores `proposed` as the directory if none is stored yet, and returns
    /// the stored one.
    fn directory(&self, proposed: &str) -> impl Future<Output = Result<String, StoreError>> + Send;
}
