//! Running a node's engine as a replica of the log, in every mode.
//!
//! # One apply path
//! The engine never applies a command where it is proposed: it proposes it,
//! and applies it when it comes back from the log. The log is an in-process
//! [`MemoryLog`](crate::store::memory::MemoryLog) (`--memory`), the embedded
//! database of a single node (the default) or Redis shared by several nodes;
//! the engine cannot tell them apart.
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
//! - the **event writer** writes the integration events of every applied
//!   entry to the store's journal (`event_writer`, which says why no event
//!   is lost even to `kill -9`);
//! - the **heartbeat** keeps this node alive in the store (with how far it
//!   applied the log and wrote the events) and reports nodes whose heartbeat expired by appending
//!   `DropNode`, which closes their sessions on every replica (their agents
//!   then get the reconnect grace);
//! - the **snapshotter**: once per interval one node (whoever claims it)
//!   stores a snapshot of its replica and trims the log before the least
//!   position any live node applied, so the log stays short and a starting
//!   node restores the snapshot instead of replaying from the beginning.
//!
//! # Falling behind a trim
//! A node that could not read the log for longer than a heartbeat TTL (a long
//! pause, a partition) may find it trimmed past its position: the store
//! answers `Trimmed` instead of a silent gap, and the tailer restores the
//! stored snapshot (a full resync; see `engine::replica`), then reads on.
//!
//! # Losing entries in a failover
//! A Redis failover may promote a replica that lacks the last entries of the
//! old primary (appends whose replicas never confirmed them, answered
//! `outcome_unknown`), which this node may have applied already. The store
//! answers `Diverged` when it finds the log no longer holds the entry the
//! tailer read last, and the tailer resynchronises from the snapshot as after
//! a trim, so the node never keeps a state the log does not hold. Clusters
//! keep a snapshot in Redis from their first start ([`store_origin`]), so there
//! is always one to restore.
//!
//! # Exactly once
//! Every replica applies the same entries in the same order with a
//! deterministic core, so every replica makes the same decision: the first
//! take of an item in the log wins everywhere, later ones fail everywhere. A
//! timer fires when a `Tick` entry is applied; several nodes appending ticks
//! changes nothing, because a timer fires once, at the first tick past it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::event_writer::{Written, wait_written};
use crate::store::any_journal::EventFeed;

use super::EngineOutput;

use super::{AuditBatch, AuditRecord, EngineHandle, LogEntry, ReplicaSnapshot, Request};
use crate::api_error::{ApiError, ErrorCode};
use crate::store::{AUDIT_PER_ENTRY, LogId, SharedLog, StoreError, log_id_key, snapshot_codec};

/// Entries read per call.
const BATCH: usize = 512;

/// Entries per message to the engine: a big batch read after a delay is
/// handed over in slices, so that requests of consoles and integrations
/// queued meanwhile get their turn between them.
const SLICE: usize = 32;

/// Hands `batch` to the engine in slices of [`SLICE`], in order.
async fn feed(engine: &EngineHandle, batch: Vec<(LogId, LogEntry)>) {
    let mut entries = batch.into_iter().peekable();
    while entries.peek().is_some() {
        let slice: Vec<_> = entries.by_ref().take(SLICE).collect();
        engine.send(Request::Replicated { entries: slice }).await;
    }
}

/// Brings a fresh engine up to the end of the log before the node serves
/// anything (the stored snapshot, then the entries after it), so a node that
/// starts joins with the full state. Returns the last id applied.
pub async fn replay<L: SharedLog>(
    log: &L,
    engine: &EngineHandle,
    audit_capacity: usize,
) -> Result<LogId, StoreError> {
    let mut last: LogId = match log.snapshot().await? {
        Some(_) => restore_stored(log, engine, audit_capacity).await?,
        None => "0-0".into(),
    };
    loop {
        let batch = match log.read_after(&last, BATCH * 8, Duration::ZERO).await {
            Err(StoreError::Trimmed(_)) => {
                last = restore_stored(log, engine, audit_capacity).await?;
                continue;
            }
            other => other?,
        };
        let Some((id, _)) = batch.last() else {
            return Ok(last);
        };
        last = id.clone();
        feed(engine, batch).await;
    }
}

/// Stores the state before the log's first entry as the snapshot if none
/// is stored yet, so a node that must resynchronise before the first
/// periodic snapshot (a failover lost entries it applied) has one.
pub async fn store_origin<L: SharedLog>(log: &L, engine: &EngineHandle) -> Result<(), StoreError> {
    if log.snapshot().await?.is_some() {
        return Ok(());
    }
    let Some(origin) = engine.snapshot().await else {
        return Ok(());
    };
    let at = origin.after.clone();
    let data = tokio::task::spawn_blocking(move || {
        serde_json::to_string(&origin).map(|json| snapshot_codec::encode(&json))
    })
    .await
    .map_err(|e| StoreError::Corrupt(e.to_string()))?
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    log.put_snapshot(&at, data).await
}

