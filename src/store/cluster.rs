//! Running a node's engine as a replica of the shared log.
//!
//! # Who owns what
//! The log (in the [`SharedLog`]) is the truth. Each node's engine owns a
//! replica of the core built by applying the log in order; three tasks per
//! node connect the two:
//! - the **proposer** appends this node's commands (batched, in the order the
//!   engine proposed them) and reports a failed append to the engine, which
//!   answers `unavailable` instead of losing the write;
//! - the **tailer** reads the log after the last id it applied and feeds each
//!   entry to the engine; after a lost connection it resumes from that id, so
//!   no entry is skipped or applied twice;
//! - the **heartbeat** keeps this node alive in the store and reports nodes
//!   whose heartbeat expired by appending `DropNode`, which closes their
//!   sessions on every replica (their agents then get the reconnect grace).
//!
//! # Exactly once
//! Every replica applies the same entries in the same order with a
//! deterministic core, so every replica makes the same decision: the first
//! take of an item in the log wins everywhere, later ones fail everywhere. A
//! timer fires when a `Tick` entry is applied; several nodes appending ticks
//! changes nothing, because a timer fires once, at the first tick past it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::{LogId, SharedLog, StoreError};
use crate::api_error::{ApiError, ErrorCode};
use crate::engine::{EngineHandle, LogEntry, Request};

/// Entries read per call.
const BATCH: usize = 512;

/// Applies the whole log to a fresh engine before the node serves anything,
/// so a node that starts joins with the full state. Returns the last id.
pub async fn replay<L: SharedLog>(log: &L, engine: &EngineHandle) -> Result<LogId, StoreError> {
    let mut last: LogId = "0-0".into();
    loop {
        let batch = log.read_after(&last, BATCH * 8, Duration::ZERO).await?;
        if batch.is_empty() {
            return Ok(last);
        }
        for (id, entry) in batch {
            engine.send(Request::Replicated { entry }).await;
            last = id;
        }
    }
}

/// Starts the proposer, tailer and heartbeat tasks of a node.
pub fn start<L: SharedLog>(
    log: L,
    engine: EngineHandle,
    proposals: mpsc::UnboundedReceiver<LogEntry>,
    node: u32,
    after: LogId,
    heartbeat_ttl: Duration,
    ready: Arc<AtomicBool>,
) {
    tokio::spawn(propose(
        log.clone(),
        engine.clone(),
        proposals,
        ready.clone(),
    ));
    tokio::spawn(tail(log.clone(), engine.clone(), after, ready.clone()));
    tokio::spawn(heartbeat(log, node, heartbeat_ttl, ready));
}

async fn propose<L: SharedLog>(
    log: L,
    engine: EngineHandle,
    mut proposals: mpsc::UnboundedReceiver<LogEntry>,
    ready: Arc<AtomicBool>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while proposals.recv_many(&mut batch, BATCH).await > 0 {
        let reqs: Vec<u64> = batch.iter().map(|e| e.req).collect();
        let entries = std::mem::take(&mut batch);
        metrics::counter!("switchboard_redis_round_trips_total").increment(1);
        let appended = log.append(entries).await;
        if appended.is_ok() {
            ready.store(true, Ordering::Relaxed);
        }
        if let Err(e) = appended {
            metrics::counter!("switchboard_redis_errors_total").increment(1);
            ready.store(false, Ordering::Relaxed);
            tracing::warn!(error = %e, "cannot append to the shared log: refusing the writes");
            for req in reqs {
                let error = ApiError::new(
                    ErrorCode::Unavailable,
                    "the shared store is unavailable; nothing was changed, try again",
                );
                engine.send(Request::ProposalFailed { req, error }).await;
            }
        }
    }
}

async fn tail<L: SharedLog>(log: L, engine: EngineHandle, mut last: LogId, ready: Arc<AtomicBool>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match log.read_after(&last, BATCH, Duration::from_secs(2)).await {
            Ok(batch) => {
                backoff = Duration::from_millis(100);
                if !ready.swap(true, Ordering::Relaxed) {
                    tracing::info!(after = %last, "shared log reachable again; resumed");
                }
                for (id, entry) in batch {
                    engine.send(Request::Replicated { entry }).await;
                    last = id;
                }
            }
            Err(e) => {
                metrics::counter!("switchboard_redis_errors_total").increment(1);
                if ready.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "lost the shared log; not ready until it is back");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

async fn heartbeat<L: SharedLog>(log: L, node: u32, ttl: Duration, ready: Arc<AtomicBool>) {
    let every = ttl / 3;
    loop {
        let beat = log.beat(node, ttl).await;
        if beat.is_ok() {
            match log.dead_nodes(node).await {
                Ok(dead) => {
                    let entries: Vec<LogEntry> = dead
                        .into_iter()
                        .inspect(|n| {
                            tracing::warn!(
                                node = n,
                                "node stopped heartbeating: dropping its sessions"
                            )
                        })
                        .map(|n| LogEntry {
                            origin: node,
                            req: 0,
                            now: crate::engine::now_ms(),
                            op: crate::engine::LogOp::DropNode(n),
                        })
                        .collect();
                    if !entries.is_empty() {
                        let _ = log.append(entries).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot check peers' heartbeats"),
            }
        } else {
            ready.store(false, Ordering::Relaxed);
        }
        tokio::time::sleep(every).await;
    }
}
