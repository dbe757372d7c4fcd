//! Prometheus metrics: the process-wide recorder and the names the server
//! records (docs/operations.md, "Metrics", lists each with its meaning).
//!
//! # Ownership
//! A `metrics` recorder is global to the process and can be installed once,
//! while a process may run several servers (the integration tests do). So
//! the recorder and its [`PrometheusHandle`] live in a process-wide
//! `OnceLock`: the first server installs it, every later one reuses it, and
//! each server's `/metrics` renders the same process-wide registry.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::api_error::ErrorCode;

mod at_zero;

/// Histogram: seconds the engine spent applying one request or timer round.
pub const ENGINE_BUSY: &str = "switchboard_engine_busy_seconds";
/// Histogram: seconds one append of a batch of proposals to the log took
/// (memory, embedded with its fsync, or Redis).
pub const LOG_APPEND: &str = "switchboard_log_append_seconds";
/// Histogram: proposals per append (group commit: more under load).
pub const LOG_APPEND_ENTRIES: &str = "switchboard_log_append_entries";
/// Gauge: open console WebSocket sessions.
pub const SESSIONS_OPEN: &str = "switchboard_sessions_open";
/// Counter: WebSocket upgrades refused before the upgrade, by `reason`.
pub const UPGRADES_REFUSED: &str = "switchboard_ws_upgrades_refused_total";
/// Counter: login attempts by `result` (`ok`, `refused`, `rate_limited`).
pub const LOGINS: &str = "switchboard_logins_total";
/// Counter: HTTP requests by `route` and `status`.
pub const HTTP_REQUESTS: &str = "switchboard_http_requests_total";
/// Histogram: HTTP request duration in seconds, by `route`.
pub const HTTP_DURATION: &str = "switchboard_http_request_duration_seconds";
/// Counter: WebSocket frames received from clients.
pub const FRAMES_IN: &str = "switchboard_ws_frames_in_total";
/// Counter: errors answered, by `transport` (`http`, `ws`) and `code`.
pub const ERRORS: &str = "switchboard_errors_total";
/// Counter: requests refused by a rate limit, by `limit`.
pub const RATE_LIMITED: &str = "switchboard_rate_limited_total";
/// Counter: sessions the engine cut off because their outbox was full
/// (recorded by the engine).
pub const OUTBOX_DROPS: &str = "switchboard_outbox_drops_total";
/// Counter: sessions ended by the transport, by `reason`.
pub const SESSIONS_CLOSED: &str = "switchboard_sessions_closed_total";
/// Gauge: open TCP connections (HTTP, and WebSockets upgraded from them).
pub const CONNECTIONS_OPEN: &str = "switchboard_connections_open";
/// Counter: TCP connections closed at once when accepted, by `reason`.
pub const CONNECTIONS_REFUSED: &str = "switchboard_connections_refused_total";
/// Counter: requests whose headers or body did not arrive in time, by
/// `phase`.
pub const HTTP_TIMEOUTS: &str = "switchboard_http_timeouts_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder if no server of this process did yet,
/// and returns its handle.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
            .expect("non-empty bucket list")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will stay empty");
        }
        describe();
        at_zero::register();
        handle
    })
}

/// The Prometheus text exposition of every metric of the process.
pub fn render() -> String {
    let h = install();
    h.run_upkeep();
    h.render()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(SESSIONS_OPEN, "Open console WebSocket sessions.");
    describe_counter!(
        UPGRADES_REFUSED,
        "WebSocket upgrades refused before the upgrade, by reason."
    );
    describe_counter!(LOGINS, "Login attempts by result.");
    describe_counter!(HTTP_REQUESTS, "HTTP requests by route and status.");
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request duration by route."
    );
    describe_counter!(FRAMES_IN, "WebSocket frames received from clients.");
    describe_counter!(ERRORS, "Errors answered, by transport and code.");
    describe_counter!(RATE_LIMITED, "Requests refused by a rate limit, by limit.");
    describe_counter!(
        OUTBOX_DROPS,
        "Sessions cut off because their outbox was full (slow consumers)."
    );
    describe_histogram!(
        LOG_APPEND,
        metrics::Unit::Seconds,
        "Time one append of a batch of proposals to the log took (an fsync in the embedded store)."
    );
    describe_histogram!(
        LOG_APPEND_ENTRIES,
        metrics::Unit::Count,
        "Proposals per append to the log (they group under load)."
    );
    describe_histogram!(
        ENGINE_BUSY,
        metrics::Unit::Seconds,
        "Time the engine spent on one request or timer round (every other request waits behind it)."
    );
    describe_counter!(
        SESSIONS_CLOSED,
        "Sessions ended by the transport, by reason."
    );
    describe_gauge!(
        CONNECTIONS_OPEN,
        "Open TCP connections, WebSockets upgraded from them included."
    );
    describe_counter!(
        CONNECTIONS_REFUSED,
        "TCP connections closed at once when accepted (a client address over its cap), by reason."
    );
    describe_counter!(
        HTTP_TIMEOUTS,
        "Requests whose headers or body did not arrive within the read timeout, by phase."
    );
}

/// The wire name of an error code, as a metric label.
pub fn code_label(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::BadRequest => "bad_request",
        ErrorCode::UnknownType => "unknown_type",
        ErrorCode::InvalidField => "invalid_field",
        ErrorCode::InvalidCredentials => "invalid_credentials",
        ErrorCode::Unauthorized => "unauthorized",
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::AccountDisabled => "account_disabled",
        ErrorCode::NotFound => "not_found",
        ErrorCode::MethodNotAllowed => "method_not_allowed",
        ErrorCode::RequestTimeout => "request_timeout",
        ErrorCode::NotApplicable => "not_applicable",
        ErrorCode::AlreadyTaken => "already_taken",
        ErrorCode::InvalidState => "invalid_state",
        ErrorCode::AtCapacity => "at_capacity",
        ErrorCode::Offline => "offline",
        ErrorCode::Conflict => "conflict",
        ErrorCode::EventsExpired => "events_expired",
        ErrorCode::TooLarge => "too_large",
        ErrorCode::RateLimited => "rate_limited",
        ErrorCode::Unavailable => "unavailable",
        ErrorCode::OutcomeUnknown => "outcome_unknown",
        ErrorCode::Internal => "internal",
    }
}

/// Counts an error answered on a transport.
pub fn error(transport: &'static str, code: ErrorCode) {
    metrics::counter!(ERRORS, "transport" => transport, "code" => code_label(code)).increment(1);
}

/// Counts a refusal by a rate limit.
pub fn rate_limited(limit: &'static str) {
    metrics::counter!(RATE_LIMITED, "limit" => limit).increment(1);
}

/// Middleware: counts every HTTP request by route template (never the raw
/// path or query: ids and the WebSocket token stay out of labels and logs)
/// and status, and logs it at debug level the same way.
pub async fn track_http(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "static".to_owned());
    let method = req.method().clone();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    tracing::debug!(%method, route = %route, status, "http request");
    response
}
