//! The engine: the one task that owns the domain core and the local sessions.
//!
//! # Ownership
//! Like rumqttd's router, a single [`Engine`] task owns every piece of mutable
//! state: the [`Core`] (presence, cells, items, queues), the registry of this
//! node's sessions and what each watches, the audit log and the event
//! sequence. Everyone else holds an [`EngineHandle`] and sends it
//! [`Request`]s over one bounded channel; answers come back on oneshots.
//! Nothing is shared under a lock, so nothing can be observed half-applied.
//!
//! # Exactly once
//! Requests are applied strictly one at a time, in the order they arrive on
//! the channel. The core checks every precondition (the item is still queued,
//! the taker is a member, the agent is under its cap) inside the same
//! `apply` that makes the change, so of twenty simultaneous takes the first
//! one applied wins and the nineteen after it see the item assigned and are
//! told who won. Every event the core produces is published right after its
//! command, before the next request is read, so clients see events in the
//! order they happened, each with its sequence number.
//!
//! # Fan-out never blocks
//! Pushes go into each session's bounded [`outbox`]; a full outbox gets its
//! session cut off (`slow_consumer`) rather than stalling the engine.
//!
//! # One apply path, every mode
//! The core is deterministic and its commands are plain values, so the
//! engine is always a replica of a log: it proposes a command (its
//! [`EngineOutput`]), the [`replication`] tasks append it to the log (in
//! memory, in the embedded database, or in Redis) and feed every entry back
//! in log order, and only then is it applied and answered. A `201` or an
//! `ok` therefore always means the command is in the log.

mod accounts;
mod admin_api;
mod board;
mod busy;
mod credentials;
mod directory_io;
mod directory_push;
mod event_writer;
mod handlers;
pub mod integration_events;
mod items_api;
mod local;
mod outbox;
mod presence_api;
mod proposals;
mod publish;
mod recent;
mod replica;
pub mod replication;
mod request;
mod scope;
mod stats;
mod submit;
pub mod views;
mod visitors;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

pub use crate::clock::now_ms;
pub use crate::replica::audit::{AuditBatch, AuditLog, AuditQuery, AuditRecord};
pub use crate::replica::{ReplicaSnapshot, SNAPSHOT_FORMAT};
pub use admin_api::{AdminOp, IntegrationChange, MAX_PAGE, Page, WebhookPatch, roles_from};
pub use board::{BoardCursor, BoardPiece, WatchAnswer};
pub use busy::ENGINE_BUSY;
pub use outbox::{CloseReason, Frame, OutboxReceiver, OutboxSender, outbox};
pub use request::{
    Answer, Caller, CellSpec, HttpOp, ItemChangeRequest, ItemFilter, ItemsOp, PresenceChange,
    Request, SessionOp, WatchRequest,
};

use crate::api_error::{ApiError, ErrorCode};
use crate::domain::{Core, LogEntry, Millis};
use crate::replica::StateMachine;

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Audit records kept in memory.
    pub audit_capacity: usize,
    /// This node's id (the high 32 bits of its session ids).
    pub node: u32,
    /// Where item events go as outbound webhooks (disabled by default).
    pub webhooks: crate::webhooks::WebhookSender,
    /// Recent pushes kept for consoles that resume after a reconnect.
    pub resume_capacity: usize,
    /// Switch an agent unavailable after this long without console activity
    /// (off when `None`: availability is the agent's own switch).
    pub auto_away_ms: Option<Millis>,
    /// Whether this node writes the audit records of every log entry to the
    /// store, not only of its own: true when it is the log's only node
    /// (memory and embedded modes), so that entries a previous run of the
    /// node proposed, replayed after a crash, get their records stored too.
    pub audit_every_entry: bool,
    /// The directory's password hashes and integration keys at the start
    /// of the log (the administered ones come from the log and snapshots).
    pub credentials: crate::replica::credentials::Credentials,
    /// Where this node publishes the credentials table its logins and API
    /// keys are checked against, after every change.
    pub credentials_out:
        Option<tokio::sync::watch::Sender<std::sync::Arc<crate::auth::CredentialTable>>>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            audit_capacity: 200_000,
            node: 0,
            webhooks: crate::webhooks::WebhookSender::disabled(),
            resume_capacity: 16_384,
            auto_away_ms: None,
            audit_every_entry: false,
            credentials: Default::default(),
            credentials_out: None,
        }
    }
}

