//! The audit log of presence and directory changes: who, whom, what, old,
//! new, when.
//! Part of the replicated state; bounded so that memory stays flat.
//!
//! Every replica derives the same records from the log. The records of each
//! entry also go to the store's audit stream (by the node that proposed the
//! entry; by the only node in memory and embedded modes), from which a node
//! that starts from a snapshot reloads the history before it.

use std::collections::VecDeque;

use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::{
    Actor, AdminRecord, AgentIx, Channel, Directory, GroupIx, ItemId, Millis, PresenceWhat,
};

/// One recorded change, stored with indices to stay small.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    /// When.
    pub at: Millis,
    /// Who did it.
    pub by: Actor,
    /// Whose presence (or which agent's directory record); `None` for a
    /// change of a group or of a setting.
    pub agent: Option<AgentIx>,
    /// What changed.
    pub what: AuditWhat,
    /// The integration's name, when `by` is an integration that names
    /// itself (its item changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration: Option<String>,
}

/// What an audit record records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum AuditWhat {
    /// A presence change (written as the bare change, as before directory
    /// changes were audited, so older audit streams still read).
    Presence(PresenceWhat),
    /// A work item an integration changed. Before `Directory`: untagged,
    /// that variant's two optional fields would match any object.
    Item {
        /// The item.
        item: ItemId,
        /// Its group (the new one when moved).
        group: GroupIx,
        /// What was done.
        change: ItemChange,
        /// The fields it changed, before.
        old: Value,
        /// The same fields after.
        new: Value,
    },
    /// A directory record before and after (`None`: created, deleted).
    Directory {
        /// Before.
        old: Option<Box<AdminRecord>>,
        /// After.
        new: Option<Box<AdminRecord>>,
    },
}

/// What an integration did to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemChange {
    /// Closed (done).
    Closed,
    /// Cancelled (withdrawn).
    Cancelled,
    /// Title or priority changed.
    Updated,
    /// Moved to another group.
    Moved,
    /// Given to a named member.
    Assigned,
}

impl ItemChange {
    /// The audit's `what`.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemChange::Closed => "item_closed",
            ItemChange::Cancelled => "item_cancelled",
            ItemChange::Updated => "item_updated",
            ItemChange::Moved => "item_moved",
            ItemChange::Assigned => "item_assigned",
        }
    }
}

/// The audit records one log entry produced, on their way to the store's
/// audit stream.
#[derive(Debug, Clone)]
pub struct AuditBatch {
    /// The log entry's id: it orders the records in the stream and makes a
    /// repeated append of the same batch change nothing.
    pub entry: String,
    /// The records, in order.
    pub records: Vec<AuditRecord>,
}

/// A filter over the audit (the "agent-group activity" report).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this agent.
    pub agent: Option<AgentIx>,
    /// Only entries about this group (active cells), or of its members
    /// (login, logout, availability).
    pub group: Option<GroupIx>,
    /// Only entries at or after this time.
    pub since: Option<Millis>,
    /// At most this many (the newest).
    pub limit: usize,
}

/// An audit entry as clients see it.
#[derive(Debug, Serialize)]
pub struct AuditEntryView<'a> {
    at: Millis,
    by: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<ItemId>,
    agent: Option<&'a str>,
    what: &'static str,
    group: Option<String>,
    channel: Option<&'static str>,
    old: Value,
    new: Value,
}

impl AuditEntryView<'_> {
    /// The id of the agent whose presence or record changed.
    pub fn agent_id(&self) -> Option<&str> {
        self.agent
    }
}

/// The bounded, in-order audit log.
#[derive(Debug, Clone)]
pub struct AuditLog {
    records: VecDeque<AuditRecord>,
    capacity: usize,
    /// Records pushed since start, so a caller can pick out the ones one
    /// step added.
    pushed: u64,
}

fn on_off(v: bool) -> &'static str {
    if v { "on" } else { "off" }
}

/// The name recorded for an actor.
pub fn actor_name(dir: &Directory, by: Actor) -> &str {
    match by {
        Actor::Agent(a) => &dir.agent(a).id,
        Actor::System => "system",
        Actor::Integration => "integration",
    }
}

