//! A domain refusal in words, with names instead of indices: what the
//! proposer of an entry answers, and what a replica remembers for a retried
//! write (`idempotency.rs`), so it is built here, the same on every node.

use serde_json::json;

use crate::api_error::{ApiError, ErrorCode};
use crate::domain::{Directory, DomainError};

fn forbidden(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Forbidden, msg)
}

/// The refusal of anything an agent with a disabled account asks.
pub fn account_disabled(agent: &str) -> ApiError {
    ApiError::new(
        ErrorCode::AccountDisabled,
        format!("the account {agent} is disabled; ask an admin"),
    )
}

/// The answer of a refused command.
pub fn api_error(dir: &Directory, e: DomainError) -> ApiError {
    match e {
        DomainError::NoSuchItem(id) => {
            ApiError::new(ErrorCode::NotFound, format!("no open item {id}"))
        }
        DomainError::NotMember(g) => {
            forbidden(format!("not a member of group {}", dir.group(g).id))
        }
        DomainError::Forbidden(msg) => forbidden(msg),
        DomainError::NotApplicable {
            agent,
            group,
            channel,
        } => ApiError::new(
            ErrorCode::NotApplicable,
            format!(
                "{} is N/A for {} in {}",
                channel.as_str(),
                dir.agent(agent).id,
                dir.group(group).id
            ),
        ),
        DomainError::AlreadyTaken { winner } => {
            let w = dir.agent(winner);
            ApiError {
                code: ErrorCode::AlreadyTaken,
                message: format!("already taken by {}", w.name),
                details: Some(json!({ "winner": w.id, "winner_name": w.name })),
            }
        }
        DomainError::InvalidState(state) => {
            ApiError::new(ErrorCode::InvalidState, format!("the item is {state}"))
        }
        DomainError::Offline(g) => ApiError {
            code: ErrorCode::Offline,
            message: format!(
                "chat is offline in {}: nobody is available; tickets are still accepted",
                dir.group(g).id
            ),
            details: Some(json!({ "tickets_accepted": true })),
        },
        DomainError::ChannelDisabled(g, c) => ApiError::about_field(
            ErrorCode::InvalidField,
            "group",
            format!("{} is not enabled in group {}", c.as_str(), dir.group(g).id),
        ),
        DomainError::TargetNotMember(a, g) => ApiError::about_field(
            ErrorCode::InvalidField,
            "agent",
            format!("{} is not a member of {}", dir.agent(a).id, dir.group(g).id),
        ),
        DomainError::TargetLoggedOut(a) => ApiError::new(
            ErrorCode::InvalidState,
            format!("{} is not logged in", dir.agent(a).name),
        ),
        DomainError::AtCapacity(c) => {
            ApiError::new(ErrorCode::AtCapacity, format!("at the {} cap", c.as_str()))
        }
        DomainError::Disabled(a) => account_disabled(&dir.agent(a).id),
        DomainError::NoSuchAgent(id) => {
            ApiError::new(ErrorCode::NotFound, format!("no agent {id:?}"))
        }
        DomainError::OutOfScope(g) => forbidden(format!(
            "the integration may not act in group {}",
            dir.group(g).id
        )),
        DomainError::NoSuchIntegration(name) => {
            ApiError::new(ErrorCode::NotFound, format!("no integration {name:?}"))
        }
        DomainError::NoSuchGroup(id) => {
            ApiError::new(ErrorCode::NotFound, format!("no group {id:?}"))
        }
        DomainError::Invalid { field, why } => ApiError {
            code: ErrorCode::InvalidField,
            message: format!("{field} {why}"),
            details: Some(json!({ "field": field })),
        },
        DomainError::Exists(what) => {
            ApiError::new(ErrorCode::Conflict, format!("{what} exists already"))
        }
        DomainError::HasWork { what, items } => ApiError {
            code: ErrorCode::Conflict,
            message: format!("{what} (items {items:?})"),
            details: Some(json!({ "items": items })),
        },
    }
}
