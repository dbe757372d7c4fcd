//! Administration: agents, groups and memberships changed while the help
//! desk runs, as commands of the core, so that every replica applies the
//! same change at the same log position and nothing else interleaves.
//!
//! Who may do what is decided here, at apply time, against the directory
//! as it is then: admins change everything; managers change memberships,
//! caps and settings of the groups they manage, unless an admin switched
//! that off; nobody changes their own roles or deletes themselves.
//!
//! The hard cases, each in one step:
//! - removing a member (or deleting an agent) that holds work hands that
//!   work back to routing in its group, created-at and wait kept, never back
//!   to the same agent (history: `removed`);
//! - deleting a group with open items is refused naming the items, unless
//!   the admin names a group to move them to;
//! - disabling a channel of a group is refused while items of that channel
//!   wait in its queue (nobody could take them); held ones stay with their
//!   holders until closed;
//! - lowering a cap takes nothing away: routing only stops giving more until
//!   the load is below it.

use super::command::{Actor, Reply};
use super::core::{Core, MemberState};
use super::directory::{
    AgentDef, AgentIx, Channel, ChannelConfig, Distribution, GroupDef, GroupIx, GroupSettings,
    Handling, MemberIx, Membership, Roles,
};
use super::error::DomainError;
use super::event::Event;
use super::item::{HandOff, ItemId, ItemState};
use super::status::StatusSettings;
use super::time::Millis;

/// Longest display name or department, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Largest chat cap an agent may have.
pub const MAX_CHAT_CAP: u32 = 100;
/// Longest a group timer may be (one day).
pub const MAX_TIMER_MS: u64 = 86_400_000;
/// Most offers a group may let an agent miss in a row before it is Not
/// Responding.
pub const MAX_MISSED_OFFERS: u32 = 100;

/// Fields of an agent to change; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AgentPatch {
    /// Display name.
    pub name: Option<String>,
    /// Roles.
    pub roles: Option<Roles>,
    /// Most chats held at once.
    pub chat_cap: Option<u32>,
    /// May set its own active cells.
    pub manage_own_status: Option<bool>,
    /// May take items assigned to someone else.
    pub take_assigned: Option<bool>,
}

/// One channel of a group to change; `None` keeps the current value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChannelPatch {
    /// Enabled.
    pub enabled: Option<bool>,
    /// Auto or pull.
    pub distribution: Option<Distribution>,
    /// Wrap-up after closing an item of the channel (0: none).
    #[serde(default)]
    pub wrap_up_ms: Option<u64>,
    /// Held items per channel that keep this channel's new work away.
    #[serde(default)]
    pub blocked_by: Option<[u32; 3]>,
}

/// Fields of a group to change; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupPatch {
    /// Display name.
    pub name: Option<String>,
    /// Department label.
    pub department: Option<String>,
    /// Per channel, in [`Channel::ALL`] order.
    pub channels: [ChannelPatch; 3],
    /// How long a call rings one agent.
    pub ring_timeout_ms: Option<u64>,
    /// How long an assigned chat may wait for its first response.
    pub no_response_ms: Option<u64>,
    /// How long a holder may stay logged out before its chats move.
    pub disconnect_ms: Option<u64>,
    /// Queue new chats when nobody is online.
    pub queue_when_offline: Option<bool>,
    /// Offers let run out in a row before Not Responding (0: never).
    #[serde(default)]
    pub not_responding_after: Option<u32>,
    /// How long a queued chat's visitor may be gone before it is abandoned.
    #[serde(default)]
    pub abandon_after_ms: Option<u64>,
    /// Idle time before members are switched unavailable (0: server-wide).
    #[serde(default)]
    pub auto_away_ms: Option<u64>,
    /// How long a holder may stay logged out before its tickets move
    /// (`Some(None)`: they stay with it).
    #[serde(default)]
    pub reassign_tickets_after_logout_ms: Option<Option<u64>>,
}

