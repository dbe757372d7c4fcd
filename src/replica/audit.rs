//! The audit log of presence changes: who, whom, what, old, new, when.
//! Part of the replicated state; bounded so that memory stays flat.
//!
//! Every replica derives the same records from the log. The records of each
//! entry also go to the store's audit stream (by the node that proposed the
//! entry; by the only node in memory and embedded modes), from which a node
//! that starts from a snapshot reloads the history before it.

use std::collections::VecDeque;

use serde::Serialize;

use crate::domain::{Actor, AgentIx, Directory, GroupIx, Millis, PresenceWhat};

/// One recorded presence change, stored with indices to stay small.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    /// When.
    pub at: Millis,
    /// Who did it.
    pub by: Actor,
    /// Whose presence.
    pub agent: AgentIx,
    /// What changed.
    pub what: PresenceWhat,
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
    agent: &'a str,
    what: &'static str,
    group: Option<&'a str>,
    channel: Option<&'static str>,
    old: &'static str,
    new: &'static str,
}

impl AuditEntryView<'_> {
    /// The id of the agent whose presence changed.
    pub fn agent_id(&self) -> &str {
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
            q.agent.is_none_or(|a| r.agent == a)
                && q.since.is_none_or(|s| r.at >= s)
                && q.group.is_none_or(|g| match r.what {
                    PresenceWhat::Active { group, .. } => group == g,
                    _ => dir.member(r.agent, g).is_some(),
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

fn render<'a>(dir: &'a Directory, r: &AuditRecord) -> AuditEntryView<'a> {
    let (what, group, channel, old, new) = match r.what {
        PresenceWhat::LoggedIn => ("login", None, None, "out", "in"),
        PresenceWhat::LoggedOut => ("logout", None, None, "in", "out"),
        PresenceWhat::Availability { old, new } => {
            let word = |v| if v { "available" } else { "unavailable" };
            ("availability", None, None, word(old), word(new))
        }
        PresenceWhat::Enabled { old, new } => {
            let word = |v| if v { "enabled" } else { "disabled" };
            ("account", None, None, word(old), word(new))
        }
        PresenceWhat::Active {
            group,
            channel,
            old,
            new,
        } => (
            "active",
            Some(dir.group(group).id.as_str()),
            Some(channel.as_str()),
            on_off(old),
            on_off(new),
        ),
    };
    AuditEntryView {
        at: r.at,
        by: actor_name(dir, r.by),
        agent: &dir.agent(r.agent).id,
        what,
        group,
        channel,
        old,
        new,
    }
}