/// Restores the stored snapshot into the engine, with the audit history up
/// to it; returns the id it was taken after.
async fn restore_stored<L: SharedLog>(
    log: &L,
    engine: &EngineHandle,
    audit_capacity: usize,
) -> Result<LogId, StoreError> {
    let (at, data) = log.snapshot().await?.ok_or_else(|| {
        StoreError::Corrupt("the log was trimmed but no snapshot is stored".into())
    })?;
    let parse_at = at.clone();
    let snapshot: ReplicaSnapshot = tokio::task::spawn_blocking(move || {
        let json = snapshot_codec::decode(&data)?;
        serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("snapshot after {parse_at}: {e}")))
    })
    .await
    .map_err(|e| StoreError::Corrupt(e.to_string()))??;
    let audit: Vec<AuditRecord> = log
        .read_audit(&at, audit_capacity)
        .await?
        .iter()
        .filter_map(|r| match serde_json::from_str(r) {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::warn!(error = %e, "skipping an unreadable audit record");
                None
            }
        })
        .collect();
    engine
        .restore(snapshot, audit)
        .await
        .map_err(|e| StoreError::Corrupt(e.message))?;
    metrics::counter!("switchboard_snapshot_restores_total").increment(1);
    tracing::info!(after = %at, "restored the stored snapshot");
    Ok(at)
}

/// How a node takes part in the cluster.
#[derive(Debug, Clone, Copy)]
pub struct NodeSettings {
    /// Audit records kept (in the engine, and about as many in the shared
    /// audit stream).
    pub audit_capacity: usize,
    /// A node that did not beat for this long is dropped.
    pub heartbeat_ttl: Duration,
    /// How often one node snapshots and trims the log.
    pub snapshot_every: Duration,
    /// Integration events kept in the journal.
    pub event_capacity: usize,
}

/// Starts the proposer, tailer, audit writer, event writer, heartbeat and
/// snapshotter tasks of a node. Events go to `events`' journal (the
/// store's) and live tail.
#[allow(clippy::too_many_arguments)]
pub fn start<L: SharedLog>(
    log: L,
    engine: EngineHandle,
    output: EngineOutput,
    node: u32,
    after: LogId,
    settings: NodeSettings,
    ready: Arc<AtomicBool>,
    events: EventFeed,
) {
    // What this node reports as applied: the last entry whose events it
    // wrote (see `event_writer`).
    let (written_tx, written) = watch::channel::<LogId>("0-0".into());
    tokio::spawn(super::event_writer::write_events(
        events,
        output.events,
        settings.event_capacity,
        written_tx,
    ));
    // This node's id in the log: a new one after it was cut off for longer
    // than its heartbeat lives (see `heartbeat`).
    let node = Arc::new(AtomicU32::new(node));
    tokio::spawn(propose(
        log.clone(),
        engine.clone(),
        output.proposals,
        ready.clone(),
    ));
    tokio::spawn(tail(
        log.clone(),
        engine.clone(),
        after,
        settings.audit_capacity,
        ready.clone(),
    ));
    tokio::spawn(write_audit(
        log.clone(),
        output.audit,
        settings.audit_capacity,
    ));
    tokio::spawn(heartbeat(
        log.clone(),
        engine.clone(),
        node.clone(),
        settings.heartbeat_ttl,
        written.clone(),
        ready.clone(),
        output.dropped,
    ));
    tokio::spawn(snapshotter(
        log,
        engine,
        node,
        settings.snapshot_every,
        ready,
        written,
    ));
}

