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