impl GroupPatch {
    /// Whether it changes the group's name or department (admins only).
    fn renames(&self) -> bool {
        self.name.is_some() || self.department.is_some()
    }
}

/// Fields of a membership to change; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberPatch {
    /// Per channel handling.
    pub handling: Option<[Handling; 3]>,
    /// The ticket cap (`Some(None)` removes it).
    pub ticket_cap: Option<Option<u32>>,
}

/// One change of the directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AdminChange {
    /// A new agent (enabled, logged out, available).
    CreateAgent(AgentDef),
    /// Change an agent's fields.
    UpdateAgent {
        /// Whom.
        agent: AgentIx,
        /// What.
        patch: AgentPatch,
    },
    /// Delete an agent: logged out at once, its work back to routing.
    DeleteAgent {
        /// Whom.
        agent: AgentIx,
    },
    /// A new group.
    CreateGroup {
        /// Its definition.
        group: GroupDef,
        /// Its timers.
        settings: GroupSettings,
    },
    /// Change a group's fields.
    UpdateGroup {
        /// Which.
        group: GroupIx,
        /// What.
        patch: GroupPatch,
    },
    /// Delete a group; its open items move to `move_to`, or the deletion is
    /// refused while it has any.
    DeleteGroup {
        /// Which.
        group: GroupIx,
        /// Where its open items go.
        move_to: Option<GroupIx>,
    },
    /// Make an agent a member of a group.
    AddMember {
        /// Membership to add (its agent and group exist).
        membership: Membership,
    },
    /// Change a membership.
    UpdateMember {
        /// The member.
        agent: AgentIx,
        /// The group.
        group: GroupIx,
        /// What.
        patch: MemberPatch,
    },
    /// End a membership: its work in the group back to routing.
    RemoveMember {
        /// The member.
        agent: AgentIx,
        /// The group.
        group: GroupIx,
    },
    /// Whether managers may administer the groups they manage.
    SetManagersAdminister {
        /// Allowed.
        allowed: bool,
    },
    /// The help desk's statuses with reasons, and whether managers may set
    /// their members' status (admins only).
    SetStatusSettings(StatusSettings),
    /// Several changes as one: all applied, or none (a directory file
    /// imported into a running system).
    Batch(Vec<AdminChange>),
}

/// The directory record a change touched, before and after (for the audit
/// and for the consoles).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AdminRecord {
    /// An agent.
    Agent(AgentDef),
    /// A group and its timers.
    Group(GroupDef, GroupSettings),
    /// A membership.
    Member(Membership),
    /// The managers' permission.
    ManagersAdminister(bool),
    /// The statuses with reasons.
    StatusSettings(StatusSettings),
}

fn invalid(field: &'static str, why: impl Into<String>) -> DomainError {
    DomainError::Invalid {
        field,
        why: why.into(),
    }
}

