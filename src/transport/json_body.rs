//! [`JsonBody`]: the JSON body of an HTTP request as every handler takes
//! it, refused in our error shape (docs/protocol.md §3) the way the
//! protocol says: a body over the limit is `too_large`, one that did not
//! arrive within the body read timeout `request_timeout`, one that is not
//! JSON or not a JSON **object** `bad_request`, and a field missing, of the
//! wrong type or unknown `invalid_field`, naming the field in
//! `details.field` when it is one of the object's.
//!
//! The body is read as a JSON value first and checked to be an object
//! before it becomes the handler's type: serde reads a struct from an array
//! too, by position, so `[null, null]` would otherwise be a body whose
//! fields all have defaults.

use std::convert::Infallible;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::api_error::{ApiError, ErrorCode};

/// A request's JSON object body, parsed into `T`, or why it is refused.
/// Never rejects: the handler decides when to look (after authenticating).
pub(super) struct JsonBody<T>(Result<T, ApiError>);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let parsed = match Json::<Value>::from_request(req, state).await {
            Err(e) => Err(rejected(&e)),
            Ok(Json(v)) if !v.is_object() => Err(not_an_object()),
            Ok(Json(v)) => serde_path_to_error::deserialize(v).map_err(|e| invalid(&e)),
        };
        Ok(JsonBody(parsed))
    }
}

/// The body, or the error that refuses it.
pub(super) fn body<T>(payload: JsonBody<T>) -> Result<T, ApiError> {
    payload.0
}

fn not_an_object() -> ApiError {
    ApiError::new(ErrorCode::BadRequest, "the body is not a JSON object")
}

/// A body that is no JSON value: too large, too slow, not JSON, or without
/// a JSON content type.
fn rejected(e: &JsonRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(ErrorCode::TooLarge, e.body_text());
    }
    if timed_out(e) {
        metrics::counter!(crate::metrics::HTTP_TIMEOUTS, "phase" => "body").increment(1);
        return ApiError::new(ErrorCode::RequestTimeout, e.body_text());
    }
    ApiError::new(ErrorCode::BadRequest, e.body_text())
}

/// A JSON object that is not the handler's type: a field missing, of the
/// wrong type or unknown.
fn invalid(err: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    if err.path().iter().next().is_none() {
        return ApiError::new(ErrorCode::InvalidField, err.inner().to_string());
    }
    ApiError {
        code: ErrorCode::InvalidField,
        message: format!("{}: {}", err.path(), err.inner()),
        details: Some(json!({ "field": err.path().to_string() })),
    }
}

/// Whether the body failed because its read deadline passed (the error of
/// tower-http's deadline layer, somewhere in the rejection's sources).
fn timed_out(e: &JsonRejection) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = s.source();
    }
    false
}
