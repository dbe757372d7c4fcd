//! Running a node: build the core from a directory, start the engine, serve
//! HTTP and WebSocket until `shutdown` resolves, then leave gracefully.
//!
//! Shutdown is a parameter (as in mini-redis's `server::run`), so tests drive
//! it with a oneshot and the binary with ctrl-c / SIGTERM.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::auth::Auth;
use crate::directory_file::LoadedDirectory;
use crate::domain::{Core, CoreConfig};
use crate::engine::replication::{self, replay};
use crate::engine::{Engine, EngineConfig, EngineHandle};
use crate::replica::credentials::Credentials;
use crate::store::SharedLog;
use crate::store::any_journal::EventFeed;
use crate::store::events::EventJournal;
use crate::store::memory::MemoryLog;
use crate::store::redis::{RedisLog, RedisTokens};
use crate::store::redis_config::RedisConfig;
use crate::store::sqlite::SqliteLog;
use crate::store::tokens::StoredTokens;
use crate::transport::limits::{Limits, default_origins};
use crate::transport::{AppState, TransportConfig, router};
use crate::webhooks::WebhookSender;
use crate::webhooks::delivery::{DeliveryConfig, Webhooks};
use std::sync::atomic::AtomicBool;

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Agents, groups, memberships and password hashes.
    pub directory: LoadedDirectory,
    /// The integrations' API key.
    pub api_key: String,
    /// Reconnect grace, token lifetime.
    pub core: CoreConfig,
    /// Login tokens expire after this long unused.
    pub token_ttl: Duration,
    /// Transport limits and the static files' place.
    pub transport: TransportConfig,
    /// How long in-flight work may take to finish at shutdown.
    pub shutdown_timeout: Duration,
    /// Where the log and everything else that must outlive a request is
    /// kept.
    pub storage: Storage,
    /// A node whose heartbeat is this old counts as dead (cluster mode).
    pub heartbeat_ttl: Duration,
    /// How often one node snapshots the state and trims the log (cluster
    /// mode).
    pub snapshot_interval: Duration,
    /// Outbound webhooks of item events (docs/webhooks.md); `None` sends none.
    pub webhooks: Option<crate::webhooks::WebhookConfig>,
    /// Integration events: the journal's size and how webhooks of
    /// integrations are delivered.
    pub events: EventsConfig,
    /// Switch agents unavailable after this long without console activity
    /// (off by default).
    pub auto_away: Option<Duration>,
    /// Simulated integrations, visitors and agents (`serve --demo`).
    pub demo: bool,
}

/// The journal of integration events and their delivery.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// Events kept in the journal (`--event-retention`).
    pub capacity: usize,
    /// Attempts, backoff, the private CA.
    pub delivery: DeliveryConfig,
}

impl Default for EventsConfig {
    /// 500,000 events (see docs/webhooks.md, Retention).
    fn default() -> Self {
        EventsConfig {
            capacity: 500_000,
            delivery: DeliveryConfig::default(),
        }
    }
}

