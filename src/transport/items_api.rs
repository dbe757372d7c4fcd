//! The items API of integrations (docs/protocol.md §1.3): an API key reads
//! and changes the work of its groups. Handlers authenticate, parse and
//! hand typed requests to the engine, which checks the scope; every write
//! takes an `Idempotency-Key`.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use super::AppState;
use super::bodies::{AssignBody, ItemPatchBody, MoveBody};
use super::http::{any_caller, ask_keyed, body, idempotency_key};
use super::json_body::JsonBody;
use crate::api_error::{ApiError, ErrorCode};
use crate::domain::{Channel, ItemState};
use crate::engine::{HttpOp, ItemChangeRequest, ItemFilter, ItemsOp, Request};

/// Items in one page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 50;

/// The item id of the path: a path with another segment there, or 0 (no
/// item has it), is `bad_request` in our error shape, as docs/protocol.md
/// §1.3 says.
fn item_id(path: Result<Path<u64>, PathRejection>) -> Result<u64, ApiError> {
    match path {
        Ok(Path(id)) if id > 0 => Ok(id),
        _ => Err(ApiError::new(
            ErrorCode::BadRequest,
            "the item id in the path is not a positive integer",
        )),
    }
}

/// `GET /api/items/{id}`: the open item.
pub(super) async fn get_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    item: Result<Path<u64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let item = item_id(item)?;
    let caller = any_caller(&state, &headers).await?;
    let op = HttpOp::Items(ItemsOp::Get { item });
    Ok(Json(
        state
            .engine
            .call(|answer| Request::Http { caller, op, answer })
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ItemsQuery {
    state: Option<String>,
    group: Option<String>,
    channel: Option<String>,
    agent: Option<String>,
    cursor: Option<u64>,
    limit: Option<usize>,
}

/// The `state` filter: an open state.
fn open_state(s: &str) -> Result<ItemState, ApiError> {
    match s {
        "queued" => Ok(ItemState::Queued),
        "assigned" => Ok(ItemState::Assigned),
        "active" => Ok(ItemState::Active),
        _ => Err(ApiError::about_field(
            ErrorCode::InvalidField,
            "state",
            format!("unknown state {s:?} (queued, assigned, active: only open items are listed)"),
        )),
    }
}

/// `GET /api/items?state=&group=&channel=&agent=&cursor=&limit=`: open
/// items of the key's groups, by id, a page at a time.
pub(super) async fn list_items(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ItemsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let caller = any_caller(&state, &headers).await?;
    let Query(q) = q.map_err(|e| ApiError::new(ErrorCode::InvalidField, e.body_text()))?;
    let channel = q
        .channel
        .map(|c| {
            Channel::parse(&c).ok_or_else(|| {
                ApiError::about_field(
                    ErrorCode::InvalidField,
                    "channel",
                    format!("unknown channel {c:?} (chat, ticket, voice)"),
                )
            })
        })
        .transpose()?;
    let filter = ItemFilter {
        state: q.state.as_deref().map(open_state).transpose()?,
        group: q.group,
        channel,
        agent: q.agent,
        cursor: q.cursor,
        limit: q.limit.unwrap_or(DEFAULT_LIMIT),
    };
    let op = HttpOp::Items(ItemsOp::List(filter));
    Ok(Json(
        state
            .engine
            .call(|answer| Request::Http { caller, op, answer })
            .await?,
    ))
}

/// Proposes a change of an item, with the request's idempotency key.
async fn change(
    state: &AppState,
    headers: &HeaderMap,
    item: u64,
    change: ItemChangeRequest,
) -> Result<Json<Value>, ApiError> {
    let caller = any_caller(state, headers).await?;
    let key = idempotency_key(headers)?;
    let op = HttpOp::Items(ItemsOp::Change { item, change });
    let answer = ask_keyed(state, caller, op, key).await;
    if let Err(e) = &answer {
        tracing::info!(item, code = ?e.code, "item change refused");
    }
    Ok(Json(answer?))
}

/// `PATCH /api/items/{id}`: a new title or priority.
pub(super) async fn update_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    item: Result<Path<u64>, PathRejection>,
    payload: JsonBody<ItemPatchBody>,
) -> Result<Json<Value>, ApiError> {
    let item = item_id(item)?;
    let b = body(payload)?;
    b.check()?;
    let req = ItemChangeRequest::Update {
        title: b.title,
        priority: b.priority,
    };
    change(&state, &headers, item, req).await
}

/// `POST /api/items/{id}/cancel`: withdrawn before it was done.
pub(super) async fn cancel_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    item: Result<Path<u64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let item = item_id(item)?;
    change(&state, &headers, item, ItemChangeRequest::Cancel).await
}

/// `POST /api/items/{id}/close`: done; its holder's cap is free at once.
pub(super) async fn close_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    item: Result<Path<u64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let item = item_id(item)?;
    change(&state, &headers, item, ItemChangeRequest::Close).await
}

/// `POST /api/items/{id}/move`: to another group of the key's scope.
pub(super) async fn move_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    item: Result<Path<u64>, PathRejection>,
    payload: JsonBody<MoveBody>,
) -> Result<Json<Value>, ApiError> {
    let item = item_id(item)?;
    let b = body(payload)?;
    b.check()?;
    let req = ItemChangeRequest::Move {
        group: b.group,
        note: b.note,
    };
    change(&state, &headers, item, req).await
}

/// `POST /api/items/{id}/assign`: to a named member of the item's group.
pub(super) async fn assign_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    item: Result<Path<u64>, PathRejection>,
    payload: JsonBody<AssignBody>,
) -> Result<Json<Value>, ApiError> {
    let item = item_id(item)?;
    let b = body(payload)?;
    let req = ItemChangeRequest::Assign {
        agent: b.agent,
        override_capacity: b.override_capacity,
    };
    change(&state, &headers, item, req).await
}
