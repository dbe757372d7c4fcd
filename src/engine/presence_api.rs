//! Presence for integrations and consoles over HTTP: agents with their
//! status, paged and filtered by group, a group's live figures per
//! channel (what a workforce-management tool or a wallboard reads), and an
//! agent's status, availability or active cells set.
//!
//! Who sees what is the rule of `GET /api/agents/{id}`: an integration the
//! agents of its groups, a person itself, the members of the groups it
//! manages, or everyone when an admin.
//!
//! Who sets what: a person as in its console (`set_status`, `set_active`:
//! itself, or the agents it manages); an integration only with the
//! `set_presence` permission an admin gives it, for the agents and cells of
//! its groups. An integration's change is proposed as
//! [`LogOp::ByIntegration`], so every replica checks the scope again at
//! its place in the log and audits it under the integration's name.

use serde_json::{Value, json};

use super::admin_api::Page;
use super::request::PresenceChange;
use super::submit::{After, Step};
use super::{Engine, views};
use crate::api_error::{ApiError, ErrorCode};
use crate::domain::{
    AVAILABLE, AgentIx, CellChange, Channel, Command, GroupIx, IntegrationPresence, LogOp,
    UNAVAILABLE,
};
use crate::integrations::Integration;

impl Engine {
    /// `PUT /api/agents/{id}/status|availability|cells`: the change
    /// proposed for the caller, answered with the agent's status once
    /// applied.
    pub(super) fn set_presence_step(
        &self,
        caller: Option<AgentIx>,
        integration: Option<&Integration>,
        agent: &str,
        change: PresenceChange,
    ) -> Result<Step, ApiError> {
        let target = self.agent_ix(agent)?;
        let status = |available: bool| if available { AVAILABLE } else { UNAVAILABLE }.to_string();
        let cells = |cells: Vec<(String, Channel, bool)>| {
            cells
                .into_iter()
                .map(|(group, c, on)| {
                    let g = self.group_ix(&group).map_err(|e| {
                        ApiError::about_field(ErrorCode::NotFound, "cells", e.message)
                    })?;
                    super::scope::check_group(integration, &group).map_err(|e| {
                        ApiError::about_field(ErrorCode::Forbidden, "cells", e.message)
                    })?;
                    Ok((g, c, on))
                })
                .collect::<Result<Vec<_>, ApiError>>()
        };
        if let Some(i) = integration {
            if !i.set_presence {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    format!(
                        "the integration {} may not set presence (an admin allows it: \
                         \"set_presence\": true)",
                        i.name
                    ),
                ));
            }
            super::scope::check_agent(integration, self.state.core().directory(), target)?;
            let change = match change {
                PresenceChange::Status(s) => IntegrationPresence::Status(s),
                PresenceChange::Availability(on) => IntegrationPresence::Status(status(on)),
                PresenceChange::Cells(list) => IntegrationPresence::Cells(cells(list)?),
            };
            let op = LogOp::ByIntegration {
                name: i.name.clone(),
                scope: i.scope.clone(),
                command: Command::PresenceByIntegration {
                    agent: target,
                    change,
                },
            };
            return Ok(Step::Op(op, After::Status(target)));
        }
        let actor = caller.ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthorized,
                "a login token or an API key is needed",
            )
        })?;
        let command = match change {
            PresenceChange::Status(status) => Command::SetStatus {
                actor,
                agent: target,
                status,
            },
            PresenceChange::Availability(on) => Command::SetStatus {
                actor,
                agent: target,
                status: status(on),
            },
            PresenceChange::Cells(list) => Command::SetActive {
                actor,
                agent: target,
                change: CellChange::Cells(cells(list)?),
            },
        };
        Ok(Step::Submit(command, After::Status(target)))
    }

    /// `GET /api/agents`: statuses of the agents the caller may see,
    /// members of `group` when given, in directory order.
    pub(super) fn list_agent_statuses(
        &self,
        viewer: Option<AgentIx>,
        integration: Option<&Integration>,
        group: Option<GroupIx>,
        page: Page,
    ) -> Result<Value, ApiError> {
        let core = self.state.core();
        let dir = core.directory();
        if let Some(g) = group {
            super::scope::check_group(integration, &dir.group(g).id)?;
        }
        let visible = |a: AgentIx| {
            let by_viewer = viewer.is_none_or(|v| self.may_see_agent(v, a));
            let by_scope = super::scope::check_agent(integration, dir, a).is_ok();
            by_viewer && by_scope
        };
        let rows: Vec<Value> = dir
            .live_agents()
            .map(|(a, _)| a)
            .filter(|&a| group.is_none_or(|g| dir.member(a, g).is_some()) && visible(a))
            .map(|a| self.status_value(a))
            .collect();
        let total = rows.len();
        let limit = page.limit.min(super::admin_api::MAX_PAGE);
        let rows: Vec<Value> = rows.into_iter().skip(page.offset).take(limit).collect();
        Ok(json!({ "total": total, "offset": page.offset, "limit": limit, "agents": rows }))
    }

    /// `GET /api/groups/{id}/stats`: per channel, how many members are
    /// logged in, receiving, unavailable (chat), logged in but receiving
    /// nothing, at their cap; the queue's depth and longest wait; the
    /// expected wait of a new chat.
    pub(super) fn group_stats(&self, g: GroupIx, now: u64) -> Value {
        let core = self.state.core();
        let dir = core.directory();
        let members = dir.members_of(g);
        let mut channels = serde_json::Map::new();
        for c in Channel::ALL {
            let (mut logged_in, mut receiving, mut unavailable, mut nothing, mut at_cap) =
                (0, 0, 0, 0, 0);
            for &m in members {
                if dir.is_not_applicable(m, c) {
                    continue;
                }
                let p = core.presence(dir.membership(m).agent);
                if !p.logged_in {
                    continue;
                }
                logged_in += 1;
                if !core.is_receiving(dir.membership(m).agent) {
                    nothing += 1;
                }
                if c == Channel::Chat && !p.available {
                    unavailable += 1;
                }
                if views::at_cap(core, m, c) {
                    at_cap += 1;
                }
                if core.is_eligible(m, c) {
                    receiving += 1;
                }
            }
            let oldest = core.queue_oldest(g, c);
            channels.insert(
                c.as_str().to_string(),
                json!({
                    "enabled": dir.group(g).channels[c.index()].enabled,
                    "members": members.iter().filter(|&&m| !dir.is_not_applicable(m, c)).count(),
                    "logged_in": logged_in,
                    "receiving": receiving,
                    "unavailable": unavailable,
                    "receiving_nothing": nothing,
                    "at_cap": at_cap,
                    "queue_depth": core.queue_len(g, c),
                    "oldest_created_at": oldest,
                    "longest_wait_ms": oldest.map(|t| now.saturating_sub(t)),
                }),
            );
        }
        let waiting = core.queue_len(g, Channel::Chat);
        json!({
            "group": dir.group(g).id,
            "online": core.is_chat_online(g),
            "expected_chat_wait_ms": self.expected_wait_ms(g, waiting),
            "channels": channels,
        })
    }
}
