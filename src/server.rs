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
use crate::engine::{Engine, EngineConfig};
use crate::transport::limits::{Limits, default_origins};
use crate::transport::{AppState, TransportConfig, router};

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
}

/// Serves on `listener` until `shutdown` completes. On shutdown every console
/// is told `server_going_away` (so it reconnects elsewhere at once) and no
/// agent is logged out: a restart is not a logout.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let core = Core::new(config.directory.directory.clone(), config.core);
    let engine = Engine::spawn(core, EngineConfig::default());
    let auth = Arc::new(Auth::new(
        config.directory.password_hashes.clone(),
        &config.api_key,
        config.token_ttl.as_millis() as u64,
    ));
    let mut transport = config.transport.clone();
    if transport.allowed_origins.is_empty() {
        transport.allowed_origins = default_origins(listener.local_addr()?);
    }
    crate::metrics::install();
    let state = AppState {
        engine: engine.clone(),
        auth,
        limits: Arc::new(Limits::new(&transport)),
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
    let serve = axum::serve(listener, app).with_graceful_shutdown(async {
        let _ = stop_rx.await;
    });
    tokio::select! {
        result = serve => result,
        _ = force_rx => {
            tracing::warn!("connections still open after the shutdown bound; exiting anyway");
            Ok(())
        }
    }
}
