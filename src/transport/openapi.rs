//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the HTTP API
//! (docs/openapi.json, built into the binary), so that a client generator
//! can read it from the server it talks to. `tests/openapi.rs` keeps it
//! true to the router; `scripts/schemathesis.sh` to the answers.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The document, as written in docs/openapi.json.
pub const OPENAPI_JSON: &str = include_str!("../../docs/openapi.json");

/// `GET /api/openapi.json`. Not authenticated: it describes the API, it
/// holds nothing of the help desk.
pub(super) async fn document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI_JSON,
    )
        .into_response()
}
