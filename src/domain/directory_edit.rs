//! Changing the directory while it serves: the primitive edits the core's
//! administration commands (`admin.rs`) are made of.
//!
//! Each edit keeps every lookup consistent and never reuses an index: a
//! deleted agent, group or membership keeps its slot, marked gone, and
//! leaves every lookup, so items, timers and snapshots that still name the
//! old index never meet a newcomer that took its id. Checks that need the
//! core's state (held work, permissions) are the caller's.

use super::directory::{
    AgentDef, AgentIx, Directory, DirectoryError, GroupDef, GroupIx, GroupSettings, Handling,
    MemberIx, Membership, check_id,
};
use super::status::StatusSettings;

impl Directory {
    /// Adds an agent under a free id.
    pub fn add_agent(&mut self, def: AgentDef) -> Result<AgentIx, DirectoryError> {
        check_id(&def.id)?;
        if self.agent_by_id.contains_key(&def.id) {
            return Err(DirectoryError::DuplicateAgent(def.id));
        }
        let ix = AgentIx(self.agents.len() as u32);
        self.agent_by_id.insert(def.id.clone(), ix);
        self.agents.push(def);
        self.agent_gone.push(false);
        self.memberships_of_agent.push(Vec::new());
        Ok(ix)
    }

    /// Replaces an agent's definition; its id never changes.
    pub fn replace_agent(&mut self, a: AgentIx, def: AgentDef) {
        debug_assert_eq!(self.agents[a.0 as usize].id, def.id);
        self.agents[a.0 as usize] = def;
    }

    /// Deletes an agent and every membership it had; its id becomes free.
    pub fn remove_agent(&mut self, a: AgentIx) {
        for m in self.memberships_of_agent[a.0 as usize].clone() {
            self.remove_membership(m);
        }
        self.agent_gone[a.0 as usize] = true;
        let id = &self.agents[a.0 as usize].id;
        self.agent_by_id.remove(id);
    }

    /// Adds a group under a free id.
    pub fn add_group(
        &mut self,
        def: GroupDef,
        settings: GroupSettings,
    ) -> Result<GroupIx, DirectoryError> {
        check_id(&def.id)?;
        if self.group_by_id.contains_key(&def.id) {
            return Err(DirectoryError::DuplicateGroup(def.id));
        }
        let ix = GroupIx(self.groups.len() as u32);
        self.group_by_id.insert(def.id.clone(), ix);
        self.groups.push(def);
        self.group_settings.push(settings);
        self.group_gone.push(false);
        self.members_of_group.push(Vec::new());
        Ok(ix)
    }

    /// Replaces a group's definition; its id never changes.
    pub fn replace_group(&mut self, g: GroupIx, def: GroupDef) {
        debug_assert_eq!(self.groups[g.0 as usize].id, def.id);
        self.groups[g.0 as usize] = def;
    }

    /// Deletes a group and every membership of it; its id becomes free.
    pub fn remove_group(&mut self, g: GroupIx) {
        for m in self.members_of_group[g.0 as usize].clone() {
            self.remove_membership(m);
        }
        self.group_gone[g.0 as usize] = true;
        let id = &self.groups[g.0 as usize].id;
        self.group_by_id.remove(id);
    }

    /// Makes `agent` a member of `group` (both existing, not yet a member).
    pub fn add_membership(&mut self, membership: Membership) -> MemberIx {
        let (a, g) = (membership.agent, membership.group);
        debug_assert!(!self.member_by_pair.contains_key(&(a, g)));
        let ix = MemberIx(self.memberships.len() as u32);
        self.memberships.push(membership);
        self.member_gone.push(false);
        self.member_by_pair.insert((a, g), ix);
        self.members_of_group[g.0 as usize].push(ix);
        self.memberships_of_agent[a.0 as usize].push(ix);
        ix
    }

    /// Changes how a member handles each channel, and its ticket cap.
    pub fn update_membership(&mut self, m: MemberIx, handling: [Handling; 3], cap: Option<u32>) {
        let ms = &mut self.memberships[m.0 as usize];
        ms.handling = handling;
        ms.ticket_cap = cap;
    }

    /// Ends a membership: it leaves every lookup, its slot stays.
    pub fn remove_membership(&mut self, m: MemberIx) {
        if self.member_gone[m.0 as usize] {
            return;
        }
        let ms = &self.memberships[m.0 as usize];
        let (a, g) = (ms.agent, ms.group);
        self.member_gone[m.0 as usize] = true;
        self.member_by_pair.remove(&(a, g));
        self.members_of_group[g.0 as usize].retain(|&x| x != m);
        self.memberships_of_agent[a.0 as usize].retain(|&x| x != m);
    }

    /// The slot of the agent with this id, deleted or not (a deleted id has
    /// left the lookups; its slot, the last one with that id, stays).
    pub fn agent_slot(&self, id: &str) -> Option<AgentIx> {
        self.agent_ix(id).or_else(|| {
            self.agents
                .iter()
                .rposition(|a| a.id == id)
                .map(|i| AgentIx(i as u32))
        })
    }

    /// The slot of the group with this id, deleted or not.
    pub fn group_slot(&self, id: &str) -> Option<GroupIx> {
        self.group_ix(id).or_else(|| {
            self.groups
                .iter()
                .rposition(|g| g.id == id)
                .map(|i| GroupIx(i as u32))
        })
    }

    /// Whether managers may administer the groups they manage.
    pub fn set_managers_administer(&mut self, allowed: bool) {
        self.managers_administer = allowed;
    }

    /// Replaces the help desk's statuses with reasons (checked by the
    /// caller with [`StatusSettings::check_reasons`]).
    pub fn set_status_settings(&mut self, settings: StatusSettings) {
        self.status_settings = settings;
    }
}
