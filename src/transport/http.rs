//! HTTP handlers: authenticate, parse, ask the engine, answer JSON.

use std::net::SocketAddr;

use axum::Json;
use axum::body::HttpBody;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::bodies::{LoginBody, WorkBody};
use super::json_body::JsonBody;
pub(super) use super::json_body::body;
use super::limits::RetryAfter;
use crate::api_error::{ApiError, ErrorCode};
use crate::engine::{Caller, HttpOp, Request, now_ms};

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        crate::metrics::error("http", self.code);
        (status, Json(json!({ "error": self }))).into_response()
    }
}

/// A `429 rate_limited` answer with its `Retry-After` header.
pub(super) fn rate_limited(message: impl Into<String>, after: RetryAfter) -> Response {
    let mut r = ApiError::new(ErrorCode::RateLimited, message).into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(after.secs()));
    r
}

/// Gives an error that a layer, the router or an extractor answered before
/// any handler ran our JSON error shape, as docs/protocol.md promises for
/// every HTTP error: the body limit's `413`, the router's `405` and a static
/// file's `404` (empty bodies), and axum's own text refusals of a request
/// it cannot extract (a path segment that is no number, a WebSocket upgrade
/// without its headers: `400`, their text kept as the message). The status
/// and the other headers (`Allow` of a `405`) stay; our JSON errors and a
/// server error with a text of its own (`/readyz`'s `503`) pass as they
/// are.
pub(super) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let empty = response.body().size_hint().exact() == Some(0);
    if !(status.is_client_error() || status.is_server_error())
        || is_json
        || !(empty || status.is_client_error())
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = if empty || status == StatusCode::PAYLOAD_TOO_LARGE {
        None
    } else {
        axum::body::to_bytes(body, MAX_REFUSAL_BYTES)
            .await
            .ok()
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .filter(|t| !t.is_empty())
    };
    let (code, fixed) = refusal(status);
    let error = match text {
        Some(text) => ApiError::new(code, text),
        None => ApiError::new(code, fixed),
    };
    let (json, body) = error.into_response().into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(json.headers);
    Response::from_parts(parts, body)
}

/// Longest text refusal of axum's kept as a message (theirs are a line).
const MAX_REFUSAL_BYTES: usize = 4 * 1024;

/// The code, and a message, of an error answered without one of ours.
fn refusal(status: StatusCode) -> (ErrorCode, &'static str) {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            (ErrorCode::TooLarge, "the request body is over the limit")
        }
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            "this path does not take this method (see the Allow header)",
        ),
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such path"),
        StatusCode::UNAUTHORIZED => (ErrorCode::Unauthorized, "not authenticated"),
        StatusCode::FORBIDDEN => (ErrorCode::Forbidden, "not allowed"),
        StatusCode::TOO_MANY_REQUESTS => (ErrorCode::RateLimited, "too many requests"),
        StatusCode::SERVICE_UNAVAILABLE => (ErrorCode::Unavailable, "unavailable now"),
        s if s.is_client_error() => (ErrorCode::BadRequest, "the request cannot be answered"),
        _ => (
            ErrorCode::Internal,
            "the server could not answer this request",
        ),
    }
}

/// Longest file name (`NAME_MAX`) and path (`PATH_MAX`) of the filesystems
/// the consoles' files are served from.
const NAME_MAX: usize = 255;
const PATH_MAX: usize = 4096;

/// Answers `404 not_found` for a path no file can have, before the static
/// files look it up: asking the disk for a name over `NAME_MAX` fails with
/// `ENAMETOOLONG`, an I/O error the file service answers `500`.
pub(super) async fn no_impossible_files(req: axum::extract::Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.len() > PATH_MAX || path.split('/').any(|s| s.len() > NAME_MAX) {
        return ApiError::new(ErrorCode::NotFound, "no such path").into_response();
    }
    next.run(req).await
}

fn unauthorized(msg: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, msg)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// The agent behind the request's bearer token.
pub(super) async fn agent_caller(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    let token = bearer(headers).ok_or_else(|| unauthorized("missing bearer token"))?;
    state
        .auth
        .token_agent(token, now_ms())
        .await
        .ok_or_else(|| unauthorized("invalid, expired or revoked token"))
}

