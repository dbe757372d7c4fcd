//! The JSON bodies of the HTTP API (docs/protocol.md §1), as the handlers
//! parse them (axum's `Json`, that is `serde_json` with unknown fields
//! refused), and the checks the types cannot say. Public so that the fuzz
//! targets parse exactly what the server parses.

use serde::Deserialize;

use super::frames::MAX_NOTE_CHARS;
use crate::api_error::{ApiError, ErrorCode};
use crate::domain::Channel;

/// `POST /api/login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// The agent's id.
    pub username: String,
    /// The password, in clear (over TLS at the proxy).
    pub password: String,
}

/// `POST /api/work`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkBody {
    /// The group's id.
    pub group: String,
    /// `chat`, `ticket` or `voice`.
    pub channel: String,
    /// Higher first in the queue.
    #[serde(default)]
    pub priority: i32,
    /// At most [`MAX_TITLE_CHARS`] characters.
    #[serde(default)]
    pub title: String,
    /// For a chat: the visitor's name.
    pub visitor: Option<String>,
}

pub use crate::domain::MAX_TITLE_CHARS;

impl WorkBody {
    /// The channel, once the body is known to be acceptable.
    pub fn check(&self) -> Result<Channel, ApiError> {
        let channel = Channel::parse(&self.channel).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidField,
                format!("unknown channel {:?} (chat, ticket, voice)", self.channel),
            )
        })?;
        if self.title.chars().count() > MAX_TITLE_CHARS {
            return Err(ApiError::new(
                ErrorCode::InvalidField,
                format!("title is over {MAX_TITLE_CHARS} characters"),
            ));
        }
        Ok(channel)
    }
}

/// `POST /api/visitor/chats` and `/api/visitor/tickets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// The group's id.
    pub group: String,
    /// The visitor's name, 1 to 80 characters once trimmed.
    pub name: String,
    /// The first message, 1 to 2000 characters once trimmed.
    pub text: String,
}

impl StartBody {
    /// Whether the name and text have acceptable lengths.
    pub fn check(&self) -> Result<(), ApiError> {
        let name = self.name.trim().chars().count();
        let text = self.text.trim().chars().count();
        if name == 0 || name > 80 || text == 0 || text > 2_000 {
            return Err(ApiError::new(
                ErrorCode::InvalidField,
                "name is 1 to 80 characters and text 1 to 2000",
            ));
        }
        Ok(())
    }
}

/// `PATCH /api/items/{id}`: at least one of the two.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemPatchBody {
    /// At most [`MAX_TITLE_CHARS`] characters.
    pub title: Option<String>,
    /// Higher first in the queue.
    pub priority: Option<i32>,
}

impl ItemPatchBody {
    /// Whether the body changes something, within the limits.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.title.is_none() && self.priority.is_none() {
            return Err(ApiError::about_field(
                ErrorCode::InvalidField,
                "title",
                "give title, priority or both".to_string(),
            ));
        }
        if self
            .title
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_TITLE_CHARS)
        {
            return Err(ApiError::about_field(
                ErrorCode::InvalidField,
                "title",
                format!("title is over {MAX_TITLE_CHARS} characters"),
            ));
        }
        Ok(())
    }
}

/// `POST /api/items/{id}/move`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// The receiving group's id.
    pub group: String,
    /// Why, for the receiving side (at most as long as a console's transfer
    /// note, [`MAX_NOTE_CHARS`]).
    #[serde(default)]
    pub note: String,
}

impl MoveBody {
    /// Whether the note has an acceptable length.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.note.chars().count() > MAX_NOTE_CHARS {
            return Err(ApiError::about_field(
                ErrorCode::InvalidField,
                "note",
                format!("note is over {MAX_NOTE_CHARS} characters"),
            ));
        }
        Ok(())
    }
}

/// `POST /api/items/{id}/assign`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The member's id.
    pub agent: String,
    /// Give it even at the member's cap (the integration must be allowed).
    #[serde(default)]
    pub override_capacity: bool,
}
