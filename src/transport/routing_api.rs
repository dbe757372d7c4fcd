//! HTTP endpoints of routing beyond the basics: a group's chat status for a
//! website's chat button, and routing explanations.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::Value;

use super::AppState;
use crate::api_error::ApiError;
use crate::engine::{Caller, HttpOp, Request};

/// `GET /api/groups/{id}/status`: public, so that a website can show its chat
/// button as online or offline; it tells nothing but online/offline, the
/// number of chats waiting and the expected wait.
pub(super) async fn group_status(
    State(state): State<AppState>,
    Path(group): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let op = HttpOp::GroupStatus { group };
    let caller = Caller::Integration(crate::integrations::Integration::everywhere("public"));
    Ok(Json(
        state
            .engine
            .call(|answer| Request::Http { caller, op, answer })
            .await?,
    ))
}

/// `GET /api/items/{id}/explain`: a manager of the item's group (token) or an
/// integration (API key).
pub(super) async fn explain(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(item): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let caller = super::http::any_caller(&state, &headers).await?;
    let op = HttpOp::Explain { item };
    Ok(Json(
        state
            .engine
            .call(|answer| Request::Http { caller, op, answer })
            .await?,
    ))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AgentsQuery {
    group: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

/// `GET /api/agents[?group=ID&offset=N&limit=N]`: the statuses of the
/// agents the caller may see (an integration: those of its groups).
pub(super) async fn list_agents(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<axum::extract::Query<AgentsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let axum::extract::Query(q) =
        q.map_err(|e| ApiError::new(crate::api_error::ErrorCode::InvalidField, e.body_text()))?;
    let caller = super::http::any_caller(&state, &headers).await?;
    let op = HttpOp::ListAgents {
        group: q.group,
        page: crate::engine::Page {
            offset: q.offset,
            limit: q.limit.unwrap_or(50),
        },
    };
    Ok(Json(
        state
            .engine
            .call(|answer| Request::Http { caller, op, answer })
            .await?,
    ))
}

/// `GET /api/groups/{id}/stats`: a group's live figures per channel.
pub(super) async fn group_stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(group): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let caller = super::http::any_caller(&state, &headers).await?;
    let op = HttpOp::GroupStats { group };
    Ok(Json(
        state
            .engine
            .call(|answer| Request::Http { caller, op, answer })
            .await?,
    ))
}
