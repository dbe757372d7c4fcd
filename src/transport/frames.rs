//! Parsing client frames: JSON text → request id + typed [`SessionOp`].
//!
//! Parse, then apply: nothing here touches state. Every way a frame can be
//! wrong ends in an [`ApiError`] carrying the request's id when one could be
//! read, so the client can match the error to its request.

use serde::Deserialize;
use serde_json::Value;

use crate::api_error::{ApiError, ErrorCode};
use crate::domain::Channel;
use crate::engine::{CellSpec, SessionOp};

/// What a client frame asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientRequest {
    /// Liveness check, answered by the transport itself.
    Ping,
    /// Everything the engine answers.
    Op(SessionOp),
    /// `watch` with `"pieces": true`: the engine answers the same snapshot,
    /// the transport sends it in bounded pieces and from then on batches
    /// this session's `agent_status` pushes (docs/protocol.md, "Watching in
    /// pieces").
    WatchInPieces {
        /// One group id, or every group the agent may watch.
        group: Option<String>,
    },
}

/// A parsed frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFrame {
    /// The echoed request id (`null` when absent).
    pub id: Value,
    /// The request.
    pub request: ClientRequest,
}

/// A refused frame: the id (if readable) and the error.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameError {
    /// The echoed request id (`null` when unreadable).
    pub id: Value,
    /// Why.
    pub error: ApiError,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireCell {
    group: String,
    channel: String,
    active: bool,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum WireRequest {
    Ping,
    SetAvailability {
        available: bool,
    },
    SetActive {
        agent: Option<String>,
        cells: Vec<WireCell>,
    },
    SetActiveColumn {
        agent: Option<String>,
        channel: String,
        active: bool,
    },
    SetActiveRow {
        agent: Option<String>,
        group: String,
        active: bool,
    },
    Take {
        item: u64,
    },
    Accept {
        item: u64,
    },
    Close {
        item: u64,
    },
    Answer {
        item: u64,
    },
    Decline {
        item: u64,
    },
    TakeOver {
        item: u64,
    },
    Transfer {
        item: u64,
        group: String,
        agent: Option<String>,
        note: Option<String>,
    },
    Explain {
        item: u64,
    },
    Message {
        item: u64,
        text: String,
    },
    Watch {
        group: Option<String>,
        #[serde(default)]
        pieces: bool,
    },
    Unwatch {
        group: Option<String>,
    },
}

/// Request types this server knows, for telling `unknown_type` apart from a
/// bad field.
const KNOWN_TYPES: &[&str] = &[
    "ping",
    "set_availability",
    "set_active",
    "set_active_column",
    "set_active_row",
    "take",
    "accept",
    "close",
    "answer",
    "decline",
    "take_over",
    "transfer",
    "explain",
    "message",
    "watch",
    "unwatch",
];

/// Most cells in one `set_active`.
const MAX_CELLS: usize = 1_000;

fn channel(name: &str) -> Result<Channel, ApiError> {
    Channel::parse(name).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidField,
            format!("unknown channel {name:?} (chat, ticket, voice)"),
        )
    })
}

fn valid_id(id: &Value) -> bool {
    match id {
        Value::Null => true,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        Value::String(s) => s.len() <= 64,
        _ => false,
    }
}

/// Parses one text frame.
pub fn parse_frame(text: &str) -> Result<ClientFrame, FrameError> {
    let refuse = |id: Value, code, message: String| FrameError {
        id,
        error: ApiError::new(code, message),
    };
    let mut value: Value = serde_json::from_str(text).map_err(|e| {
        refuse(
            Value::Null,
            ErrorCode::BadRequest,
            format!("frame is not valid JSON: {e}"),
        )
    })?;
    let Some(obj) = value.as_object_mut() else {
        return Err(refuse(
            Value::Null,
            ErrorCode::BadRequest,
            "frame is not a JSON object".into(),
        ));
    };
    let id = obj.remove("id").unwrap_or(Value::Null);
    if !valid_id(&id) {
        return Err(refuse(
            Value::Null,
            ErrorCode::InvalidField,
            "id must be an integer or a string of at most 64 characters".into(),
        ));
    }
    let kind = match obj.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(_) => {
            return Err(refuse(
                id,
                ErrorCode::BadRequest,
                "type must be a string".into(),
            ));
        }
        None => {
            return Err(refuse(
                id,
                ErrorCode::BadRequest,
                "frame has no type".into(),
            ));
        }
    };
    if !KNOWN_TYPES.contains(&kind.as_str()) {
        return Err(refuse(
            id,
            ErrorCode::UnknownType,
            format!("unknown request type {kind:?}"),
        ));
    }
    let wire: WireRequest = serde_json::from_value(value).map_err(|e| {
        refuse(
            id.clone(),
            ErrorCode::InvalidField,
            format!("invalid {kind} request: {e}"),
        )
    })?;
    let op = to_op(wire).map_err(|error| FrameError {
        id: id.clone(),
        error,
    })?;
    Ok(ClientFrame { id, request: op })
}

