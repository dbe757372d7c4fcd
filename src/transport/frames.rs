//! Parsing client frames: a console's JSON text → request id + the engine's
//! own request type, [`SessionOp`], deserialized straight from the frame;
//! a visitor's → [`VisitorFrame`].
//!
//! Parse, then apply: nothing here touches state. Every way a frame can be
//! wrong ends in an [`ApiError`] carrying the request's id when one could be
//! read, so the client can match the error to its request.

use serde_json::Value;

use crate::api_error::{ApiError, ErrorCode};
use crate::engine::{SessionOp, WatchRequest};
use crate::replica::idempotency::MAX_KEY_BYTES;

/// A parsed frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFrame {
    /// The echoed request id (`null` when absent).
    pub id: Value,
    /// The write's idempotency key, when the client gave one.
    pub key: Option<String>,
    /// The request.
    pub request: ClientRequest,
}

/// What a console frame asks: the board (`watch`, served by the transport
/// in pieces) or anything the engine answers.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientRequest {
    /// Start watching boards.
    Watch(WatchRequest),
    /// A request of the engine.
    Op(SessionOp),
}

impl ClientRequest {
    /// The wire name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            ClientRequest::Watch(_) => "watch",
            ClientRequest::Op(op) => op.name(),
        }
    }
}

/// A refused frame: the id (if readable) and the error.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameError {
    /// The echoed request id (`null` when unreadable).
    pub id: Value,
    /// Why.
    pub error: ApiError,
}

/// Most cells in one `set_active`.
const MAX_CELLS: usize = 1_000;

/// Longest transfer note, in characters.
pub const MAX_NOTE_CHARS: usize = 500;

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
    let key = match obj.remove("key") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) if valid_key(&k) => Some(k),
        Some(_) => {
            return Err(refuse(
                id,
                ErrorCode::InvalidField,
                format!("key must be a string of 1 to {MAX_KEY_BYTES} visible ASCII characters"),
            ));
        }
    };
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
    if kind == "watch" {
        if let Some(obj) = value.as_object_mut() {
            obj.remove("type");
        }
        let watch: WatchRequest = serde_json::from_value(value).map_err(|e| {
            refuse(
                id.clone(),
                ErrorCode::InvalidField,
                format!("invalid watch request: {e}"),
            )
        })?;
        return Ok(ClientFrame {
            id,
            key,
            request: ClientRequest::Watch(watch),
        });
    }
    let request: SessionOp = serde_json::from_value(value).map_err(|e| {
        // serde names an unknown tag "unknown variant `<type>`"; anything
        // else (an unknown channel is an unknown variant too, of another
        // name) is a field of a known request.
        if e.to_string()
            .starts_with(&format!("unknown variant `{kind}`"))
        {
            refuse(
                id.clone(),
                ErrorCode::UnknownType,
                format!("unknown request type {kind:?}"),
            )
        } else {
            refuse(
                id.clone(),
                ErrorCode::InvalidField,
                format!("invalid {kind} request: {e}"),
            )
        }
    })?;
    check_limits(&request).map_err(|error| FrameError {
        id: id.clone(),
        error,
    })?;
    Ok(ClientFrame {
        id,
        key,
        request: ClientRequest::Op(request),
    })
}

/// Whether an idempotency key is acceptable: 1 to 128 visible ASCII
/// characters (a UUID is the usual choice).
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_BYTES && key.bytes().all(|b| b.is_ascii_graphic())
}

/// A frame from a visitor's socket (docs/protocol.md §2.4).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum VisitorFrame {
    /// The visitor writes in its chat (the engine checks the length).
    Message {
        /// What the visitor wrote.
        text: String,
    },
}

/// Parses one text frame of a visitor's socket; anything else than a known
/// frame is `invalid_field` with serde's words.
pub fn parse_visitor_frame(text: &str) -> Result<VisitorFrame, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::new(ErrorCode::InvalidField, e.to_string()))
}

/// Limits the types cannot say: how many cells, how long a note.
fn check_limits(request: &SessionOp) -> Result<(), ApiError> {
    match request {
        SessionOp::SetActive { cells, .. } if cells.len() > MAX_CELLS => Err(ApiError::new(
            ErrorCode::InvalidField,
            format!("at most {MAX_CELLS} cells per request"),
        )),
        SessionOp::Transfer {
            note: Some(note), ..
        } if note.chars().count() > MAX_NOTE_CHARS => Err(ApiError::new(
            ErrorCode::InvalidField,
            format!("a transfer note is at most {MAX_NOTE_CHARS} characters"),
        )),
        _ => Ok(()),
    }
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
        let f = parse_frame(r#"{"id":9,"type":"answer","item":3}"#).unwrap();
        assert_eq!(f.request, ClientRequest::Op(SessionOp::Accept { item: 3 }));
        assert_eq!(f.request.name(), "accept");
        assert_eq!(
            parse_frame(r#"{"type":"ping"}"#).unwrap().request,
            ClientRequest::Op(SessionOp::Ping {})
        );
        assert_eq!(
            parse_frame(r#"{"type":"watch","group":"g1","pieces":true}"#)
                .unwrap()
                .request,
            ClientRequest::Watch(WatchRequest {
                group: Some("g1".into()),
                pieces: true,
            })
        );
        let bad = parse_frame(r#"{"id":4,"type":"watch","grup":"g1"}"#).unwrap_err();
        assert_eq!(
            (bad.id, bad.error.code),
            (4.into(), ErrorCode::InvalidField)
        );
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
        assert_eq!(
            code(r#"{"id":9,"type":"ping","extra":1}"#),
            (Value::from(9), ErrorCode::InvalidField)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in ".*") {
            let _ = parse_frame(&s);
        }

        #[test]
        fn arbitrary_json_objects_never_panic(
            t in prop::sample::select(vec![
                "ping", "set_availability", "set_active", "set_active_column", "set_active_row",
                "take", "accept", "answer", "close", "decline", "take_over", "transfer",
                "explain", "message", "watch", "unwatch",
            ]),
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