/// What an engine sends out: the [`replication`] tasks take both.
#[derive(Debug)]
pub struct EngineOutput {
    /// Commands to append to the log.
    pub proposals: mpsc::UnboundedReceiver<LogEntry>,
    /// Audit records of applied entries, for the store's audit stream.
    pub audit: mpsc::UnboundedReceiver<AuditBatch>,
    /// Integration events of applied entries, for the store's journal:
    /// one batch per slice of entries, even one without events (see
    /// [`integration_events`]).
    pub events: mpsc::UnboundedReceiver<integration_events::EventBatch>,
    /// Set by the engine when the log says a peer dropped this node while
    /// it ran on (see `Engine::dropped_by_peer`); the heartbeat clears it
    /// and rejoins under a new node id.
    pub dropped: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// The state owner. Built by [`Engine::spawn`], driven by its own task.
///
/// Each field says who owns it and why it is here: the replicated state is
/// one value ([`StateMachine`]) changed only by applying log entries; every
/// other field is this node's own and never enters a snapshot.
#[derive(Debug)]
pub struct Engine {
    /// Replicated: what every replica computes alike from the log.
    state: StateMachine,
    /// This node's sessions: whose, where pushes go, what they watch.
    local: local::LocalSessions,
    /// This node's proposals on their way through the log.
    proposals: proposals::Proposals,
    /// The last `watch` snapshot, reused while nothing changed.
    board: board::BoardCache,
    /// Visitors connected to this node, by chat: their sockets and the last
    /// queue position they were told.
    visitor_sockets: HashMap<crate::domain::ItemId, visitors::VisitorSocket>,
    /// This node's id.
    node: u32,
    /// Cut off, or dropped by a peer, and the heartbeat has not rejoined
    /// under a new id yet: consoles are refused meanwhile, since a session
    /// opened under the old id would be closed by the rejoin.
    rejoining: bool,
    /// Shared with the heartbeat task: see [`EngineOutput::dropped`].
    dropped: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Outbound webhooks of item events (never blocks).
    webhooks: crate::webhooks::WebhookSender,
    /// Recent agent pushes, for consoles that resume after a reconnect.
    recent: recent::RecentPushes,
    /// Auto-away limit, when enabled.
    auto_away_ms: Option<Millis>,
    /// Where the audit records of applied log entries go, to be stored.
    audit_out: mpsc::UnboundedSender<AuditBatch>,
    /// See [`EngineConfig::audit_every_entry`].
    audit_every_entry: bool,
    /// Where the integration events of applied entries go, to be written.
    events_out: mpsc::UnboundedSender<integration_events::EventBatch>,
    /// The events of the entries of the slice being applied.
    pending_events: Vec<(String, Vec<String>)>,
    /// See [`EngineConfig::credentials_out`].
    credentials_out:
        Option<tokio::sync::watch::Sender<std::sync::Arc<crate::auth::CredentialTable>>>,
}

/// A cheap, cloneable way to talk to the engine task.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Request>,
}

fn engine_gone() -> ApiError {
    ApiError::new(ErrorCode::Unavailable, "the server is shutting down")
}