/// Refuses `401` a request of a route for console tokens only (the
/// administration API) that carries no live one, before its handler reads
/// the body or the query: a stranger learns nothing of what the request
/// would need, and gets the same answer whatever it sent.
pub(super) async fn console_token_first(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: Next,
) -> Response {
    match agent_caller(&state, req.headers()).await {
        Ok(_) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// An integration's API key (X-Api-Key or bearer) or a console token. The
/// refusal names what was wrong: an `X-Api-Key` that is no key, a bearer
/// that is neither a key nor a live token, or no credential at all.
pub(super) async fn any_caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let header_key = headers.get("x-api-key");
    let key = header_key
        .and_then(|v| v.to_str().ok())
        .or_else(|| bearer(headers));
    if let Some(integration) = key.and_then(|k| state.auth.check_api_key(k, now_ms())) {
        return Ok(Caller::Integration(integration));
    }
    if header_key.is_some() {
        return Err(unauthorized(
            "unknown API key (never issued, revoked, or past its rotation overlap)",
        ));
    }
    match bearer(headers) {
        None => Err(unauthorized("missing API key or bearer token")),
        Some(_) => agent_caller(state, headers)
            .await
            .map(Caller::Agent)
            .map_err(|_| unauthorized("the bearer is neither a known API key nor a live token")),
    }
}

async fn ask(state: &AppState, caller: Caller, op: HttpOp) -> Result<Value, ApiError> {
    state
        .engine
        .call(|answer| Request::Http { caller, op, answer })
        .await
}

/// The request's `Idempotency-Key`, checked (1 to 128 visible ASCII
/// characters).
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if super::frames::valid_key(k) => Ok(Some(k.to_string())),
        _ => Err(ApiError {
            code: ErrorCode::InvalidField,
            message: "Idempotency-Key must be 1 to 128 visible ASCII characters".into(),
            details: Some(json!({ "field": "Idempotency-Key" })),
        }),
    }
}

/// Asks the engine for a write, carrying the client's idempotency key when
/// it gave one: a retry with the same key gets the first outcome.
pub(super) async fn ask_keyed(
    state: &AppState,
    caller: Caller,
    op: HttpOp,
    key: Option<String>,
) -> Result<Value, ApiError> {
    state
        .engine
        .call(|answer| {
            let request = Request::Http { caller, op, answer };
            match key {
                Some(key) => Request::Keyed {
                    key,
                    request: Box::new(request),
                },
                None => request,
            }
        })
        .await
}

/// A login's username as logs may show it: a directory id, or a placeholder
/// (never what someone typed that is not a username: it may be a password).
fn loggable<'a>(state: &AppState, username: &'a str) -> &'a str {
    if state.auth.knows(username) {
        username
    } else {
        "<unknown>"
    }
}

/// `POST /api/login`. Rate-limited per client IP and per username before
/// the (expensive) password check; every attempt counts.
pub(super) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    payload: JsonBody<LoginBody>,
) -> Response {
    match login_inner(state, peer, payload).await {
        Ok(r) => r,
        Err(e) => {
            if e.code == ErrorCode::InvalidCredentials {
                metrics::counter!(crate::metrics::LOGINS, "result" => "refused").increment(1);
            }
            e.into_response()
        }
    }
}

async fn login_inner(
    state: AppState,
    peer: SocketAddr,
    payload: JsonBody<LoginBody>,
) -> Result<Response, ApiError> {
    let LoginBody { username, password } = body(payload)?;
    if let Err((limit, after)) = state.limits.check_login(peer.ip(), &username) {
        crate::metrics::rate_limited(limit.as_str());
        metrics::counter!(crate::metrics::LOGINS, "result" => "rate_limited").increment(1);
        tracing::warn!(
            ip = %peer.ip(),
            username = loggable(&state, &username),
            limit = limit.as_str(),
            "login rate-limited"
        );
        return Ok(rate_limited(
            "too many login attempts; wait before trying again",
            after,
        ));
    }
    let auth = state.auth.clone();
    let user = username.clone();
    let ok = tokio::task::spawn_blocking(move || auth.verify_password(&user, &password))
        .await
        .unwrap_or(false);
    if !ok {
        tracing::info!(
            ip = %peer.ip(),
            username = loggable(&state, &username),
            "login refused"
        );
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "wrong username or password",
        ));
    }
    let agent = ask(
        &state,
        Caller::Agent(username.clone()),
        HttpOp::AgentStatus {
            agent: username.clone(),
        },
    )
    .await?;
    let token = state
        .auth
        .login_token(&username, now_ms())
        .await
        .map_err(|e| ApiError::new(ErrorCode::Unavailable, e.to_string()))?;
    tracing::info!(agent = %username, "login");
    metrics::counter!(crate::metrics::LOGINS, "result" => "ok").increment(1);
    Ok(Json(json!({
        "token": token,
        "agent": { "id": agent["agent"], "name": agent["name"], "roles": agent["roles"] },
    }))
    .into_response())
}

