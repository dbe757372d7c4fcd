//! Setting presence over HTTP: an agent's status, availability or active
//! cells (docs/protocol.md, "Presence"). A workforce-management tool with
//! an API key allowed to (`set_presence`), or a person with a login token
//! under the console's rules. Each write takes an `Idempotency-Key`, and is
//! answered with the agent's status once applied.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use super::AppState;
use super::http::{any_caller, ask_keyed, body, idempotency_key};
use super::json_body::JsonBody;
use crate::api_error::{ApiError, ErrorCode};
use crate::domain::Channel;
use crate::engine::{HttpOp, PresenceChange};

/// Cells one request may change at most.
const MAX_CELLS: usize = 1_000;

/// The agent id of the path.
fn agent_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id).map_err(|_| {
        ApiError::new(
            ErrorCode::BadRequest,
            "the agent id in the path is not valid",
        )
    })
}

/// Proposes a presence change of `agent` with the request's idempotency
/// key.
async fn set(
    state: &AppState,
    headers: &HeaderMap,
    agent: String,
    change: PresenceChange,
) -> Result<Json<Value>, ApiError> {
    let caller = any_caller(state, headers).await?;
    let key = idempotency_key(headers)?;
    let op = HttpOp::SetPresence { agent, change };
    Ok(Json(ask_keyed(state, caller, op, key).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusBody {
    status: String,
}

/// `PUT /api/agents/{id}/status` `{"status": "Lunch"}`.
pub(super) async fn set_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    agent: Result<Path<String>, PathRejection>,
    payload: JsonBody<StatusBody>,
) -> Result<Json<Value>, ApiError> {
    let agent = agent_id(agent)?;
    let b = body(payload)?;
    set(&state, &headers, agent, PresenceChange::Status(b.status)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AvailabilityBody {
    available: bool,
}

/// `PUT /api/agents/{id}/availability` `{"available": false}`.
pub(super) async fn set_availability(
    State(state): State<AppState>,
    headers: HeaderMap,
    agent: Result<Path<String>, PathRejection>,
    payload: JsonBody<AvailabilityBody>,
) -> Result<Json<Value>, ApiError> {
    let agent = agent_id(agent)?;
    let b = body(payload)?;
    set(
        &state,
        &headers,
        agent,
        PresenceChange::Availability(b.available),
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CellBody {
    group: String,
    channel: String,
    active: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CellsBody {
    cells: Vec<CellBody>,
}

/// `PUT /api/agents/{id}/cells` `{"cells": [{"group", "channel",
/// "active"}]}`: all or nothing.
pub(super) async fn set_cells(
    State(state): State<AppState>,
    headers: HeaderMap,
    agent: Result<Path<String>, PathRejection>,
    payload: JsonBody<CellsBody>,
) -> Result<Json<Value>, ApiError> {
    let agent = agent_id(agent)?;
    let b = body(payload)?;
    if b.cells.is_empty() || b.cells.len() > MAX_CELLS {
        return Err(ApiError::about_field(
            ErrorCode::InvalidField,
            "cells",
            format!("give 1 to {MAX_CELLS} cells"),
        ));
    }
    let cells = b
        .cells
        .into_iter()
        .map(|c| {
            let channel = Channel::parse(&c.channel).ok_or_else(|| {
                ApiError::about_field(
                    ErrorCode::InvalidField,
                    "channel",
                    format!("unknown channel {:?} (chat, ticket, voice)", c.channel),
                )
            })?;
            Ok((c.group, channel, c.active))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    set(&state, &headers, agent, PresenceChange::Cells(cells)).await
}