impl EngineHandle {
    /// Sends a request and waits for its answer.
    pub async fn call<T>(&self, make: impl FnOnce(Answer<T>) -> Request) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| engine_gone())?;
        // Dropped unanswered: the request reached the engine, which may
        // have proposed it before it stopped.
        rx.await.map_err(|_| {
            ApiError::new(
                ErrorCode::OutcomeUnknown,
                "the node stopped before answering: the write may or may not be applied; \
                 retry with the same idempotency key to learn which",
            )
        })?
    }

    /// Sends a request that has no answer.
    pub async fn send(&self, req: Request) {
        let _ = self.tx.send(req).await;
    }

    /// Sends a request from a place that cannot wait (a `Drop`).
    pub fn send_later(&self, req: Request) {
        if let Err(mpsc::error::TrySendError::Full(req)) = self.tx.try_send(req) {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(req).await;
            });
        }
    }

    /// Tells every session the server is going away and drops them.
    pub async fn going_away(&self) {
        let (tx, rx) = oneshot::channel();
        if self
            .tx
            .send(Request::GoingAway { answer: tx })
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// The replicated state after the last applied log entry (`None` when
    /// the engine is gone).
    pub async fn snapshot(&self) -> Option<ReplicaSnapshot> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Request::Snapshot { answer: tx }).await.ok()?;
        rx.await.ok()
    }

    /// Replaces the replicated state with a stored snapshot, and the audit
    /// with the history before it.
    pub async fn restore(
        &self,
        snapshot: ReplicaSnapshot,
        audit: Vec<AuditRecord>,
    ) -> Result<(), ApiError> {
        self.call(|answer| Request::Restore {
            snapshot: Box::new(snapshot),
            audit,
            answer,
        })
        .await
    }

    /// Number of open local sessions.
    pub async fn session_count(&self) -> usize {
        let (tx, rx) = oneshot::channel();
        if self
            .tx
            .send(Request::SessionCount { answer: tx })
            .await
            .is_err()
        {
            return 0;
        }
        rx.await.unwrap_or(0)
    }
}

impl Engine {
    /// Starts the engine task over `core`; it runs until every handle is
    /// dropped. It applies nothing until its output is connected to a log
    /// ([`replication::start`]).
    pub fn spawn(core: Core, config: EngineConfig) -> (EngineHandle, EngineOutput) {
        let (tx, rx) = mpsc::channel(4096);
        let (log, proposals) = mpsc::unbounded_channel();
        let (audit_out, audit) = mpsc::unbounded_channel();
        let (events_out, events) = mpsc::unbounded_channel();
        let agents = core.directory().agents().len();
        let groups = core.directory().groups().len();
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let engine = Engine {
            state: StateMachine::new(core, config.credentials, config.audit_capacity),
            credentials_out: config.credentials_out,
            local: local::LocalSessions::new(agents, groups),
            proposals: proposals::Proposals::new(log),
            board: board::BoardCache::default(),
            visitor_sockets: HashMap::new(),
            node: config.node,
            rejoining: false,
            dropped: dropped.clone(),
            webhooks: config.webhooks,
            recent: recent::RecentPushes::new(config.resume_capacity),
            auto_away_ms: config.auto_away_ms,
            audit_out,
            audit_every_entry: config.audit_every_entry,
            events_out,
            pending_events: Vec::new(),
        };
        engine.publish_credentials();
        tokio::spawn(engine.run(rx));
        (
            EngineHandle { tx },
            EngineOutput {
                proposals,
                audit,
                events,
                dropped,
            },
        )
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        let mut census = tokio::time::interval(Duration::from_secs(5));
        census.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut away_check = tokio::time::interval(Duration::from_millis(250));
        away_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let busy = busy::BusyClock::new();
        loop {
            let deadline = if self.proposals.tick_in_flight {
                None
            } else {
                self.state.core().poll_timeout()
            };
            let sleep = deadline.map(|at| {
                let wait = at.saturating_sub(now_ms());
                tokio::time::sleep(Duration::from_millis(wait))
            });
            tokio::select! {
                req = rx.recv() => match req {
                    Some(req) => {
                        let (what, started) = (req.kind(), Instant::now());
                        self.handle(req);
                        busy.record(what, started);
                    }
                    None => break,
                },
                () = async { sleep.expect("guarded").await }, if sleep.is_some() => {
                    let started = Instant::now();
                    self.timers_due();
                    busy.record("timers", started);
                }
                _ = census.tick() => {
                    let started = Instant::now();
                    stats::census(self.state.core());
                    busy.record("census", started);
                }
                _ = away_check.tick(), if self.auto_away_ms.is_some()
                    || self.state.core().directory().any_auto_away() => {
                    let started = Instant::now();
                    self.auto_away_idle_agents();
                    busy.record("auto_away", started);
                }
            }
        }
    }
}