async fn propose<L: SharedLog>(
    log: L,
    engine: EngineHandle,
    mut proposals: mpsc::UnboundedReceiver<LogEntry>,
    ready: Arc<AtomicBool>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let took = metrics::histogram!(crate::metrics::LOG_APPEND);
    let sizes = metrics::histogram!(crate::metrics::LOG_APPEND_ENTRIES);
    while proposals.recv_many(&mut batch, BATCH).await > 0 {
        let reqs: Vec<u64> = batch.iter().map(|e| e.req).collect();
        let entries = std::mem::take(&mut batch);
        if !ready.load(Ordering::Relaxed) {
            // The store was unreachable at the last try: refuse without
            // sending, so the refusal is certain (the tailer and the
            // heartbeat notice when it is back).
            for req in reqs {
                let error = ApiError::new(
                    ErrorCode::Unavailable,
                    "the shared store is unreachable; nothing was changed, try again",
                );
                engine.send(Request::ProposalFailed { req, error }).await;
            }
            continue;
        }
        metrics::counter!("switchboard_redis_round_trips_total").increment(1);
        sizes.record(reqs.len() as f64);
        let started = std::time::Instant::now();
        let appended = log.append(entries).await;
        took.record(started.elapsed().as_secs_f64());
        let error = match appended {
            Ok(()) => {
                engine.send(Request::ProposalsAppended { reqs }).await;
                continue;
            }
            Err(e) => e,
        };
        metrics::counter!("switchboard_redis_errors_total").increment(1);
        // Too few replicas confirmed: the store itself answers, so later
        // writes are still sent (they succeed once a replica keeps up).
        if !matches!(error, StoreError::NotReplicated { .. }) {
            ready.store(false, Ordering::Relaxed);
        }
        if let StoreError::NotSent(_) = error {
            tracing::warn!(%error, "cannot append to the shared log: refused");
            for req in reqs {
                let error = ApiError::new(
                    ErrorCode::Unavailable,
                    "the shared store is unreachable; nothing was changed, try again",
                );
                engine.send(Request::ProposalFailed { req, error }).await;
            }
            continue;
        }
        tracing::warn!(%error, "cannot append to the shared log: outcome unknown");
        // The entries may have reached the store before the error (a
        // timeout, a connection lost mid-answer, a primary that has them but
        // no replica yet): they may still be applied. Only a retry with the
        // same idempotency key can tell.
        for req in reqs {
            let error = ApiError::new(
                ErrorCode::OutcomeUnknown,
                "the shared store did not confirm the write: it may or may not be applied; \
                 retry with the same Idempotency-Key to learn which",
            );
            engine.send(Request::ProposalFailed { req, error }).await;
        }
    }
}

async fn tail<L: SharedLog>(
    log: L,
    engine: EngineHandle,
    mut last: LogId,
    audit_capacity: usize,
    ready: Arc<AtomicBool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match log.read_after(&last, BATCH, Duration::from_secs(2)).await {
            Ok(batch) => {
                backoff = Duration::from_millis(100);
                if !ready.swap(true, Ordering::Relaxed) {
                    tracing::info!(after = %last, "shared log reachable again; resumed");
                }
                if let Some((id, _)) = batch.last() {
                    last = id.clone();
                    feed(&engine, batch).await;
                }
            }
            Err(e @ (StoreError::Trimmed(_) | StoreError::Diverged(_))) => {
                tracing::warn!(error = %e, "resynchronising from the snapshot");
                match restore_stored(&log, &engine, audit_capacity).await {
                    Ok(id) => last = id,
                    Err(e) => {
                        // Not ready: writes would be appended but never
                        // applied here, so never answered.
                        ready.store(false, Ordering::Relaxed);
                        tracing::error!(error = %e, "cannot resynchronise");
                        tokio::time::sleep(backoff).await;
                    }
                }
            }
            Err(e) => {
                metrics::counter!("switchboard_redis_errors_total").increment(1);
                if ready.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "lost the shared log; not ready until it is back");
                }
                tokio::time::sleep(backoff).await;
                // Short: after a failover writes wait for the tailer (the node
                // is not ready until it reads again), and one attempt per
                // half second costs Redis nothing.
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
        }
    }
}