fn check_name(field: &'static str, name: &str, may_be_empty: bool) -> Result<(), DomainError> {
    if !may_be_empty && name.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            field,
            format!("is over {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_agent(def: &AgentDef) -> Result<(), DomainError> {
    check_name("name", &def.name, false)?;
    if def.chat_cap > MAX_CHAT_CAP {
        return Err(invalid("chat_cap", format!("is over {MAX_CHAT_CAP}")));
    }
    Ok(())
}

fn check_group(def: &GroupDef, settings: &GroupSettings) -> Result<(), DomainError> {
    check_name("name", &def.name, false)?;
    check_name("department", &def.department, true)?;
    for (field, ms) in [
        ("ring_timeout_ms", settings.ring_timeout_ms),
        ("no_response_ms", settings.no_response_ms),
        ("disconnect_ms", settings.disconnect_ms),
        (
            "reassign_tickets_after_logout_ms",
            settings.reassign_tickets_after_logout_ms.unwrap_or(1),
        ),
    ] {
        if ms == 0 || ms > MAX_TIMER_MS {
            return Err(invalid(field, format!("must be 1 to {MAX_TIMER_MS} ms")));
        }
    }
    if def
        .channels
        .iter()
        .any(|c| c.blocked_by.iter().any(|&n| n > MAX_CHAT_CAP))
    {
        return Err(invalid(
            "blocked_by",
            format!("must be 0 (no block) to {MAX_CHAT_CAP} held items"),
        ));
    }
    if settings.auto_away_ms > MAX_TIMER_MS {
        return Err(invalid(
            "auto_away_ms",
            format!("must be 0 (the server's) to {MAX_TIMER_MS} ms"),
        ));
    }
    if settings.abandon_after_ms > MAX_TIMER_MS {
        return Err(invalid(
            "abandon_after_ms",
            format!("must be 0 (never) to {MAX_TIMER_MS} ms"),
        ));
    }
    if def.channels.iter().any(|c| c.wrap_up_ms > MAX_TIMER_MS) {
        return Err(invalid(
            "wrap_up_ms",
            format!("must be 0 (none) to {MAX_TIMER_MS} ms"),
        ));
    }
    if settings.not_responding_after > MAX_MISSED_OFFERS {
        return Err(invalid(
            "not_responding_after",
            format!("must be 0 (never) to {MAX_MISSED_OFFERS}"),
        ));
    }
    Ok(())
}

fn apply_channel(cfg: &mut ChannelConfig, patch: ChannelPatch) {
    if let Some(e) = patch.enabled {
        cfg.enabled = e;
    }
    if let Some(d) = patch.distribution {
        cfg.distribution = d;
    }
    if let Some(ms) = patch.wrap_up_ms {
        cfg.wrap_up_ms = ms;
    }
    if let Some(b) = patch.blocked_by {
        cfg.blocked_by = b;
    }
}

impl Core {
    /// Applies an administration change after checking who asks.
    pub(super) fn administer(
        &mut self,
        now: Millis,
        actor: Actor,
        change: AdminChange,
    ) -> Result<Reply, DomainError> {
        self.check_admin_rights(actor, &change)?;
        let (old, new) = match change {
            AdminChange::CreateAgent(def) => {
                check_agent(&def)?;
                let a = self
                    .dir
                    .add_agent(def.clone())
                    .map_err(|_| DomainError::Exists(format!("agent {:?}", def.id)))?;
                self.agents.push(super::core::AgentPresence {
                    available: true,
                    since: now,
                    ..Default::default()
                });
                debug_assert_eq!(self.agents.len(), a.0 as usize + 1);
                (None, Some(AdminRecord::Agent(def)))
            }
            AdminChange::UpdateAgent { agent, patch } => {
                let old = self.live_agent(agent)?.clone();
                let mut def = old.clone();
                if let Some(n) = patch.name {
                    def.name = n;
                }
                if let Some(r) = patch.roles {
                    def.roles = r;
                }
                if let Some(c) = patch.chat_cap {
                    def.chat_cap = c;
                }
                if let Some(m) = patch.manage_own_status {
                    def.manage_own_status = m;
                }
                if let Some(t) = patch.take_assigned {
                    def.take_assigned = t;
                }
                check_agent(&def)?;
                let more_chats = def.chat_cap > old.chat_cap;
                self.dir.replace_agent(agent, def.clone());
                if more_chats {
                    self.mark_agent_dirty(agent, &[Channel::Chat]);
                }
                (Some(AdminRecord::Agent(old)), Some(AdminRecord::Agent(def)))
            }
            AdminChange::DeleteAgent { agent } => {
                let old = self.live_agent(agent)?.clone();
                self.log_out_now(now, agent, actor);
                for id in self.presence(agent).held.clone() {
                    self.hand_back(now, id, actor);
                }
                for m in self.dir.memberships_of(agent).to_vec() {
                    self.members[m.0 as usize] = MemberState::default();
                }
                self.dir.remove_agent(agent);
                (Some(AdminRecord::Agent(old)), None)
            }
            AdminChange::CreateGroup { group, settings } => {
                check_group(&group, &settings)?;
                let id = group.id.clone();
                self.dir
                    .add_group(group.clone(), settings)
                    .map_err(|_| DomainError::Exists(format!("group {id:?}")))?;
                self.queues.push(Default::default());
                (None, Some(AdminRecord::Group(group, settings)))
            }
            AdminChange::UpdateGroup { group, patch } => self.update_group(group, patch)?,
            AdminChange::DeleteGroup { group, move_to } => {
                self.delete_group(now, actor, group, move_to)?
            }
            AdminChange::AddMember { membership } => {
                let (a, g) = (membership.agent, membership.group);
                self.live_agent(a)?;
                self.live_group(g)?;
                if self.dir.member(a, g).is_some() {
                    return Err(DomainError::Exists(format!(
                        "the membership of {:?} in {:?}",
                        self.dir.agent(a).id,
                        self.dir.group(g).id
                    )));
                }
                let m = self.dir.add_membership(membership.clone());
                let mut active = membership.initially_active;
                for c in Channel::ALL {
                    active[c.index()] &= !self.dir.is_not_applicable(m, c);
                }
                self.members.push(MemberState::with_active(active));
                debug_assert_eq!(self.members.len(), m.0 as usize + 1);
                for c in Channel::ALL {
                    if active[c.index()] {
                        self.dirty.push((g, c));
                    }
                }
                (None, Some(AdminRecord::Member(membership)))
            }
            AdminChange::UpdateMember {
                agent,
                group,
                patch,
            } => {
                let m = self
                    .dir
                    .member(agent, group)
                    .ok_or(DomainError::NotMember(group))?;
                let old = self.dir.membership(m).clone();
                let handling = patch.handling.unwrap_or(old.handling);
                let cap = patch.ticket_cap.unwrap_or(old.ticket_cap);
                self.dir.update_membership(m, handling, cap);
                self.clear_not_applicable(m);
                for c in Channel::ALL {
                    self.dirty.push((group, c));
                }
                let new = self.dir.membership(m).clone();
                (
                    Some(AdminRecord::Member(old)),
                    Some(AdminRecord::Member(new)),
                )
            }
            AdminChange::RemoveMember { agent, group } => {
                let m = self
                    .dir
                    .member(agent, group)
                    .ok_or(DomainError::NotMember(group))?;
                let old = self.dir.membership(m).clone();
                let held: Vec<ItemId> = self
                    .presence(agent)
                    .held
                    .iter()
                    .copied()
                    .filter(|id| self.items[id].group == group)
                    .collect();
                for id in held {
                    self.hand_back(now, id, actor);
                }
                self.members[m.0 as usize] = MemberState::default();
                self.dir.remove_membership(m);
                (Some(AdminRecord::Member(old)), None)
            }
            AdminChange::Batch(changes) => return self.administer_batch(now, actor, changes),
            AdminChange::SetManagersAdminister { allowed } => {
                let old = self.dir.managers_administer();
                self.dir.set_managers_administer(allowed);
                (
                    Some(AdminRecord::ManagersAdminister(old)),
                    Some(AdminRecord::ManagersAdminister(allowed)),
                )
            }
            AdminChange::SetStatusSettings(settings) => {
                StatusSettings::check_reasons(&settings.reasons)?;
                let old = self.dir.status_settings().clone();
                self.dir.set_status_settings(settings.clone());
                (
                    Some(AdminRecord::StatusSettings(old)),
                    Some(AdminRecord::StatusSettings(settings)),
                )
            }
        };
        self.events.push(Event::Directory {
            at: now,
            by: actor,
            old: old.map(Box::new),
            new: new.map(Box::new),
        });
        Ok(Reply::Done)
    }

    /// All of `changes`, or none: a refused step puts everything back as
    /// it was (a whole copy of the core, but imports are rare).
    fn administer_batch(
        &mut self,
        now: Millis,
        actor: Actor,
        changes: Vec<AdminChange>,
    ) -> Result<Reply, DomainError> {
        let before = self.clone();
        for c in changes {
            if let Err(e) = self.administer(now, actor, c) {
                *self = before;
                return Err(e);
            }
        }
        Ok(Reply::Done)
    }

    fn live_agent(&self, a: AgentIx) -> Result<&AgentDef, DomainError> {
        if self.dir.is_agent_gone(a) {
            return Err(DomainError::NoSuchAgent(self.dir.agent(a).id.clone()));
        }
        Ok(self.dir.agent(a))
    }

    fn live_group(&self, g: GroupIx) -> Result<&GroupDef, DomainError> {
        if self.dir.is_group_gone(g) {
            return Err(DomainError::NoSuchGroup(self.dir.group(g).id.clone()));
        }
        Ok(self.dir.group(g))
    }

    /// Who may make `change`: see the module docs.
    fn check_admin_rights(&self, actor: Actor, change: &AdminChange) -> Result<(), DomainError> {
        let a = match actor {
            Actor::System => return Ok(()),
            Actor::Integration => {
                return Err(DomainError::Forbidden(
                    "integrations may not change the directory",
                ));
            }
            Actor::Agent(a) => a,
        };
        match change {
            AdminChange::UpdateAgent { agent, patch } if *agent == a && patch.roles.is_some() => {
                return Err(DomainError::Forbidden("nobody may change their own roles"));
            }
            AdminChange::DeleteAgent { agent } if *agent == a => {
                return Err(DomainError::Forbidden(
                    "you may not delete your own account",
                ));
            }
            _ => {}
        }
        let me = self.dir.agent(a);
        if me.roles.admin {
            return Ok(());
        }
        let manages = |g: GroupIx| {
            me.roles.manager && self.dir.managers_administer() && self.dir.is_manager_of(a, g)
        };
        let allowed = match change {
            AdminChange::AddMember { membership } => manages(membership.group),
            AdminChange::UpdateMember { group, .. } | AdminChange::RemoveMember { group, .. } => {
                manages(*group)
            }
            AdminChange::UpdateGroup { group, patch } => !patch.renames() && manages(*group),
            AdminChange::UpdateAgent { agent, patch } => {
                let only_cap = AgentPatch {
                    chat_cap: patch.chat_cap,
                    ..AgentPatch::default()
                } == *patch;
                only_cap
                    && self
                        .dir
                        .memberships_of(*agent)
                        .iter()
                        .any(|&m| manages(self.dir.membership(m).group))
            }
            _ => false,
        };
        if allowed {
            Ok(())
        } else if me.roles.manager {
            Err(DomainError::Forbidden(
                "managers may change only memberships, caps and settings of the groups they manage",
            ))
        } else {
            Err(DomainError::Forbidden(
                "only an admin may change the directory",
            ))
        }
    }

    fn update_group(
        &mut self,
        g: GroupIx,
        patch: GroupPatch,
    ) -> Result<(Option<AdminRecord>, Option<AdminRecord>), DomainError> {
        let old = self.live_group(g)?.clone();
        let old_settings = *self.dir.settings(g);
        let mut def = old.clone();
        if let Some(n) = &patch.name {
            def.name = n.clone();
        }
        if let Some(d) = &patch.department {
            def.department = d.clone();
        }
        for c in Channel::ALL {
            apply_channel(&mut def.channels[c.index()], patch.channels[c.index()]);
        }
        let mut settings = old_settings;
        if let Some(v) = patch.ring_timeout_ms {
            settings.ring_timeout_ms = v;
        }
        if let Some(v) = patch.no_response_ms {
            settings.no_response_ms = v;
        }
        if let Some(v) = patch.disconnect_ms {
            settings.disconnect_ms = v;
        }
        if let Some(v) = patch.queue_when_offline {
            settings.queue_when_offline = v;
        }
        if let Some(v) = patch.not_responding_after {
            settings.not_responding_after = v;
        }
        if let Some(v) = patch.abandon_after_ms {
            settings.abandon_after_ms = v;
        }
        if let Some(v) = patch.auto_away_ms {
            settings.auto_away_ms = v;
        }
        if let Some(v) = patch.reassign_tickets_after_logout_ms {
            settings.reassign_tickets_after_logout_ms = v;
        }
        check_group(&def, &settings)?;
        for c in Channel::ALL {
            let (was, is) = (old.channels[c.index()], def.channels[c.index()]);
            if was.enabled && !is.enabled && self.queue_len(g, c) > 0 {
                let items = self.queue(g, c).map(|i| i.id).collect();
                return Err(DomainError::HasWork {
                    what: "queued items of that channel wait in the group: close or move them first",
                    items,
                });
            }
        }
        self.dir.replace_group(g, def.clone());
        self.dir.set_settings(g, settings);
        if settings.disconnect_ms != old_settings.disconnect_ms
            || settings.reassign_tickets_after_logout_ms
                != old_settings.reassign_tickets_after_logout_ms
        {
            // Work of holders already logged out follows the new limits.
            let held: Vec<ItemId> = self
                .items
                .values()
                .filter(|i| i.group == g && i.assignee.is_some())
                .map(|i| i.id)
                .collect();
            for id in held {
                self.arm_logout_hand_off(id);
            }
        }
        for &m in &self.dir.members_of(g).to_vec() {
            self.clear_not_applicable(m);
        }
        for c in Channel::ALL {
            self.dirty.push((g, c));
        }
        Ok((
            Some(AdminRecord::Group(old, old_settings)),
            Some(AdminRecord::Group(def, settings)),
        ))
    }

    fn delete_group(
        &mut self,
        now: Millis,
        actor: Actor,
        g: GroupIx,
        move_to: Option<GroupIx>,
    ) -> Result<(Option<AdminRecord>, Option<AdminRecord>), DomainError> {
        let old = self.live_group(g)?.clone();
        let settings = *self.dir.settings(g);
        let mut open: Vec<ItemId> = self
            .items
            .values()
            .filter(|i| i.group == g)
            .map(|i| i.id)
            .collect();
        open.sort_unstable();
        if !open.is_empty() {
            let Some(to) = move_to else {
                return Err(DomainError::HasWork {
                    what: "the group has open items: close them, or name a group to move them to",
                    items: open,
                });
            };
            self.live_group(to)?;
            if to == g {
                return Err(invalid("move_to", "is the group being deleted"));
            }
            for &id in &open {
                let c = self.items[&id].channel;
                if !self.dir.group(to).channels[c.index()].enabled {
                    return Err(DomainError::ChannelDisabled(to, c));
                }
            }
            for id in open {
                let by = match actor {
                    Actor::Agent(a) => Some(a),
                    _ => None,
                };
                self.hand_off(now, id, HandOff::Removed, by, to, String::new());
            }
        }
        for &m in &self.dir.members_of(g).to_vec() {
            self.members[m.0 as usize] = MemberState::default();
        }
        self.dir.remove_group(g);
        Ok((Some(AdminRecord::Group(old, settings)), None))
    }

    /// Hands an item its holder may no longer keep (membership ended,
    /// account deleted) back to routing in its group.
    fn hand_back(&mut self, now: Millis, id: ItemId, actor: Actor) {
        let item = &self.items[&id];
        if !item.state.is_held() && item.state != ItemState::Queued {
            return;
        }
        let group = item.group;
        let by = match actor {
            Actor::Agent(a) => Some(a),
            _ => None,
        };
        self.hand_off(now, id, HandOff::Removed, by, group, String::new());
    }

    /// Turns off cells that became N/A (channel disabled, member excluded).
    fn clear_not_applicable(&mut self, m: MemberIx) {
        for c in Channel::ALL {
            if self.dir.is_not_applicable(m, c) {
                self.members[m.0 as usize].set_active(c, false);
            }
        }
    }
}
