//! Transport: the HTTP API, the console WebSocket and the static consoles.
//!
//! Handlers authenticate, parse, and hand typed requests to the engine; they
//! hold no routing state of their own. See docs/protocol.md for the wire.

pub mod frames;
mod http;
mod ws;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;

use crate::auth::Auth;
use crate::engine::EngineHandle;

/// Limits of the transport.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Frames queued for one session before it counts as a slow consumer.
    pub outbox_capacity: usize,
    /// Largest WebSocket message and frame accepted, in bytes.
    pub max_message_bytes: usize,
    /// Largest HTTP body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Where the consoles' files are.
    pub static_dir: PathBuf,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            outbox_capacity: 1024,
            max_message_bytes: 64 * 1024,
            max_body_bytes: 64 * 1024,
            static_dir: PathBuf::from("static"),
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The engine task.
    pub engine: EngineHandle,
    /// Passwords, tokens, API key.
    pub auth: Arc<Auth>,
    /// Limits.
    pub config: Arc<TransportConfig>,
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let static_files = ServeDir::new(&state.config.static_dir);
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .route("/api/login", post(http::login))
        .route("/api/logout", post(http::logout))
        .route("/api/work", post(http::create_work))
        .route("/api/groups/{id}/queue", get(http::group_queue))
        .route("/api/agents/{id}", get(http::agent_status))
        .route("/api/audit", get(http::audit))
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .route("/ws", get(ws::upgrade))
        .fallback_service(static_files)
        .layer(RequestBodyLimitLayer::new(body_limit))
        .with_state(state)
}
