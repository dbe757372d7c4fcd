//! Transport: the HTTP API, the console WebSocket and the static consoles,
//! served by the accept loop of [`connections`] (read timeouts, a cap per
//! client address).
//!
//! Handlers authenticate, parse, and hand typed requests to the engine; they
//! hold no routing state of their own. See docs/protocol.md for the wire.

mod admin_api;
pub mod bodies;
pub mod connections;
mod dead_letters_api;
mod events_api;
pub mod frames;
mod http;
mod items_api;
mod json_body;
pub mod limits;
pub mod open_sessions;
pub mod openapi;
mod presence_api;
mod route_table;
mod routing_api;
mod visitor;
mod ws;
mod ws_close;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware;
use axum::routing::{MethodRouter, get, patch, post, put};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::timeout::RequestBodyDeadlineLayer;

use self::limits::Limits;
use self::route_table::RouteTable;
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
    /// Origins allowed to open a WebSocket (`Origin` header, e.g.
    /// `https://desk.example.com`; `*` allows any). Empty: the server's own
    /// origin, filled in by `server::run` from the listening address.
    pub allowed_origins: Vec<String>,
    /// Open sessions one agent may have; more are refused before the upgrade.
    pub max_sessions_per_agent: usize,
    /// Open WebSocket sessions the server accepts in all.
    pub max_connections: usize,
    /// Login attempts per minute from one IP address (0: no limit).
    pub login_attempts_per_ip_per_min: u32,
    /// Login attempts per minute for one username (0: no limit).
    pub login_attempts_per_username_per_min: u32,
    /// Chats and tickets a visitor may start per minute from one IP address
    /// (0: no limit).
    pub visitor_starts_per_ip_per_min: u32,
    /// Requests per second one WebSocket session may make (0: no limit).
    pub ws_requests_per_sec: u32,
    /// Requests a session may make at once above its rate.
    pub ws_request_burst: u32,
    /// A write to a client's socket that takes longer ends the session (the
    /// client does not read).
    pub write_timeout: Duration,
    /// A connection whose request headers are not all in after this long is
    /// closed (slowloris); an idle keep-alive connection too.
    pub header_read_timeout: Duration,
    /// A request body not all in this long after its headers is refused
    /// `408 request_timeout` and its connection closed.
    pub body_read_timeout: Duration,
    /// Open TCP connections one client address may hold (0: no cap). Off
    /// behind a reverse proxy: every connection then comes from the proxy.
    pub max_connections_per_address: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            outbox_capacity: 1024,
            max_message_bytes: 64 * 1024,
            max_body_bytes: 64 * 1024,
            static_dir: PathBuf::from("static"),
            allowed_origins: Vec::new(),
            max_sessions_per_agent: 10,
            max_connections: 20_000,
            login_attempts_per_ip_per_min: 30,
            visitor_starts_per_ip_per_min: 20,
            login_attempts_per_username_per_min: 10,
            ws_requests_per_sec: 50,
            ws_request_burst: 100,
            write_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections_per_address: 1000,
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
    /// Rate limiters, origin allow-list and connection caps.
    pub limits: Arc<Limits>,
    /// False while the shared store (Redis) is unreachable: `/readyz`
    /// answers 503 so the load balancer sends traffic elsewhere.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    /// The event journal and the integrations' webhooks (the event stream,
    /// dead letters).
    pub webhooks: crate::webhooks::delivery::Webhooks,
    /// The console sessions open here: a shutdown waits for them to say
    /// goodbye.
    pub sessions: open_sessions::OpenSessions,
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let static_files = ServeDir::new(&state.config.static_dir);
    let body_limit = state.config.max_body_bytes;
    let token_first = middleware::from_fn_with_state(state.clone(), http::console_token_first);
    let guard = |methods: MethodRouter<AppState>| methods.route_layer(token_first.clone());
    // A directory file of thousands of agents is larger than any other
    // body: its one route gets its own limit.
    let imports = import_routes(&guard)
        .into_router()
        .layer(RequestBodyLimitLayer::new(admin_api::MAX_DIRECTORY_BYTES));
    let body_deadline = state.config.body_read_timeout;
    let api = api_routes()
        .into_router()
        .merge(console_routes(&guard).into_router())
        .fallback_service(
            tower::ServiceBuilder::new()
                .layer(middleware::from_fn(http::no_impossible_files))
                .service(static_files),
        )
        .layer(RequestBodyLimitLayer::new(body_limit));
    imports
        .merge(api)
        .layer(RequestBodyDeadlineLayer::new(body_deadline))
        .layer(middleware::map_response(http::json_errors))
        .layer(middleware::from_fn(crate::metrics::track_http))
        .with_state(state)
}

/// Every path [`router`] routes (axum's syntax, `{id}` for a parameter):
/// `tests/openapi.rs` checks each, with its methods, against
/// docs/openapi.json. The console files under it are not routes.
pub fn routed_paths() -> Vec<&'static str> {
    let mut paths = import_routes(&|m| m).paths().to_vec();
    paths.extend_from_slice(api_routes().paths());
    paths.extend_from_slice(console_routes(&|m| m).paths());
    paths
}

