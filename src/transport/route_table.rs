//! The router's routes, each path kept as it is added, so that
//! `tests/openapi.rs` can check every routed path and method against the
//! OpenAPI document (docs/openapi.json): a route added here without an
//! operation there fails that test, naming the route.

use axum::Router;
use axum::routing::MethodRouter;

use super::AppState;

/// A router that remembers the path of every route added to it. Every route
/// of the HTTP API is added through [`RouteTable::route`], never through
/// `Router::route` directly, or the OpenAPI check cannot see it.
pub(super) struct RouteTable {
    router: Router<AppState>,
    paths: Vec<&'static str>,
}

impl RouteTable {
    /// No routes yet.
    pub(super) fn new() -> Self {
        RouteTable {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    /// Serves `methods` at `path` (axum's syntax, `{id}` for a parameter,
    /// as OpenAPI writes it too).
    pub(super) fn route(mut self, path: &'static str, methods: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, methods);
        self.paths.push(path);
        self
    }

    /// The paths routed, in the order they were added.
    pub(super) fn paths(&self) -> &[&'static str] {
        &self.paths
    }

    /// The router, to layer and serve.
    pub(super) fn into_router(self) -> Router<AppState> {
        self.router
    }
}
