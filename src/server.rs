//! Running a node: build the core from a directory, start the engine, serve
//! HTTP and WebSocket until `shutdown` resolves, then leave gracefully.
//!
//! Shutdown is a parameter (as in mini-redis's `server::run`), so tests drive
//! it with a oneshot and the binary with ctrl-c / SIGTERM.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::auth::Auth;
use crate::directory_file::LoadedDirectory;
use crate::domain::{Core, CoreConfig};
use crate::engine::{Engine, EngineConfig, EngineHandle};
use crate::store::SharedLog;
use crate::store::cluster::{self, replay};
use crate::store::redis::{RedisLog, RedisTokens};
use crate::transport::limits::{Limits, default_origins};
use crate::transport::{AppState, TransportConfig, router};
use crate::webhooks::WebhookSender;
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
    /// Shared state in this Redis (`redis://host:port/db`); `None` runs in
    /// memory on this node alone.
    pub redis_url: Option<String>,
    /// A node whose heartbeat is this old counts as dead (cluster mode).
    pub heartbeat_ttl: Duration,
    /// How often one node snapshots the state and trims the log (cluster
    /// mode).
    pub snapshot_interval: Duration,
    /// Outbound webhooks of item events (docs/webhooks.md); `None` sends none.
    pub webhooks: Option<crate::webhooks::WebhookConfig>,
    /// Switch agents unavailable after this long without console activity
    /// (off by default).
    pub auto_away: Option<Duration>,
    /// Simulated integrations, visitors and agents (`serve --demo`).
    pub demo: bool,
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
    /// The directory stored in Redis is not valid.
    #[error("the directory stored in Redis: {0}")]
    Directory(#[from] crate::directory_file::DirectoryFileError),
}

/// Starts the engine: alone in memory, or as a replica of the shared log in
/// Redis (then the directory is the one stored there, and the whole log is
/// replayed before this returns, so the node serves with the full state).
async fn start_engine(
    config: &ServerConfig,
    ready: Arc<AtomicBool>,
) -> Result<(EngineHandle, LoadedDirectory, Option<RedisTokens>), StartError> {
    let Some(url) = &config.redis_url else {
        let core = Core::new(config.directory.directory.clone(), config.core);
        let webhooks = config.webhooks.clone().map(WebhookSender::start);
        return Ok((
            Engine::spawn(
                core,
                EngineConfig {
                    webhooks: webhooks.unwrap_or_default(),
                    auto_away_ms: config.auto_away.map(|d| d.as_millis() as u64),
                    ..EngineConfig::default()
                },
            ),
            config.directory.clone(),
            None,
        ));
    };
    let log = RedisLog::connect(url).await?;
    let text = log.directory(&config.directory.source).await?;
    if text != config.directory.source {
        tracing::warn!("using the directory already stored in Redis, not this node's");
    }
    let directory = crate::directory_file::parse(&text)?;
    let node = log.new_node().await?;
    // "0-0": until it has caught up, this node holds back any trim.
    log.beat(node, config.heartbeat_ttl, "0-0").await?;
    let (proposals_tx, proposals_rx) = tokio::sync::mpsc::unbounded_channel();
    let (audit_tx, audit_rx) = tokio::sync::mpsc::unbounded_channel();
    let core = Core::new(directory.directory.clone(), config.core);
    let engine = Engine::spawn(
        core,
        EngineConfig {
            node,
            log: Some(proposals_tx),
            audit_out: Some(audit_tx),
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
    let last = replay(&log, &engine, audit_capacity).await?;
    tracing::info!(node, after = %last, "joined the cluster with the full state");
    let tokens = RedisTokens::new(&log);
    cluster::start(
        log,
        engine.clone(),
        cluster::EngineOutput {
            proposals: proposals_rx,
            audit: audit_rx,
        },
        node,
        last,
        cluster::NodeSettings {
            audit_capacity,
            heartbeat_ttl: config.heartbeat_ttl,
            snapshot_every: config.snapshot_interval,
        },
        ready,
    );
    Ok((engine, directory, Some(tokens)))
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
    let (engine, directory, shared_tokens) = start_engine(&config, ready.clone()).await?;
    if config.demo {
        crate::demo::spawn(engine.clone(), &directory.directory, Duration::from_secs(4));
    }
    let mut auth = Auth::new(
        directory.password_hashes.clone(),
        &config.api_key,
        config.token_ttl.as_millis() as u64,
    );
    // The directory's integrations: in cluster mode those of the directory
    // stored in Redis, the same on every node.
    auth = auth.with_integrations(&directory.integrations);
    if let Some(tokens) = shared_tokens {
        auth = auth.with_shared_tokens(tokens);
    }
    let auth = Arc::new(auth);
    let mut transport = config.transport.clone();
    if transport.allowed_origins.is_empty() {
        transport.allowed_origins = default_origins(listener.local_addr()?);
    }
    let state = AppState {
        engine: engine.clone(),
        auth,
        limits: Arc::new(Limits::new(&transport)),
        ready,
        config: Arc::new(transport),
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
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    // Pushes are small frames that must leave at once: no Nagle delay.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let serve = axum::serve(listener, app).with_graceful_shutdown(async {
        let _ = stop_rx.await;
    });
    tokio::select! {
        result = serve => Ok(result?),
        _ = force_rx => {
            tracing::warn!("connections still open after the shutdown bound; exiting anyway");
            Ok(())
        }
    }
}
