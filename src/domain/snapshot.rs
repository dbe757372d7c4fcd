//! A core's state as data, so that a replica can start from a snapshot
//! instead of replaying the whole shared log (which can then be trimmed).
//!
//! The directory is in the snapshot, since administrators change it live; a
//! snapshot written before that (without one) is restored over the
//! directory it was taken with, which the caller passes. Queues are not in
//! it:
//! they are exactly the queued items, so they are rebuilt from the items,
//! which keeps one source of truth in the snapshot.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::core::{AgentPresence, Core, CoreConfig, MemberState, Timer};
use super::directory::{Channel, Directory, GroupIx};
use super::item::{Item, ItemId, ItemState};
use super::time::Millis;

/// Everything a [`Core`] holds besides its directory and settings.
///
/// Restoring it gives a core that answers every later command exactly as
/// the original would (a property test checks this), which is what lets a
/// replica restored from a snapshot agree with replicas that replayed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CoreSnapshot {
    /// The directory as administered up to the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    directory: Option<Directory>,
    agents: Vec<AgentPresence>,
    members: Vec<MemberState>,
    /// Open items, by id.
    items: Vec<Item>,
    timers: Vec<(Millis, Timer)>,
    item_timers: Vec<(ItemId, Vec<(Millis, Timer)>)>,
    next_item: ItemId,
    dirty: Vec<(GroupIx, Channel)>,
}

/// Why a snapshot cannot be restored over a directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The snapshot was taken over another directory (other agents, groups
    /// or memberships).
    #[error("the snapshot does not match the directory: {0}")]
    DirectoryMismatch(String),
}

impl Core {
    /// The state as data. Events not yet drained are not part of it: take a
    /// snapshot between commands, after draining.
    pub fn snapshot(&self) -> CoreSnapshot {
        let mut items: Vec<Item> = self.items.values().cloned().collect();
        items.sort_by_key(|i| i.id);
        let mut item_timers: Vec<(ItemId, Vec<(Millis, Timer)>)> = self
            .item_timers
            .iter()
            .map(|(id, t)| (*id, t.clone()))
            .collect();
        item_timers.sort_by_key(|(id, _)| *id);
        CoreSnapshot {
            directory: Some(self.dir.clone()),
            agents: self.agents.clone(),
            members: self.members.clone(),
            items,
            timers: self.timers.iter().copied().collect(),
            item_timers,
            next_item: self.next_item,
            dirty: self.dirty.clone(),
        }
    }

    /// A core in the state of `snapshot`, over the snapshot's directory, or
    /// over `dir` for a snapshot written without one.
    pub fn restore(
        dir: Directory,
        config: CoreConfig,
        mut snapshot: CoreSnapshot,
    ) -> Result<Core, SnapshotError> {
        let dir = snapshot.directory.take().unwrap_or(dir);
        let mismatch = |what: String| Err(SnapshotError::DirectoryMismatch(what));
        if snapshot.agents.len() != dir.agents().len() {
            return mismatch(format!(
                "{} agents in the snapshot, {} in the directory",
                snapshot.agents.len(),
                dir.agents().len()
            ));
        }
        if snapshot.members.len() != dir.membership_count() {
            return mismatch(format!(
                "{} memberships in the snapshot, {} in the directory",
                snapshot.members.len(),
                dir.membership_count()
            ));
        }
        let groups = dir.groups().len();
        let agents = dir.agents().len();
        for item in &snapshot.items {
            let bad_group = item.group.0 as usize >= groups;
            let bad_agent = item.assignee.is_some_and(|a| a.0 as usize >= agents);
            if bad_group || bad_agent {
                return mismatch(format!("item {} refers outside the directory", item.id));
            }
        }
        let mut core = Core::new(dir, config);
        for item in &snapshot.items {
            if item.state == ItemState::Queued {
                core.queues[item.group.0 as usize][item.channel.index()].push(item);
            }
        }
        core.agents = snapshot.agents;
        core.members = snapshot.members;
        core.items = snapshot.items.into_iter().map(|i| (i.id, i)).collect();
        core.timers = snapshot.timers.into_iter().collect::<BTreeSet<_>>();
        core.item_timers = snapshot.item_timers.into_iter().collect::<HashMap<_, _>>();
        core.next_item = snapshot.next_item;
        core.dirty = snapshot.dirty;
        Ok(core)
    }
}