impl AuditLog {
    /// A log keeping the newest `capacity` records.
    pub fn new(capacity: usize) -> Self {
        AuditLog {
            records: VecDeque::new(),
            capacity,
            pushed: 0,
        }
    }

    /// How many records were pushed so far; pass it to [`AuditLog::since`].
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// The records pushed after the count `mark` (those still kept).
    pub fn since(&self, mark: u64) -> Vec<AuditRecord> {
        let added = (self.pushed - mark).min(self.records.len() as u64) as usize;
        self.records
            .iter()
            .skip(self.records.len() - added)
            .cloned()
            .collect()
    }

    /// Names the integration on the records pushed after `mark` that an
    /// unnamed integration made (its presence changes, which the core
    /// records knowing only that an integration made them).
    pub fn name_integration(&mut self, mark: u64, name: &str) {
        let added = (self.pushed - mark).min(self.records.len() as u64) as usize;
        let from = self.records.len() - added;
        for r in self.records.iter_mut().skip(from) {
            if r.by == Actor::Integration && r.integration.is_none() {
                r.integration = Some(name.to_string());
            }
        }
    }

    /// Replaces the records with `records` (oldest first): the history
    /// before a restored snapshot.
    pub fn replace(&mut self, records: Vec<AuditRecord>) {
        self.records.clear();
        for r in records {
            self.push(r);
        }
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends a record, dropping the oldest past the capacity.
    pub fn push(&mut self, record: AuditRecord) {
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        self.records.push_back(record);
        self.pushed += 1;
    }

    /// Records matching the query, oldest first, rendered with names.
    pub fn query<'a>(&'a self, dir: &'a Directory, q: &AuditQuery) -> Vec<AuditEntryView<'a>> {
        let matches = |r: &&AuditRecord| {
            q.agent.is_none_or(|a| r.agent == Some(a))
                && q.since.is_none_or(|s| r.at >= s)
                && q.group.is_none_or(|g| match &r.what {
                    AuditWhat::Presence(PresenceWhat::Active { group, .. }) => *group == g,
                    AuditWhat::Item { group, .. } => *group == g,
                    AuditWhat::Directory { old, new } => {
                        [old, new].into_iter().flatten().any(|rec| match &**rec {
                            AdminRecord::Group(def, _) => dir.group_ix(&def.id) == Some(g),
                            AdminRecord::Member(m) => m.group == g,
                            _ => false,
                        })
                    }
                    _ => r.agent.is_some_and(|a| dir.member(a, g).is_some()),
                })
        };
        let mut out: Vec<_> = self
            .records
            .iter()
            .rev()
            .filter(matches)
            .take(q.limit)
            .map(|r| render(dir, r))
            .collect();
        out.reverse();
        out
    }
}

fn render<'a>(dir: &'a Directory, r: &'a AuditRecord) -> AuditEntryView<'a> {
    let (what, group, channel, old, new) = match &r.what {
        AuditWhat::Presence(p) => {
            let (what, group, channel, old, new) = render_presence(dir, p);
            (
                what,
                group.map(str::to_string),
                channel,
                Value::from(old),
                Value::from(new),
            )
        }
        AuditWhat::Directory { old, new } => {
            let kind = old
                .as_ref()
                .or(new.as_ref())
                .map_or("directory", |rec| match &**rec {
                    AdminRecord::Agent(_) => "agent",
                    AdminRecord::Group(..) => "group",
                    AdminRecord::Member(_) => "membership",
                    AdminRecord::ManagersAdminister(_) => "managers_administer",
                    AdminRecord::StatusSettings(_) => "statuses",
                });
            let group = old.as_ref().or(new.as_ref()).and_then(|rec| match &**rec {
                AdminRecord::Group(def, _) => Some(def.id.clone()),
                AdminRecord::Member(m) => Some(dir.group(m.group).id.clone()),
                _ => None,
            });
            let value = |rec: &Option<Box<AdminRecord>>| {
                rec.as_ref().map_or(Value::Null, |x| record_json(dir, x))
            };
            (kind, group, None, value(old), value(new))
        }
        AuditWhat::Item {
            group,
            change,
            old,
            new,
            ..
        } => (
            change.as_str(),
            Some(dir.group(*group).id.clone()),
            None,
            old.clone(),
            new.clone(),
        ),
    };
    let item = match &r.what {
        AuditWhat::Item { item, .. } => Some(*item),
        _ => None,
    };
    AuditEntryView {
        at: r.at,
        by: r
            .integration
            .as_deref()
            .unwrap_or_else(|| actor_name(dir, r.by)),
        item,
        agent: r.agent.map(|a| dir.agent(a).id.as_str()),
        what,
        group,
        channel,
        old,
        new,
    }
}

type PresenceColumns<'a> = (
    &'static str,
    Option<&'a str>,
    Option<&'static str>,
    &'a str,
    &'a str,
);