/// Where a node keeps its state.
#[derive(Debug, Clone)]
pub enum Storage {
    /// In this process's memory only: lost at exit (tests, throwaway demos).
    Memory,
    /// An in-process log shared with other nodes of this process: several
    /// nodes in one test, on paused time.
    Shared(MemoryLog),
    /// In an embedded database in this data directory: a single node that
    /// loses nothing acknowledged across restarts and crashes.
    Embedded(std::path::PathBuf),
    /// In this Redis (`redis://host:port/db`, or found through Sentinel),
    /// shared by several nodes.
    Redis(RedisConfig),
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Listening or serving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The shared store failed at start.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// The data directory holds the state of another directory file: its
    /// agents and groups are not the ones given, so its state cannot be
    /// applied to them.
    #[error(
        "the data directory {} holds the state of another directory file (agents and groups); \
         start with the same --directory as before, then apply a changed file to the running \
         server with `switchboard import-directory FILE --user ADMIN --apply`; or start with \
         another --data-dir (or delete that data directory to start afresh)",
        .0.display()
    )]
    OtherDirectory(std::path::PathBuf),
    /// The directory stored in the store is not valid.
    #[error("the stored directory: {0}")]
    Directory(#[from] crate::directory_file::DirectoryFileError),
    /// The webhooks' HTTP client (its CA file) is not usable.
    #[error("{0}")]
    Webhooks(#[from] crate::webhooks::delivery::ClientError),
}

/// The started engine, the directory it runs with and where login tokens
/// live (`None`: in this process's memory).
type Started = (
    EngineHandle,
    LoadedDirectory,
    Option<StoredTokens>,
    tokio::sync::watch::Receiver<Arc<crate::auth::CredentialTable>>,
    EventFeed,
);

/// Starts the engine as a replica of the log in the configured storage.
async fn start_engine(
    config: &ServerConfig,
    ready: Arc<AtomicBool>,
) -> Result<Started, StartError> {
    match &config.storage {
        Storage::Memory => start_replica(MemoryLog::default(), config, ready, true).await,
        Storage::Shared(log) => start_replica(log.clone(), config, ready, false).await,
        Storage::Embedded(dir) => {
            let log = SqliteLog::open(dir)?;
            tracing::info!(database = %log.path().display(), "keeping state in the data directory");
            let tokens = StoredTokens::Embedded(log.tokens());
            let (engine, directory, _, table, feed) =
                start_replica(log, config, ready, true).await?;
            Ok((engine, directory, Some(tokens), table, feed))
        }
        Storage::Redis(redis) => {
            let log = RedisLog::open(redis).await?;
            let tokens = StoredTokens::Redis(RedisTokens::new(&log));
            let (engine, directory, _, table, feed) =
                start_replica(log, config, ready, false).await?;
            Ok((engine, directory, Some(tokens), table, feed))
        }
    }
}

/// Starts an engine over `log`: takes the directory stored there (the
/// first node's), replays the snapshot and the log after it (so the node
/// serves with the full state), then starts the replication tasks. `alone`
/// says the node is the log's only one (memory, embedded).
async fn start_replica<L: SharedLog + EventJournal>(
    log: L,
    config: &ServerConfig,
    ready: Arc<AtomicBool>,
    alone: bool,
) -> Result<Started, StartError> {
    let text = log.directory(&config.directory.source).await?;
    if text != config.directory.source {
        if let Storage::Embedded(dir) = &config.storage {
            return Err(StartError::OtherDirectory(dir.clone()));
        }
        tracing::warn!("using the directory already stored in Redis, not this node's");
    }
    // The same text as given: reuse its parse rather than build a second
    // copy of a directory of thousands of agents.
    let directory = if text == config.directory.source {
        config.directory.clone()
    } else {
        crate::directory_file::parse(&text)?
    };
    let node = log.new_node().await?;
    // "0-0": until it has caught up, this node holds back any trim.
    log.beat(node, config.heartbeat_ttl, "0-0").await?;
    let core = Core::new(directory.directory.clone(), config.core);
    let (credentials_out, table) = tokio::sync::watch::channel(Arc::default());
    let (engine, output) = Engine::spawn(
        core,
        EngineConfig {
            node,
            credentials: Credentials::from_directory(
                &directory.password_hashes,
                &directory.integrations,
            ),
            credentials_out: Some(credentials_out),
            audit_every_entry: alone,
            // Every replica publishes every event; only the node that
            // proposed an entry sends its webhooks (see `WebhookSender::mute`).
            webhooks: config
                .webhooks
                .clone()
                .map(WebhookSender::start)
                .unwrap_or_default(),
            auto_away_ms: config.auto_away.map(|d| d.as_millis() as u64),
            ..EngineConfig::default()
        },
    );
    let audit_capacity = EngineConfig::default().audit_capacity;
    if matches!(config.storage, Storage::Redis(_)) {
        replication::store_origin(&log, &engine).await?;
    }
    let last = replay(&log, &engine, audit_capacity).await?;
    tracing::info!(node, after = %last, "started with the full state");
    let feed = EventFeed::new(log.any());
    replication::start(
        log,
        engine.clone(),
        output,
        node,
        last,
        replication::NodeSettings {
            audit_capacity,
            heartbeat_ttl: config.heartbeat_ttl,
            snapshot_every: config.snapshot_interval,
            event_capacity: config.events.capacity,
        },
        ready,
        feed.clone(),
    );
    Ok((engine, directory, None, table, feed))
}

/// Serves on `listener` until `shutdown` completes. On shutdown every console
/// is told `server_going_away` (so it reconnects elsewhere at once) and no
/// agent is logged out: a restart is not a logout.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let ready = Arc::new(AtomicBool::new(true));
    // Before the engine: what it records while replaying counts too, and
    // its busy clock registers its histogram once at start.
    crate::metrics::install();
    let (engine, directory, shared_tokens, table, feed) =
        start_engine(&config, ready.clone()).await?;
    let webhooks = Webhooks {
        feed,
        client: crate::webhooks::delivery::client(&config.events.delivery)?,
        config: Arc::new(config.events.delivery.clone()),
        table: table.clone(),
    };
    // A random id for the delivery lease: node ids change on a rejoin.
    webhooks.clone().start(rand::random());
    if config.demo {
        crate::demo::spawn(engine.clone(), &directory.directory, Duration::from_secs(4));
    }
    // Passwords and integration keys: the replicated ones, which start as
    // the stored directory's and change through the log.
    let mut auth = Auth::new(table, &config.api_key, config.token_ttl.as_millis() as u64);
    if let Some(tokens) = shared_tokens {
        auth = auth.with_shared_tokens(tokens);
    }
    let auth = Arc::new(auth);
    let mut transport = config.transport.clone();
    if transport.allowed_origins.is_empty() {
        transport.allowed_origins = default_origins(listener.local_addr()?);
    }
    let transport = Arc::new(transport);
    let sessions = crate::transport::open_sessions::OpenSessions::default();
    let state = AppState {
        engine: engine.clone(),
        auth,
        limits: Arc::new(Limits::new(&transport)),
        ready,
        config: transport.clone(),
        webhooks,
        sessions: sessions.clone(),
    };
    let app = router(state);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (force_tx, force_rx) = tokio::sync::oneshot::channel::<()>();
    let notify = engine.clone();
    let bound = config.shutdown_timeout;
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: telling every console to reconnect elsewhere");
        notify.going_away().await;
        let _ = stop_tx.send(());
        tokio::time::sleep(bound).await;
        let _ = force_tx.send(());
    });
    let serve = async {
        crate::transport::connections::serve(listener, app, &transport, async {
            let _ = stop_rx.await;
        })
        .await?;
        // Upgraded sockets outlive their HTTP connections: each session
        // writes its `closing` frame and closes before the process exits.
        sessions.all_closed().await;
        Ok::<(), std::io::Error>(())
    };
    tokio::select! {
        result = serve => Ok(result?),
        _ = force_rx => {
            tracing::warn!("connections still open after the shutdown bound; exiting anyway");
            Ok(())
        }
    }
}
