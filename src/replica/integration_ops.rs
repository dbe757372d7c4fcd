//! An integration's change of an item ([`LogOp::ByIntegration`]: `Close`,
//! `Cancel`, `Update`, `Assign`, or `Transfer` to a group) or of an agent's
//! presence (`PresenceByIntegration`): its scope checked again at its place
//! in the log, where every replica sees the item in the same group and the
//! agent in the same groups (the engine's check before proposing it may be
//! stale by then), and an audit record under the integration's name.
//!
//! [`LogOp::ByIntegration`]: crate::domain::LogOp::ByIntegration

use serde_json::{Value, json};

use super::StateMachine;
use super::audit::{AuditRecord, AuditWhat, ItemChange};
use crate::domain::{
    Actor, AgentIx, Command, Directory, DomainError, GroupIx, GroupScope, IntegrationPresence,
    Item, ItemId, Millis, Reply,
};

/// The item a command changes and what it does to it; `None` for a command
/// that is not an integration's item change.
fn item_change(command: &Command) -> Option<(ItemId, ItemChange)> {
    match *command {
        Command::Close { item, .. } => Some((item, ItemChange::Closed)),
        Command::Cancel { item, .. } => Some((item, ItemChange::Cancelled)),
        Command::Update { item, .. } => Some((item, ItemChange::Updated)),
        Command::Transfer {
            item, agent: None, ..
        } => Some((item, ItemChange::Moved)),
        Command::Assign { item, .. } => Some((item, ItemChange::Assigned)),
        _ => None,
    }
}

/// The fields a change is about, as the audit shows them (`None`: the item
/// ended with the change).
fn fields(dir: &Directory, item: Option<&Item>, change: ItemChange) -> Value {
    let assignee = |i: &Item| i.assignee.map(|a| dir.agent(a).id.clone());
    match (change, item) {
        (ItemChange::Closed, None) => json!({ "state": "closed" }),
        (ItemChange::Cancelled, None) => json!({ "state": "cancelled" }),
        (_, None) => Value::Null,
        (ItemChange::Closed | ItemChange::Cancelled, Some(i)) => {
            json!({ "state": i.state.as_str(), "assignee": assignee(i) })
        }
        (ItemChange::Updated, Some(i)) => json!({ "title": i.title, "priority": i.priority }),
        (ItemChange::Moved, Some(i)) => {
            json!({ "group": dir.group(i.group).id, "assignee": assignee(i) })
        }
        (ItemChange::Assigned, Some(i)) => json!({ "assignee": assignee(i) }),
    }
}

/// An integration's presence change stays in its scope: the agent is a
/// member of a group in it, and every cell changed is of such a group.
fn presence_in_scope(
    dir: &Directory,
    scope: &GroupScope,
    agent: AgentIx,
    change: &IntegrationPresence,
) -> Result<(), DomainError> {
    let in_scope = |g: GroupIx| scope.allows(&dir.group(g).id);
    if let IntegrationPresence::Cells(cells) = change
        && let Some(&(g, _, _)) = cells.iter().find(|&&(g, _, _)| !in_scope(g))
    {
        return Err(DomainError::OutOfScope(g));
    }
    let member_in_scope = dir
        .memberships_of(agent)
        .iter()
        .any(|&m| in_scope(dir.membership(m).group));
    if *scope == GroupScope::All || member_in_scope {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "the integration may not act for an agent of no group of its scope",
        ))
    }
}

impl StateMachine {
    /// Applies `command` for the integration `name` if every group it
    /// touches (the item's, and a move's target) is in `scope`, and audits
    /// it.
    pub(super) fn apply_by_integration(
        &mut self,
        now: Millis,
        name: String,
        scope: &GroupScope,
        command: Command,
    ) -> Result<Reply, DomainError> {
        if let Command::PresenceByIntegration { agent, change } = &command {
            presence_in_scope(self.core.directory(), scope, *agent, change)?;
            return self.core.apply(now, command);
        }
        let Some((id, change)) = item_change(&command) else {
            return Err(DomainError::Forbidden(
                "an integration changes items only by close, cancel, update, move or assign, \
                 and presence by status or active cells",
            ));
        };
        let before = self
            .core
            .item(id)
            .cloned()
            .ok_or(DomainError::NoSuchItem(id))?;
        let target = match command {
            Command::Transfer { group, .. } => Some(group),
            _ => None,
        };
        let dir = self.core.directory();
        for g in std::iter::once(before.group).chain(target) {
            if !scope.allows(&dir.group(g).id) {
                return Err(DomainError::OutOfScope(g));
            }
        }
        let reply = self.core.apply(now, command)?;
        let after = self.core.item(id);
        let dir = self.core.directory();
        let record = AuditRecord {
            at: now,
            by: Actor::Integration,
            agent: after.and_then(|i| i.assignee).or(before.assignee),
            what: AuditWhat::Item {
                item: id,
                group: after.map_or(before.group, |i| i.group),
                change,
                old: fields(dir, Some(&before), change),
                new: fields(dir, after, change),
            },
            integration: Some(name),
        };
        self.audit.push(record);
        Ok(reply)
    }
}
