//! Presence for integrations and consoles over HTTP: agents with their
//! status, paged and filtered by group, and a group's live figures per
//! channel (what a workforce-management tool or a wallboard reads).
//!
//! Who sees what is the rule of `GET /api/agents/{id}`: an integration the
//! agents of its groups, a person itself, the members of the groups it
//! manages, or everyone when an admin.

use serde_json::{Value, json};

use super::Engine;
use super::admin_api::Page;
use super::views;
use crate::api_error::ApiError;
use crate::domain::{AgentIx, Channel, GroupIx};
use crate::integrations::Integration;

impl Engine {
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
