//! The items API of integrations (docs/protocol.md §1.3): read an open
//! item, list open items, and change one (close, cancel, update, move,
//! assign).
//!
//! Reads answer from the state now. A change is checked against the
//! integration's scope here, so that a refusal costs no log entry (unless
//! it carries an idempotency key: see [`Engine::items_step`]), and is
//! proposed as [`LogOp::ByIntegration`], which every replica applies at
//! the same log position (the scope checked again there) and audits under
//! the integration's name. It is answered with the item once applied, so
//! one node or several sharing a store answer alike.

use serde_json::{Value, json};

use super::request::{ItemChangeRequest, ItemFilter, ItemsOp};
use super::submit::{After, Step};
use super::{Engine, MAX_PAGE, scope, views};
use crate::api_error::{ApiError, ErrorCode};
use crate::domain::{Actor, Command, ItemId, LogOp};
use crate::integrations::Integration;

impl Engine {
    /// Answers or proposes an items API request of `integration`.
    pub(super) fn items_step(
        &mut self,
        integration: &Integration,
        op: ItemsOp,
    ) -> Result<Step, ApiError> {
        match op {
            ItemsOp::Get { item } => {
                self.item_in_scope(integration, item)?;
                Ok(Step::Now(Ok(self.item_value(item))))
            }
            ItemsOp::List(filter) => Ok(Step::Now(self.list_items(integration, filter))),
            ItemsOp::Change { item, change } => {
                // A retry with an idempotency key must reach the log, where
                // the first outcome is remembered, even when the item is
                // gone since (closed by the first try): the replica checks
                // the item and the scope again anyway.
                if self.proposals.key.is_none() {
                    self.item_in_scope(integration, item)?;
                }
                let command = self.item_command(integration, item, change)?;
                let op = LogOp::ByIntegration {
                    name: integration.name.clone(),
                    scope: integration.scope.clone(),
                    command,
                };
                Ok(Step::Op(op, After::Item))
            }
        }
    }

    /// `not_found` unless the item is open, `forbidden` unless its group is
    /// in the integration's scope.
    fn item_in_scope(&self, integration: &Integration, item: ItemId) -> Result<(), ApiError> {
        let core = self.state.core();
        let i = core.item(item).ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("no open item {item} (closed and cancelled items are forgotten)"),
            )
        })?;
        scope::check_group(Some(integration), &core.directory().group(i.group).id)
    }

    /// The domain command of a change, its ids resolved and the
    /// integration's permissions checked.
    fn item_command(
        &self,
        integration: &Integration,
        item: ItemId,
        change: ItemChangeRequest,
    ) -> Result<Command, ApiError> {
        let actor = Actor::Integration;
        Ok(match change {
            ItemChangeRequest::Close => Command::Close { actor, item },
            ItemChangeRequest::Cancel => Command::Cancel { actor, item },
            ItemChangeRequest::Update { title, priority } => Command::Update {
                actor,
                item,
                title,
                priority,
            },
            ItemChangeRequest::Move { group, note } => {
                let g = self
                    .group_ix(&group)
                    .map_err(|e| ApiError::about_field(ErrorCode::NotFound, "group", e.message))?;
                scope::check_group(Some(integration), &group)
                    .map_err(|e| ApiError::about_field(ErrorCode::Forbidden, "group", e.message))?;
                Command::Transfer {
                    actor,
                    item,
                    group: g,
                    agent: None,
                    note,
                }
            }
            ItemChangeRequest::Assign {
                agent,
                override_capacity,
            } => {
                let a = self
                    .agent_ix(&agent)
                    .map_err(|e| ApiError::about_field(ErrorCode::NotFound, "agent", e.message))?;
                if override_capacity && !integration.override_capacity {
                    return Err(ApiError::about_field(
                        ErrorCode::Forbidden,
                        "override_capacity",
                        format!(
                            "the integration {} may not override capacity (an admin allows it)",
                            integration.name
                        ),
                    ));
                }
                Command::Assign {
                    actor,
                    item,
                    agent: a,
                    override_capacity,
                }
            }
        })
    }

    /// Open items of the integration's groups matching `filter`, by id,
    /// after the cursor.
    fn list_items(&self, integration: &Integration, filter: ItemFilter) -> Result<Value, ApiError> {
        let core = self.state.core();
        let dir = core.directory();
        let group = match &filter.group {
            Some(id) => {
                let g = self
                    .group_ix(id)
                    .map_err(|e| ApiError::about_field(ErrorCode::NotFound, "group", e.message))?;
                scope::check_group(Some(integration), id)
                    .map_err(|e| ApiError::about_field(ErrorCode::Forbidden, "group", e.message))?;
                Some(g)
            }
            None => None,
        };
        let agent = filter
            .agent
            .as_deref()
            .map(|id| {
                self.agent_ix(id)
                    .map_err(|e| ApiError::about_field(ErrorCode::NotFound, "agent", e.message))
            })
            .transpose()?;
        let mut items: Vec<_> = core
            .items()
            .filter(|i| {
                integration.allows(&dir.group(i.group).id)
                    && filter.cursor.is_none_or(|c| i.id > c)
                    && filter.state.is_none_or(|s| i.state == s)
                    && group.is_none_or(|g| i.group == g)
                    && filter.channel.is_none_or(|c| i.channel == c)
                    && agent.is_none_or(|a| i.assignee == Some(a))
            })
            .collect();
        items.sort_unstable_by_key(|i| i.id);
        let limit = filter.limit.clamp(1, MAX_PAGE);
        let next_cursor = (items.len() > limit).then(|| items[limit - 1].id);
        let page: Vec<_> = items
            .into_iter()
            .take(limit)
            .map(|i| views::item(core, i))
            .collect();
        Ok(json!({ "items": page, "next_cursor": next_cursor }))
    }
}