/// What [`console_routes`] wraps each route's methods in: the check of the
/// token (none in [`routed_paths`], which only lists them). Not a layer of
/// the whole router, which would answer a method the path does not take
/// `401` rather than `405`.
type Guard<'a> = &'a dyn Fn(MethodRouter<AppState>) -> MethodRouter<AppState>;

/// The routes under the directory file's own, larger, body limit (for a
/// console token, as [`console_routes`]).
fn import_routes(guard: Guard<'_>) -> RouteTable {
    RouteTable::new().route(
        "/api/admin/directory/import",
        guard(post(admin_api::import_directory)),
    )
}

/// The routes of the integrations, the consoles' reads, the visitors, the
/// WebSockets and operations. A route added here or in the other tables
/// needs its operation in docs/openapi.json too (`tests/openapi.rs` fails
/// naming a route that is not there).
fn api_routes() -> RouteTable {
    RouteTable::new()
        .route("/api/login", post(http::login))
        .route("/api/logout", post(http::logout))
        .route("/api/work", post(http::create_work))
        .route("/api/groups/{id}/queue", get(http::group_queue))
        .route("/api/agents/{id}", get(http::agent_status))
        .route("/api/agents/{id}/disable", post(http::disable_agent))
        .route("/api/agents/{id}/enable", post(http::enable_agent))
        .route("/api/agents/{id}/status", put(presence_api::set_status))
        .route(
            "/api/agents/{id}/availability",
            put(presence_api::set_availability),
        )
        .route("/api/agents/{id}/cells", put(presence_api::set_cells))
        .route("/api/groups/{id}/status", get(routing_api::group_status))
        .route("/api/groups/{id}/stats", get(routing_api::group_stats))
        .route("/api/agents", get(routing_api::list_agents))
        .route("/api/items/{id}/explain", get(routing_api::explain))
        .route("/api/items", get(items_api::list_items))
        .route(
            "/api/items/{id}",
            get(items_api::get_item).patch(items_api::update_item),
        )
        .route("/api/items/{id}/cancel", post(items_api::cancel_item))
        .route("/api/items/{id}/close", post(items_api::close_item))
        .route("/api/items/{id}/move", post(items_api::move_item))
        .route("/api/items/{id}/assign", post(items_api::assign_item))
        .route("/api/audit", get(http::audit))
        .route("/api/events", get(events_api::stream))
        .route("/api/visitor/chats", post(visitor::start_chat))
        .route("/api/visitor/tickets", post(visitor::leave_ticket))
        .route("/visitor", get(visitor::upgrade))
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .route("/ws", get(ws::upgrade))
        .route("/metrics", get(http::metrics))
        .route("/api/openapi.json", get(openapi::document))
}

/// The routes of the administration API and one's own password: a console
/// token only. A request without a live one is refused `401` before its
/// handler reads the body or the query (who asks comes first).
fn console_routes(guard: Guard<'_>) -> RouteTable {
    RouteTable::new()
        .route("/api/password", guard(post(admin_api::change_own_password)))
        .route(
            "/api/admin/agents",
            guard(get(admin_api::list_agents).post(admin_api::create_agent)),
        )
        .route(
            "/api/admin/agents/{id}",
            guard(
                get(admin_api::get_agent)
                    .patch(admin_api::update_agent)
                    .delete(admin_api::delete_agent),
            ),
        )
        .route(
            "/api/admin/agents/{id}/password",
            guard(post(admin_api::reset_password)),
        )
        .route(
            "/api/admin/groups",
            guard(get(admin_api::list_groups).post(admin_api::create_group)),
        )
        .route(
            "/api/admin/groups/{id}",
            guard(
                get(admin_api::get_group)
                    .patch(admin_api::update_group)
                    .delete(admin_api::delete_group),
            ),
        )
        .route(
            "/api/admin/memberships",
            guard(get(admin_api::list_members).post(admin_api::add_member)),
        )
        .route(
            "/api/admin/memberships/{group}/{agent}",
            guard(patch(admin_api::update_member).delete(admin_api::remove_member)),
        )
        .route(
            "/api/admin/integrations",
            guard(get(admin_api::list_integrations).post(admin_api::create_integration)),
        )
        .route(
            "/api/admin/integrations/{name}",
            guard(patch(admin_api::update_integration).delete(admin_api::revoke_integration)),
        )
        .route(
            "/api/admin/integrations/{name}/rotate",
            guard(post(admin_api::rotate_key)),
        )
        .route(
            "/api/admin/integrations/{name}/dead-letters",
            guard(get(dead_letters_api::list)),
        )
        .route(
            "/api/admin/integrations/{name}/dead-letters/redeliver",
            guard(post(dead_letters_api::redeliver)),
        )
        .route(
            "/api/admin/settings",
            guard(get(admin_api::get_settings).patch(admin_api::set_settings)),
        )
        .route(
            "/api/admin/directory",
            guard(get(admin_api::export_directory)),
        )
}