/// Beats this node's heartbeat, and drops the sessions of peers whose
/// heartbeat lapsed.
///
/// When this node itself cannot beat for longer than its heartbeat lives,
/// the others may have dropped its sessions (`DropNode`): it tells the
/// engine it is cut off (every console here is told to reconnect, so none
/// stays connected to a node the cluster no longer counts) and, once the
/// store answers again, comes back under a new node id, so that no late
/// `DropNode` of the old id can close a session opened since, and has the
/// old id's sessions closed through the log.
///
/// A store that hangs instead of failing can let the key expire with no
/// beat failing here; a peer then drops this node while it runs on. The
/// engine learns it from the log (`dropped`, already telling its consoles)
/// and this node rejoins the same way.
async fn heartbeat<L: SharedLog>(
    log: L,
    engine: EngineHandle,
    node: Arc<AtomicU32>,
    ttl: Duration,
    written: Written,
    ready: Arc<AtomicBool>,
    dropped: Arc<AtomicBool>,
) {
    let every = ttl / 3;
    let mut last_beat = tokio::time::Instant::now();
    let mut cut_off = false;
    loop {
        let me = node.load(Ordering::Relaxed);
        let at = written.borrow().clone();
        let beat = log.beat(me, ttl, &at).await;
        if dropped.swap(false, Ordering::Relaxed) {
            cut_off = true;
        }
        if beat.is_ok() && cut_off {
            match log.new_node().await {
                Ok(fresh) => {
                    tracing::warn!(
                        old = me,
                        new = fresh,
                        "the shared store is back: rejoining as a new node"
                    );
                    node.store(fresh, Ordering::Relaxed);
                    let _ = log.beat(fresh, ttl, &at).await;
                    engine
                        .send(Request::Rejoined {
                            old: me,
                            new: fresh,
                        })
                        .await;
                    cut_off = false;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take a new node id yet");
                    tokio::time::sleep(every).await;
                    continue;
                }
            }
        }
        if beat.is_ok() {
            last_beat = tokio::time::Instant::now();
            let me = node.load(Ordering::Relaxed);
            match log.dead_nodes(me).await {
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
                            origin: me,
                            req: 0,
                            now: crate::clock::now_ms(),
                            op: crate::domain::LogOp::DropNode(n),
                            key: None,
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
            if !cut_off && last_beat.elapsed() >= ttl {
                tracing::warn!(
                    node = me,
                    "no heartbeat for longer than its lifetime: the cluster may have dropped this \
                     node's sessions; telling its consoles to reconnect"
                );
                cut_off = true;
                engine.send(Request::CutOff).await;
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Once per `every`, if this node wins the claim: stores a snapshot of its
/// replica and trims the log before the least position a live node applied
/// (never past the snapshot), so no live node is left behind.
///
/// Not while the node is not ready: after a lost connection (a failover)
/// its replica may hold entries the log lost, until its tailer has checked
/// on reconnecting; a snapshot of that state would spread them.
async fn snapshotter<L: SharedLog>(
    log: L,
    engine: EngineHandle,
    node: Arc<AtomicU32>,
    every: Duration,
    ready: Arc<AtomicBool>,
    mut written: Written,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await;
    loop {
        tick.tick().await;
        if !ready.load(Ordering::Relaxed) {
            continue;
        }
        let me = node.load(Ordering::Relaxed);
        if !matches!(log.claim_snapshot(me, every).await, Ok(true)) {
            continue;
        }
        match snapshot_and_trim(&log, &engine, &mut written, every).await {
            Ok(Some((at, (bytes, json_bytes), before))) => {
                metrics::counter!("switchboard_snapshots_total").increment(1);
                metrics::gauge!("switchboard_snapshot_bytes").set(bytes as f64);
                tracing::info!(after = %at, bytes, json_bytes, trimmed_before = %before, "stored a snapshot");
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot store a snapshot"),
        }
    }
}

/// One snapshot and trim: the id it was taken after, its (stored, JSON)
/// sizes and where the log was trimmed; `None` when there is nothing to
/// snapshot yet.
async fn snapshot_and_trim<L: SharedLog>(
    log: &L,
    engine: &EngineHandle,
    written: &mut Written,
    bound: Duration,
) -> Result<Option<(LogId, (usize, usize), LogId)>, StoreError> {
    let Some(snapshot) = engine.snapshot().await else {
        return Ok(None);
    };
    let at = snapshot.after.clone();
    if at == "0-0" {
        return Ok(None);
    }
    // No snapshot (and so no trim) past an entry whose events are not in
    // the journal yet: they would never be derived again.
    if !wait_written(written, &at, bound).await {
        tracing::warn!(after = %at, "events not written yet: no snapshot this time");
        return Ok(None);
    }
    let (data, json_bytes) = tokio::task::spawn_blocking(move || {
        serde_json::to_string(&snapshot).map(|json| (snapshot_codec::encode(&json), json.len()))
    })
    .await
    .map_err(|e| StoreError::Corrupt(e.to_string()))?
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let bytes = (data.len(), json_bytes);
    log.put_snapshot(&at, data).await?;
    let before = match log.min_applied().await? {
        Some(min) if log_id_key(&min) < log_id_key(&at) => min,
        _ => at.clone(),
    };
    log.trim(&before).await?;
    Ok(Some((at, bytes, before)))
}

/// Appends the audit records of this node's log entries to the shared audit
/// stream. A batch that cannot be written is retried a few times (appending
/// it twice adds nothing), then dropped with a warning: the commands
/// themselves are safe in the log, only their audit lines would be missing.
async fn write_audit<L: SharedLog>(
    log: L,
    mut batches: mpsc::UnboundedReceiver<AuditBatch>,
    cap: usize,
) {
    while let Some(batch) = batches.recv().await {
        let mut records: Vec<String> = batch
            .records
            .iter()
            .filter_map(|r| serde_json::to_string(r).ok())
            .collect();
        if records.len() as u64 > AUDIT_PER_ENTRY {
            tracing::warn!(entry = %batch.entry, "too many audit records for one entry; cutting");
            records.truncate(AUDIT_PER_ENTRY as usize);
        }
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=5 {
            match log.append_audit(&batch.entry, records.clone(), cap).await {
                Ok(()) => break,
                Err(e) if attempt == 5 => {
                    metrics::counter!("switchboard_audit_dropped_total")
                        .increment(records.len() as u64);
                    tracing::warn!(error = %e, entry = %batch.entry, "dropping audit records");
                }
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
    }
}