fn render_presence<'a>(dir: &'a Directory, what: &'a PresenceWhat) -> PresenceColumns<'a> {
    match what {
        PresenceWhat::LoggedIn => ("login", None, None, "out", "in"),
        PresenceWhat::LoggedOut => ("logout", None, None, "in", "out"),
        PresenceWhat::Availability { old, new } => {
            let word = |v: bool| if v { "available" } else { "unavailable" };
            ("availability", None, None, word(*old), word(*new))
        }
        PresenceWhat::Status { old, new, .. } => ("status", None, None, old, new),
        PresenceWhat::Enabled { old, new } => {
            let word = |v: bool| if v { "enabled" } else { "disabled" };
            ("account", None, None, word(*old), word(*new))
        }
        PresenceWhat::Active {
            group,
            channel,
            old,
            new,
        } => (
            "active",
            Some(dir.group(*group).id.as_str()),
            Some(channel.as_str()),
            on_off(*old),
            on_off(*new),
        ),
    }
}

/// A directory record as the audit and the admin API show it: ids, not
/// indices.
pub fn record_json(dir: &Directory, rec: &AdminRecord) -> Value {
    match rec {
        AdminRecord::Agent(a) => json!({
            "id": a.id,
            "name": a.name,
            "roles": roles_json(a.roles),
            "chat_cap": a.chat_cap,
            "manage_own_status": a.manage_own_status,
            "take_assigned": a.take_assigned,
        }),
        AdminRecord::Group(g, s) => json!({
            "id": g.id,
            "name": g.name,
            "department": g.department,
            "channels": Channel::ALL.iter().map(|c| {
                let cfg = g.channels[c.index()];
                (c.as_str().to_string(), json!({
                    "enabled": cfg.enabled,
                    "distribution": cfg.distribution,
                    "wrap_up_ms": cfg.wrap_up_ms,
                    "blocked_by": Channel::ALL.iter().map(|o| {
                        (o.as_str().to_string(), json!(cfg.blocked_by[o.index()]))
                    }).collect::<serde_json::Map<_, _>>(),
                }))
            }).collect::<serde_json::Map<_, _>>(),
            "ring_timeout_ms": s.ring_timeout_ms,
            "no_response_ms": s.no_response_ms,
            "disconnect_ms": s.disconnect_ms,
            "queue_when_offline": s.queue_when_offline,
            "not_responding_after": s.not_responding_after,
            "abandon_after_ms": s.abandon_after_ms,
            "auto_away_ms": s.auto_away_ms,
            "reassign_tickets_after_logout_ms": s.reassign_tickets_after_logout_ms,
        }),
        AdminRecord::Member(m) => json!({
            "agent": dir.agent(m.agent).id,
            "group": dir.group(m.group).id,
            "handling": Channel::ALL.iter().map(|c| {
                (c.as_str().to_string(), json!(m.handling[c.index()]))
            }).collect::<serde_json::Map<_, _>>(),
            "ticket_cap": m.ticket_cap,
        }),
        AdminRecord::ManagersAdminister(v) => json!(v),
        AdminRecord::StatusSettings(s) => json!(s),
    }
}

/// Roles as the wire names them.
pub fn roles_json(r: crate::domain::Roles) -> Vec<&'static str> {
    [
        (r.agent, "agent"),
        (r.manager, "manager"),
        (r.admin, "admin"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| name)
    .collect()
}
