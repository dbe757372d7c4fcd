//! The error every boundary answers with: a stable code, a message in words,
//! and optional details. Used by HTTP answers and WebSocket `error` frames.

use serde::{Deserialize, Serialize};

/// Stable error codes of the wire protocol (docs/protocol.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, not an object, or no `type`.
    BadRequest,
    /// `type` names no request.
    UnknownType,
    /// A field is missing, mistyped, out of range or unknown.
    InvalidField,
    /// Wrong username or password.
    InvalidCredentials,
    /// No, a bad, an expired or a revoked token or key.
    Unauthorized,
    /// Authenticated but not allowed.
    Forbidden,
    /// The agent's account is disabled by an admin: no login, no session.
    AccountDisabled,
    /// No such agent, group or item (or path).
    NotFound,
    /// The path exists but not with this HTTP method.
    MethodNotAllowed,
    /// The request body did not arrive within the body read timeout.
    RequestTimeout,
    /// The active cell is N/A.
    NotApplicable,
    /// Someone else took the item first.
    AlreadyTaken,
    /// The item's state does not allow this.
    InvalidState,
    /// The agent is at its cap.
    AtCapacity,
    /// The group is offline for chat.
    Offline,
    /// The id is taken, or the change would strand open work (`details`
    /// names the items).
    Conflict,
    /// The event stream was asked to resume after an event the journal no
    /// longer holds (`details.oldest`: the oldest id still held).
    EventsExpired,
    /// A frame or body over the limit.
    TooLarge,
    /// Too many requests.
    RateLimited,
    /// The server cannot take writes now: nothing was changed.
    Unavailable,
    /// The write may or may not have been applied (it reached the log, or
    /// may have, before the answer was lost): retry with the same
    /// idempotency key to learn which.
    OutcomeUnknown,
    /// A bug.
    Internal,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest | ErrorCode::UnknownType | ErrorCode::InvalidField => 400,
            ErrorCode::InvalidCredentials | ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden | ErrorCode::AccountDisabled => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::NotApplicable
            | ErrorCode::AlreadyTaken
            | ErrorCode::InvalidState
            | ErrorCode::AtCapacity
            | ErrorCode::Offline
            | ErrorCode::Conflict => 409,
            ErrorCode::EventsExpired => 410,
            ErrorCode::TooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Unavailable | ErrorCode::OutcomeUnknown => 503,
            ErrorCode::Internal => 500,
        }
    }
}

/// A refused request, ready to be written on any transport.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    /// Stable code.
    pub code: ErrorCode,
    /// What went wrong, in words for a person.
    pub message: String,
    /// Extra data some codes carry (the winner of a take).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    /// An error without details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// An error about one field of the request, named in `details.field`.
    pub fn about_field(code: ErrorCode, field: &str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: Some(serde_json::json!({ "field": field })),
        }
    }
}
