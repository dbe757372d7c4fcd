//! Shared storage for several nodes: the ordered command log, node
//! heartbeats and the directory.
//!
//! # The contract ([`SharedLog`])
//! - `append` adds entries at the end of one totally ordered log, atomically
//!   and durably as far as the backend is (Redis: one `XADD` each, fsynced
//!   before the reply with `appendfsync always`). Once `append` returned, the
//!   entry will be read by every reader, in the same position for all.
//! - `read_after(id)` returns the entries after `id` in log order, so a reader
//!   that reconnects resumes exactly where it was, without a gap.
//! - `beat(node)` keeps a node's heartbeat alive for `ttl`; `dead_nodes`
//!   lists the registered nodes whose heartbeat expired (a crashed node's
//!   sessions then vanish from presence).
//! - `directory(proposed)` stores the directory once (the first node's) and
//!   returns the one every node must use.
//!
//! [`memory::MemoryLog`] and [`redis::RedisLog`] implement it and pass the
//! same contract tests (`tests/store_contract.rs`). [`cluster`] runs a node's
//! engine as a replica over any of them.

pub mod cluster;
pub mod memory;
pub mod redis;

use std::future::Future;
use std::time::Duration;

use crate::engine::LogEntry;

/// Why the shared store failed a call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached (Redis down, connection lost).
    #[error("shared store unavailable: {0}")]
    Unavailable(String),
    /// The store holds something this node cannot read.
    #[error("shared store holds an unreadable entry: {0}")]
    Corrupt(String),
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

    /// Keeps `node` alive for `ttl`.
    fn beat(&self, node: u32, ttl: Duration)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Registered nodes other than `me` whose heartbeat expired; they are
    /// unregistered by this call.
    fn dead_nodes(&self, me: u32) -> impl Future<Output = Result<Vec<u32>, StoreError>> + Send;

    /// Stores `proposed` as the directory if none is stored yet, and returns
    /// the stored one.
    fn directory(&self, proposed: &str) -> impl Future<Output = Result<String, StoreError>> + Send;
}