/// `POST /api/logout`: revokes the token everywhere, then closes every
/// session it opened, on every node (`logged_out`). Revoking first means no
/// new session can open with it while the close travels.
pub(super) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let agent = agent_caller(&state, &headers).await?;
    if let Some(token) = bearer(&headers) {
        state
            .auth
            .logout_token(token)
            .await
            .map_err(|e| ApiError::new(ErrorCode::Unavailable, e.to_string()))?;
        let login = crate::auth::token_digest(token);
        state
            .engine
            .call(|answer| Request::Logout { login, answer })
            .await?;
        tracing::info!(agent = %agent, "logout");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/agents/{id}/disable`: an admin disables an account (every
/// node closes its sessions with `revoked`, its tokens are revoked, its
/// logins refused with `account_disabled`).
pub(super) async fn disable_agent(
    state: State<AppState>,
    headers: HeaderMap,
    agent: Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_enabled(state, headers, agent, false).await
}

/// `POST /api/agents/{id}/enable`: an admin enables a disabled account
/// again (its agent logs in anew).
pub(super) async fn enable_agent(
    state: State<AppState>,
    headers: HeaderMap,
    agent: Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_enabled(state, headers, agent, true).await
}

async fn set_enabled(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(agent): Path<String>,
    enabled: bool,
) -> Result<Json<Value>, ApiError> {
    let caller = any_caller(&state, &headers).await?;
    let admin = match &caller {
        Caller::Agent(id) => id.clone(),
        Caller::Integration(i) => i.name.clone(),
    };
    let op = HttpOp::SetEnabled {
        agent: agent.clone(),
        enabled,
    };
    let status = ask_keyed(&state, caller, op, idempotency_key(&headers)?).await?;
    if !enabled {
        // After the engine applied it: from now on every node refuses the
        // agent's tokens anyway, this only drops them from the store.
        state
            .auth
            .revoke_agent(&agent)
            .await
            .map_err(|e| ApiError::new(ErrorCode::Unavailable, e.to_string()))?;
    }
    tracing::info!(admin = %admin, agent = %agent, enabled, "account enabled/disabled");
    Ok(Json(status))
}

/// `POST /api/work`.
pub(super) async fn create_work(
    State(state): State<AppState>,
    headers: HeaderMap,
    payload: JsonBody<WorkBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let caller = any_caller(&state, &headers).await?;
    let key = idempotency_key(&headers)?;
    let w = body(payload)?;
    let channel = w.check()?;
    let by = match &caller {
        Caller::Integration(i) => i.name.clone(),
        Caller::Agent(id) => id.clone(),
    };
    let group = w.group.clone();
    let op = HttpOp::CreateWork {
        group: w.group,
        channel,
        priority: w.priority,
        title: w.title,
        visitor: w.visitor,
    };
    let created = ask_keyed(&state, caller, op, key).await;
    match &created {
        Ok(v) => tracing::info!(integration = %by, group, item = %v["item"]["id"], "work created"),
        Err(e) => tracing::info!(integration = %by, group, code = ?e.code, "work refused"),
    }
    Ok((StatusCode::CREATED, Json(created?)))
}

/// `GET /api/groups/{id}/queue`.
pub(super) async fn group_queue(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(group): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let caller = any_caller(&state, &headers).await?;
    Ok(Json(
        ask(&state, caller, HttpOp::GroupQueue { group }).await?,
    ))
}

/// `GET /api/agents/{id}`.
pub(super) async fn agent_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(agent): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let caller = any_caller(&state, &headers).await?;
    Ok(Json(
        ask(&state, caller, HttpOp::AgentStatus { agent }).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditParams {
    agent: Option<String>,
    group: Option<String>,
    since: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/audit`.
pub(super) async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    // An API key authenticates too, and is then refused `forbidden` by the
    // engine: the audit is for managers and admins.
    let caller = any_caller(&state, &headers).await?;
    let Query(p) = params.map_err(|e| ApiError::new(ErrorCode::InvalidField, e.body_text()))?;
    let op = HttpOp::Audit {
        agent: p.agent,
        group: p.group,
        since: p.since,
        limit: p.limit.unwrap_or(1_000).min(10_000),
    };
    Ok(Json(ask(&state, caller, op).await?))
}

/// `GET /metrics`: Prometheus text format. Not authenticated: keep it off
/// the public network (docs/security.md).
pub(super) async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        crate::metrics::render(),
    )
        .into_response()
}

/// `GET /healthz`: the process runs.
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the engine answers.
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    if !state.ready.load(std::sync::atomic::Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shared store unreachable").into_response();
    }
    let probe = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        state.engine.session_count(),
    );
    match probe.await {
        Ok(_) => "ready".into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "engine not answering").into_response(),
    }
}