fn to_op(wire: WireRequest) -> Result<ClientRequest, ApiError> {
    Ok(ClientRequest::Op(match wire {
        WireRequest::Ping => return Ok(ClientRequest::Ping),
        WireRequest::SetAvailability { available } => SessionOp::SetAvailability { available },
        WireRequest::SetActive { agent, cells } => {
            if cells.len() > MAX_CELLS {
                return Err(ApiError::new(
                    ErrorCode::InvalidField,
                    format!("at most {MAX_CELLS} cells per request"),
                ));
            }
            let cells = cells
                .into_iter()
                .map(|c| {
                    Ok(CellSpec {
                        group: c.group,
                        channel: channel(&c.channel)?,
                        active: c.active,
                    })
                })
                .collect::<Result<_, ApiError>>()?;
            SessionOp::SetActive { agent, cells }
        }
        WireRequest::SetActiveColumn {
            agent,
            channel: c,
            active,
        } => SessionOp::SetActiveColumn {
            agent,
            channel: channel(&c)?,
            active,
        },
        WireRequest::SetActiveRow {
            agent,
            group,
            active,
        } => SessionOp::SetActiveRow {
            agent,
            group,
            active,
        },
        WireRequest::Take { item } => SessionOp::Take { item },
        WireRequest::Accept { item } => SessionOp::Accept { item },
        WireRequest::Close { item } => SessionOp::Close { item },
        WireRequest::Answer { item } => SessionOp::Accept { item },
        WireRequest::Decline { item } => SessionOp::Decline { item },
        WireRequest::TakeOver { item } => SessionOp::TakeOver { item },
        WireRequest::Transfer {
            item,
            group,
            agent,
            note,
        } => {
            let note = note.unwrap_or_default();
            if note.chars().count() > 500 {
                return Err(ApiError::new(
                    ErrorCode::InvalidField,
                    "a transfer note is at most 500 characters",
                ));
            }
            SessionOp::Transfer {
                item,
                group,
                agent,
                note,
            }
        }
        WireRequest::Explain { item } => SessionOp::Explain { item },
        WireRequest::Message { item, text } => SessionOp::Message { item, text },
        WireRequest::Watch {
            group,
            pieces: true,
        } => return Ok(ClientRequest::WatchInPieces { group }),
        WireRequest::Watch {
            group,
            pieces: false,
        } => SessionOp::Watch { group },
        WireRequest::Unwatch { group } => SessionOp::Unwatch { group },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(text: &str) -> (Value, ErrorCode) {
        let e = parse_frame(text).unwrap_err();
        (e.id, e.error.code)
    }

    #[test]
    fn good_frames_parse() {
        let f = parse_frame(r#"{"id":7,"type":"take","item":42}"#).unwrap();
        assert_eq!(f.id, Value::from(7));
        assert_eq!(f.request, ClientRequest::Op(SessionOp::Take { item: 42 }));
        let f = parse_frame(
            r#"{"id":"a","type":"set_active","cells":[{"group":"g","channel":"chat","active":true}]}"#,
        )
        .unwrap();
        assert!(matches!(
            f.request,
            ClientRequest::Op(SessionOp::SetActive { .. })
        ));
    }

    #[test]
    fn bad_frames_are_typed_errors_with_their_id() {
        assert_eq!(code("{"), (Value::Null, ErrorCode::BadRequest));
        assert_eq!(code("[1]"), (Value::Null, ErrorCode::BadRequest));
        assert_eq!(code(r#"{"id":3}"#), (Value::from(3), ErrorCode::BadRequest));
        assert_eq!(
            code(r#"{"id":3,"type":"fly"}"#),
            (Value::from(3), ErrorCode::UnknownType)
        );
        assert_eq!(
            code(r#"{"id":4,"type":"take","item":"x"}"#),
            (Value::from(4), ErrorCode::InvalidField)
        );
        assert_eq!(
            code(r#"{"id":5,"type":"take","item":1,"extra":true}"#),
            (Value::from(5), ErrorCode::InvalidField)
        );
        assert_eq!(
            code(r#"{"id":6,"type":"take","item":1e400}"#),
            (Value::Null, ErrorCode::BadRequest)
        );
        assert_eq!(
            code(r#"{"id":6,"type":"take","item":-1}"#),
            (Value::from(6), ErrorCode::InvalidField)
        );
        assert_eq!(
            code(r#"{"id":8,"type":"set_active_column","channel":"fax","active":true}"#),
            (Value::from(8), ErrorCode::InvalidField)
        );
        assert_eq!(
            code(r#"{"id":{"a":1},"type":"ping"}"#).1,
            ErrorCode::InvalidField
        );
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in ".*") {
            let _ = parse_frame(&s);
        }

        #[test]
        fn arbitrary_json_objects_never_panic(
            t in prop::sample::select(KNOWN_TYPES.to_vec()),
            k in "[a-z_]{1,12}",
            v in prop_oneof![Just(Value::Null), any::<i64>().prop_map(Value::from), ".*".prop_map(Value::from), any::<bool>().prop_map(Value::from)],
        ) {
            let mut obj = serde_json::Map::new();
            obj.insert("type".into(), Value::from(t));
            obj.insert(k, v);
            let _ = parse_frame(&Value::Object(obj).to_string());
        }
    }
}
