//! Pushes after a directory change, so that consoles change live: an agent
//! added to or removed from a group, or whose group or record changed, gets
//! its whole view again (`groups_changed`: the `welcome`'s fields); boards
//! watching a changed group are told to ask for it again
//! (`board_changed`); a deleted agent's consoles are closed.

use serde_json::json;

use super::Engine;
use super::outbox::Frame;
use super::views;
use crate::domain::{AdminRecord, AgentIx, GroupIx};

impl Engine {
    /// Applies a directory change to this node's sessions and pushes it.
    pub(super) fn directory_changed(
        &mut self,
        seq: u64,
        old: Option<&AdminRecord>,
        new: Option<&AdminRecord>,
    ) {
        let dir = self.state.core().directory();
        self.local.grow(dir.agents().len(), dir.groups().len());
        let mut agents: Vec<AgentIx> = Vec::new();
        let mut groups: Vec<GroupIx> = Vec::new();
        for rec in [old, new].into_iter().flatten() {
            match rec {
                AdminRecord::Agent(def) => agents.extend(dir.agent_slot(&def.id)),
                AdminRecord::Group(def, _) => {
                    if let Some(g) = dir.group_slot(&def.id) {
                        groups.push(g);
                        // Members then and now: a deleted group's
                        // memberships are gone from the lookups.
                        agents.extend(
                            (0..dir.membership_count())
                                .map(|i| dir.membership(crate::domain::MemberIx(i as u32)))
                                .filter(|m| m.group == g)
                                .map(|m| m.agent),
                        );
                    }
                }
                AdminRecord::Member(m) => {
                    agents.push(m.agent);
                    groups.push(m.group);
                }
                AdminRecord::ManagersAdminister(_) => {}
                // Every console lists the statuses it may pick.
                AdminRecord::StatusSettings(_) => agents.extend(
                    (0..self.local.of_agent.len())
                        .filter(|&a| !self.local.of_agent[a].is_empty())
                        .map(|a| AgentIx(a as u32)),
                ),
            }
        }
        agents.sort_unstable();
        agents.dedup();
        groups.sort_unstable();
        groups.dedup();
        for &a in &agents {
            let dir = self.state.core().directory();
            if dir.is_agent_gone(a) {
                self.revoke_agent_sessions(a);
                continue;
            }
            // A session no longer a member of a group it watched stops
            // getting that board.
            let stale: Vec<GroupIx> = (0..dir.groups().len())
                .map(|g| GroupIx(g as u32))
                .filter(|&g| dir.member(a, g).is_none())
                .collect();
            for s in self.local.of_agent[a.0 as usize].clone() {
                if let Some(entry) = self.local.by_id.get_mut(&s) {
                    entry.watching.retain(|g| !stale.contains(g));
                }
            }
            for &g in &stale {
                let of_agent = &self.local.of_agent[a.0 as usize];
                self.local.watchers[g.0 as usize].retain(|x| !of_agent.contains(x));
            }
            if self.local.of_agent[a.0 as usize].is_empty() {
                continue;
            }
            let mut view = views::welcome(self.state.core(), a, 0, seq);
            view.r#type = "groups_changed";
            view.chats = self.held_chats(a);
            let f: Frame = serde_json::to_string(&view).unwrap_or_default().into();
            self.push_to_agent(seq, a, &f);
        }
        for g in groups {
            let dir = self.state.core().directory();
            let f: Frame = json!({
                "type": "board_changed",
                "seq": seq,
                "group": dir.group(g).id,
                "deleted": dir.is_group_gone(g),
            })
            .to_string()
            .into();
            for s in self.local.watchers[g.0 as usize].clone() {
                self.push_to_session(s, &f);
            }
        }
    }
}
