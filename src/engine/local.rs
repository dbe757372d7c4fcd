//! This node's own sessions: who has a console open here, where its pushes
//! go and what it watches. Owned by the engine task beside the replicated
//! state, never in a snapshot: another node knows its sessions only as the
//! session ids the core holds.

use std::collections::HashMap;

use super::outbox::OutboxSender;
use crate::domain::{AgentIx, GroupIx, Millis};

/// A local session: whose it is, where its pushes go, what it watches.
#[derive(Debug)]
pub(super) struct SessionEntry {
    /// The agent it is a console of.
    pub(super) agent: AgentIx,
    /// Digest of the login token that opened it: logging out closes it.
    pub(super) login: [u8; 32],
    /// Where its pushes go.
    pub(super) outbox: OutboxSender,
    /// The groups whose board it watches.
    pub(super) watching: Vec<GroupIx>,
}

/// The sessions of this node, indexed the ways pushes need them.
#[derive(Debug)]
pub(super) struct LocalSessions {
    /// Open sessions by id.
    pub(super) by_id: HashMap<u64, SessionEntry>,
    /// Per agent: its sessions here (pushes to an agent).
    pub(super) of_agent: Vec<Vec<u64>>,
    /// Per group: the sessions here watching its board.
    pub(super) watchers: Vec<Vec<u64>>,
    /// The low 32 bits of the next session id (the node is the high 32).
    pub(super) next_id: u64,
    /// Per agent: when one of its sessions here last sent a request
    /// (auto-away judges only this node's sessions).
    pub(super) last_activity: Vec<Millis>,
}

impl LocalSessions {
    /// No session yet, for a directory of `agents` agents and `groups`
    /// groups.
    pub(super) fn new(agents: usize, groups: usize) -> Self {
        LocalSessions {
            by_id: HashMap::new(),
            of_agent: vec![Vec::new(); agents],
            watchers: vec![Vec::new(); groups],
            next_id: 1,
            last_activity: vec![0; agents],
        }
    }

    /// Makes room for agents and groups an administrator added.
    pub(super) fn grow(&mut self, agents: usize, groups: usize) {
        if self.of_agent.len() < agents {
            self.of_agent.resize(agents, Vec::new());
            self.last_activity.resize(agents, 0);
        }
        if self.watchers.len() < groups {
            self.watchers.resize(groups, Vec::new());
        }
    }
}
