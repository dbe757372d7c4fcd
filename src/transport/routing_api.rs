//! HTTP endpoints of routing beyond the basics: a group's chat status for a
//! website's chat button, and routing explanations.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::Value;

use super::AppState;
use crate::api_error::{ApiError, ErrorCode};
use crate::engine::{Caller, HttpOp, Request, now_ms};

/// `GET /api/groups/{id}/status`: public, so that a website can show its chat
/// button as online or offline; it tells nothing but online/offline, the
/// number of chats waiting and the expected wait.
pub(super) async fn group_status(
    State(state): State<AppState>,
    Path(group): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let op = HttpOp::GroupStatus { group };
    let caller = Caller::Integration;
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
    let presented = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        })
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "missing token or API key"))?;
    let caller = if state.auth.check_api_key(presented) {
        Caller::Integration
    } else {
        let agent = state.auth.check_token(presented, now_ms()).ok_or_else(|| {
            ApiError::new(ErrorCode::Unauthorized, "invalid, expired or revoked token")
        })?;
        Caller::Agent(agent)
    };
    let op = HttpOp::Explain { item };
    Ok(Json(
        state
            .engine
            .call(|answer| Request::Http { caller, op, answer })
            .await?,
    ))
}
