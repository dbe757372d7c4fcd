//! The admin API of an integration's dead letters: the webhook deliveries
//! given up after their last attempt (docs/webhooks.md).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::AppState;
use super::admin_api::ask;
use crate::api_error::{ApiError, ErrorCode};
use crate::engine::AdminOp;

/// Checks the caller is an admin and `name` an integration (through the
/// engine's list of integrations, which only admins may read).
async fn admin_and_integration(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
) -> Result<(), ApiError> {
    let list = ask(state, headers, AdminOp::ListIntegrations).await?;
    let known = list["integrations"]
        .as_array()
        .is_some_and(|l| l.iter().any(|i| i["name"] == name));
    if known {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no integration {name:?}"),
        ))
    }
}

fn store_error(e: crate::store::StoreError) -> ApiError {
    ApiError::new(ErrorCode::Unavailable, e.to_string())
}

/// `GET /api/admin/integrations/{name}/dead-letters`.
pub(super) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin_and_integration(&state, &headers, &name).await?;
    let letters = state
        .webhooks
        .dead_letters(&name)
        .await
        .map_err(store_error)?;
    Ok(Json(json!({ "dead_letters": letters })))
}

/// `POST /api/admin/integrations/{name}/dead-letters/redeliver`: each
/// dead letter tried once more now; those delivered are forgotten.
pub(super) async fn redeliver(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin_and_integration(&state, &headers, &name).await?;
    state
        .webhooks
        .redeliver(&name)
        .await
        .map(Json)
        .map_err(store_error)
}
