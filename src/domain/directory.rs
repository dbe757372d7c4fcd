//! The directory: agents, groups and memberships.
//!
//! The [`super::Core`] refers to agents, groups and memberships by dense
//! indices ([`AgentIx`], [`GroupIx`], [`MemberIx`]) so that routing walks
//! plain vectors instead of hashing strings. Administrators change it live
//! (`directory_edit.rs`); an index is never reused, so a deleted agent,
//! group or membership keeps its slot (marked gone) and an item or timer that
//! still names it cannot be confused with a newcomer of the same id.

use std::collections::HashMap;

use super::status::StatusSettings;

/// Dense index of an agent in the [`Directory`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct AgentIx(pub u32);

/// Dense index of a group in the [`Directory`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct GroupIx(pub u32);

/// Dense index of a membership in the [`Directory`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct MemberIx(pub u32);

/// The three kinds of work. Serde uses the wire names (`"chat"`,
/// `"ticket"`, `"voice"`), so requests deserialize straight into domain
/// types; the capitalised names of logs and snapshots written by the
/// previous release are still read.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Live chat: gated by availability and the chat cap.
    #[serde(alias = "Chat")]
    Chat,
    /// Tickets: not gated by availability; optional cap per membership.
    #[serde(alias = "Ticket")]
    Ticket,
    /// Voice calls: one at a time per agent.
    #[serde(alias = "Voice")]
    Voice,
}

impl Channel {
    /// Every channel, in column order.
    pub const ALL: [Channel; 3] = [Channel::Chat, Channel::Ticket, Channel::Voice];

    /// Position in per-channel arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Chat => "chat",
            Channel::Ticket => "ticket",
            Channel::Voice => "voice",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// How a group hands out one channel's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    /// Round robin to an eligible agent; queued when nobody is eligible.
    #[default]
    Auto,
    /// Never assigned: everything waits in the queue to be cherry-picked.
    Pull,
}

/// One channel's settings in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ChannelConfig {
    /// A disabled channel is N/A for every member.
    pub enabled: bool,
    /// Auto or pull.
    pub distribution: Distribution,
    /// After closing an item of this channel, its holder gets no new work
    /// of the channel for this long (0: no wrap-up).
    #[serde(default)]
    pub wrap_up_ms: u64,
    /// Cross-channel capacity: per channel of held work (in
    /// [`Channel::ALL`] order), how many held items of it (in any group)
    /// keep new work of this channel away; 0: that channel does not block.
    /// A call in progress blocking new chats is `[0, 0, 1]` on chat.
    #[serde(default)]
    pub blocked_by: [u32; 3],
}

/// How a member handles one channel of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handling {
    /// Served first by routing.
    #[default]
    Primary,
    /// Served only when no primary is eligible.
    Secondary,
    /// Never auto-assigned; may cherry-pick from the queue.
    Pull,
    /// Does not handle this channel here: the cell is N/A.
    Excluded,
}

/// Roles a person may hold (several at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Roles {
    /// Works items.
    pub agent: bool,
    /// Manages the groups it is a member of.
    pub manager: bool,
    /// Manages every agent's status (but sees communications only of its groups).
    pub admin: bool,
}

/// A person in the directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AgentDef {
    /// Stable id, also the login name.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Roles held.
    pub roles: Roles,
    /// Most chats held at once.
    pub chat_cap: u32,
    /// May set its own active cells (removable per agent).
    pub manage_own_status: bool,
    /// May take items assigned to someone else in its groups.
    pub take_assigned: bool,
}

/// A routing group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupDef {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Department label, for display and filtering.
    pub department: String,
    /// Per channel, in [`Channel::ALL`] order.
    pub channels: [ChannelConfig; 3],
}

/// A group's timers and offline behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupSettings {
    /// How long a call rings one agent before the next is tried.
    pub ring_timeout_ms: u64,
    /// How long an assigned chat may wait for its first response before it is
    /// handed to the next agent.
    pub no_response_ms: u64,
    /// How long an agent may stay logged out before its chats are handed off.
    pub disconnect_ms: u64,
    /// Queue new chats even when nobody is online for chat.
    pub queue_when_offline: bool,
    /// How long an agent may stay logged out before its tickets of this
    /// group go back to routing; `None` (the default) keeps them with it.
    /// Off unless set, because a ticket is often owned for days and an agent
    /// who ends a shift would not expect to find it gone; a desk that wants
    /// the tickets of an agent who is not coming back (a dead node, a lost
    /// laptop) worked sooner sets it per group.
    #[serde(default)]
    pub reassign_tickets_after_logout_ms: Option<u64>,
    /// Offers an agent may let run out in a row (no response, rung out)
    /// before it is Not Responding and gets no new offers until it acts;
    /// 0: never. Absent in older snapshots: the default.
    #[serde(default = "default_not_responding_after")]
    pub not_responding_after: u32,
    /// A queued visitor chat whose visitor has had no socket open this long
    /// is abandoned (0: never). Absent in older snapshots: never, as
    /// before.
    #[serde(default)]
    pub abandon_after_ms: u64,
    /// Members idle at their consoles this long are switched unavailable
    /// (audited as `system`); 0: the server-wide `--auto-away`, if any. An
    /// agent in several groups gets the shortest.
    #[serde(default)]
    pub auto_away_ms: u64,
}

fn default_not_responding_after() -> u32 {
    GroupSettings::default().not_responding_after
}

impl Default for GroupSettings {
    fn default() -> Self {
        GroupSettings {
            ring_timeout_ms: 20_000,
            no_response_ms: 60_000,
            disconnect_ms: 120_000,
            queue_when_offline: false,
            reassign_tickets_after_logout_ms: None,
            not_responding_after: 3,
            abandon_after_ms: 120_000,
            auto_away_ms: 0,
        }
    }
}

/// An agent's membership of a group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Membership {
    /// The member.
    pub agent: AgentIx,
    /// The group.
    pub group: GroupIx,
    /// Per channel, in [`Channel::ALL`] order.
    pub handling: [Handling; 3],
    /// Most tickets of this group held at once, when set.
    pub ticket_cap: Option<u32>,
    /// Active cells on first start (they are sticky afterwards).
    pub initially_active: [bool; 3],
}

/// Why a directory could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DirectoryError {
    /// Two agents share an id.
    #[error("agent id {0:?} appears twice")]
    DuplicateAgent(String),
    /// Two groups share an id.
    #[error("group id {0:?} appears twice")]
    DuplicateGroup(String),
    /// A membership names an agent that does not exist.
    #[error("membership names unknown agent {0:?}")]
    UnknownAgent(String),
    /// A membership names a group that does not exist.
    #[error("membership names unknown group {0:?}")]
    UnknownGroup(String),
    /// The same agent is a member of the same group twice.
    #[error("agent {0:?} is a member of group {1:?} twice")]
    DuplicateMembership(String, String),
    /// An id is empty or too long.
    #[error("invalid id {0:?}: ids are 1 to 64 characters")]
    InvalidId(String),
}

/// A membership before indices are known, as written in a directory file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MembershipSpec {
    /// Agent id.
    pub agent: String,
    /// Group id.
    pub group: String,
    /// Per channel handling.
    pub handling: [Handling; 3],
    /// Optional ticket cap.
    pub ticket_cap: Option<u32>,
    /// Initial active cells.
    pub initially_active: [bool; 3],
}

/// Agents, groups and memberships with the lookups routing needs.
///
/// Serialised as its plain lists (`DirectoryData`); the lookups are rebuilt
/// when it is read back, so a snapshot holds each fact once.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(from = "DirectoryData", into = "DirectoryData")]
pub struct Directory {
    pub(super) agents: Vec<AgentDef>,
    pub(super) groups: Vec<GroupDef>,
    pub(super) memberships: Vec<Membership>,
    pub(super) agent_by_id: HashMap<String, AgentIx>,
    pub(super) group_by_id: HashMap<String, GroupIx>,
    pub(super) member_by_pair: HashMap<(AgentIx, GroupIx), MemberIx>,
    pub(super) members_of_group: Vec<Vec<MemberIx>>,
    pub(super) memberships_of_agent: Vec<Vec<MemberIx>>,
    pub(super) group_settings: Vec<GroupSettings>,
    /// Per agent: deleted by an admin (its slot stays, its id is free).
    pub(super) agent_gone: Vec<bool>,
    /// Per group: deleted by an admin.
    pub(super) group_gone: Vec<bool>,
    /// Per membership: removed by an admin or a manager.
    pub(super) member_gone: Vec<bool>,
    /// Whether managers may change memberships, caps and settings of the
    /// groups they manage (an admin may switch it off).
    pub(super) managers_administer: bool,
    /// The help desk's statuses with reasons, and who may set them.
    pub(super) status_settings: StatusSettings,
}

/// What a [`Directory`] is made of, without its lookups.
#[derive(serde::Serialize, serde::Deserialize)]
struct DirectoryData {
    agents: Vec<AgentDef>,
    groups: Vec<GroupDef>,
    memberships: Vec<Membership>,
    group_settings: Vec<GroupSettings>,
    agent_gone: Vec<bool>,
    group_gone: Vec<bool>,
    member_gone: Vec<bool>,
    managers_administer: bool,
    /// Absent in snapshots written before statuses had reasons.
    #[serde(default)]
    status_settings: StatusSettings,
}

impl From<Directory> for DirectoryData {
    fn from(d: Directory) -> Self {
        DirectoryData {
            agents: d.agents,
            groups: d.groups,
            memberships: d.memberships,
            group_settings: d.group_settings,
            agent_gone: d.agent_gone,
            group_gone: d.group_gone,
            member_gone: d.member_gone,
            managers_administer: d.managers_administer,
            status_settings: d.status_settings,
        }
    }
}

impl From<DirectoryData> for Directory {
    fn from(d: DirectoryData) -> Self {
        let mut dir = Directory {
            agent_by_id: HashMap::new(),
            group_by_id: HashMap::new(),
            member_by_pair: HashMap::new(),
            members_of_group: vec![Vec::new(); d.groups.len()],
            memberships_of_agent: vec![Vec::new(); d.agents.len()],
            agents: d.agents,
            groups: d.groups,
            memberships: d.memberships,
            group_settings: d.group_settings,
            agent_gone: d.agent_gone,
            group_gone: d.group_gone,
            member_gone: d.member_gone,
            managers_administer: d.managers_administer,
            status_settings: d.status_settings,
        };
        for (i, a) in dir.agents.iter().enumerate() {
            if !dir.agent_gone[i] {
                dir.agent_by_id.insert(a.id.clone(), AgentIx(i as u32));
            }
        }
        for (i, g) in dir.groups.iter().enumerate() {
            if !dir.group_gone[i] {
                dir.group_by_id.insert(g.id.clone(), GroupIx(i as u32));
            }
        }
        for (i, m) in dir.memberships.iter().enumerate() {
            if dir.member_gone[i] {
                continue;
            }
            let ix = MemberIx(i as u32);
            dir.member_by_pair.insert((m.agent, m.group), ix);
            dir.members_of_group[m.group.0 as usize].push(ix);
            dir.memberships_of_agent[m.agent.0 as usize].push(ix);
        }
        dir
    }
}

pub(super) fn check_id(id: &str) -> Result<(), DirectoryError> {
    if id.is_empty() || id.len() > 64 {
        return Err(DirectoryError::InvalidId(id.to_string()));
    }
    Ok(())
}

impl Directory {
    /// Builds and validates a directory.
    pub fn new(
        agents: Vec<AgentDef>,
        groups: Vec<GroupDef>,
        memberships: Vec<MembershipSpec>,
    ) -> Result<Self, DirectoryError> {
        let mut agent_by_id = HashMap::with_capacity(agents.len());
        for (i, a) in agents.iter().enumerate() {
            check_id(&a.id)?;
            if agent_by_id
                .insert(a.id.clone(), AgentIx(i as u32))
                .is_some()
            {
                return Err(DirectoryError::DuplicateAgent(a.id.clone()));
            }
        }
        let mut group_by_id = HashMap::with_capacity(groups.len());
        for (i, g) in groups.iter().enumerate() {
            check_id(&g.id)?;
            if group_by_id
                .insert(g.id.clone(), GroupIx(i as u32))
                .is_some()
            {
                return Err(DirectoryError::DuplicateGroup(g.id.clone()));
            }
        }
        let mut members = Vec::with_capacity(memberships.len());
        let mut member_by_pair = HashMap::with_capacity(memberships.len());
        let mut members_of_group = vec![Vec::new(); groups.len()];
        let mut memberships_of_agent = vec![Vec::new(); agents.len()];
        for spec in memberships {
            let agent = *agent_by_id
                .get(&spec.agent)
                .ok_or_else(|| DirectoryError::UnknownAgent(spec.agent.clone()))?;
            let group = *group_by_id
                .get(&spec.group)
                .ok_or_else(|| DirectoryError::UnknownGroup(spec.group.clone()))?;
            let ix = MemberIx(members.len() as u32);
            if member_by_pair.insert((agent, group), ix).is_some() {
                return Err(DirectoryError::DuplicateMembership(spec.agent, spec.group));
            }
            members_of_group[group.0 as usize].push(ix);
            memberships_of_agent[agent.0 as usize].push(ix);
            members.push(Membership {
                agent,
                group,
                handling: spec.handling,
                ticket_cap: spec.ticket_cap,
                initially_active: spec.initially_active,
            });
        }
        Ok(Directory {
            agent_gone: vec![false; agents.len()],
            group_gone: vec![false; groups.len()],
            member_gone: vec![false; members.len()],
            agents,
            groups,
            memberships: members,
            agent_by_id,
            group_by_id,
            member_by_pair,
            group_settings: vec![GroupSettings::default(); members_of_group.len()],
            members_of_group,
            memberships_of_agent,
            managers_administer: true,
            status_settings: StatusSettings::default(),
        })
    }

    /// All agents, by index, deleted ones included (see
    /// [`Directory::is_agent_gone`]).
    pub fn agents(&self) -> &[AgentDef] {
        &self.agents
    }

    /// All groups, by index, deleted ones included (see
    /// [`Directory::is_group_gone`]).
    pub fn groups(&self) -> &[GroupDef] {
        &self.groups
    }

    /// The agents that exist (not deleted), by index.
    pub fn live_agents(&self) -> impl Iterator<Item = (AgentIx, &AgentDef)> {
        self.agents
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.agent_gone[*i])
            .map(|(i, a)| (AgentIx(i as u32), a))
    }

    /// The groups that exist (not deleted), by index.
    pub fn live_groups(&self) -> impl Iterator<Item = (GroupIx, &GroupDef)> {
        self.groups
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.group_gone[*i])
            .map(|(i, g)| (GroupIx(i as u32), g))
    }

    /// Whether an admin deleted the agent.
    pub fn is_agent_gone(&self, a: AgentIx) -> bool {
        self.agent_gone[a.0 as usize]
    }

    /// Whether an admin deleted the group.
    pub fn is_group_gone(&self, g: GroupIx) -> bool {
        self.group_gone[g.0 as usize]
    }

    /// Whether managers may change memberships, caps and settings of the
    /// groups they manage.
    pub fn managers_administer(&self) -> bool {
        self.managers_administer
    }

    /// The help desk's statuses with reasons, and who may set them.
    pub fn status_settings(&self) -> &StatusSettings {
        &self.status_settings
    }

    /// The shortest auto-away of the agent's groups (`None`: none of them
    /// sets one).
    pub fn auto_away_ms(&self, a: AgentIx) -> Option<u64> {
        self.memberships_of(a)
            .iter()
            .map(|&m| self.settings(self.membership(m).group).auto_away_ms)
            .filter(|&ms| ms > 0)
            .min()
    }

    /// Whether some group sets its own auto-away.
    pub fn any_auto_away(&self) -> bool {
        self.live_groups()
            .any(|(g, _)| self.settings(g).auto_away_ms > 0)
    }

    /// One agent.
    pub fn agent(&self, a: AgentIx) -> &AgentDef {
        &self.agents[a.0 as usize]
    }

    /// One group.
    pub fn group(&self, g: GroupIx) -> &GroupDef {
        &self.groups[g.0 as usize]
    }

    /// A group's timers and offline behaviour.
    pub fn settings(&self, g: GroupIx) -> &GroupSettings {
        &self.group_settings[g.0 as usize]
    }

    /// Replaces a group's settings (defaults until then).
    pub fn set_settings(&mut self, g: GroupIx, settings: GroupSettings) {
        self.group_settings[g.0 as usize] = settings;
    }

    /// One membership.
    pub fn membership(&self, m: MemberIx) -> &Membership {
        &self.memberships[m.0 as usize]
    }

    /// Number of membership slots, removed ones included (indices run
    /// `0..len`).
    pub fn membership_count(&self) -> usize {
        self.memberships.len()
    }

    /// Looks an agent up by id.
    pub fn agent_ix(&self, id: &str) -> Option<AgentIx> {
        self.agent_by_id.get(id).copied()
    }

    /// Looks a group up by id.
    pub fn group_ix(&self, id: &str) -> Option<GroupIx> {
        self.group_by_id.get(id).copied()
    }

    /// The membership of an agent in a group, if any.
    pub fn member(&self, a: AgentIx, g: GroupIx) -> Option<MemberIx> {
        self.member_by_pair.get(&(a, g)).copied()
    }

    /// Members of a group, in directory order.
    pub fn members_of(&self, g: GroupIx) -> &[MemberIx] {
        &self.members_of_group[g.0 as usize]
    }

    /// An agent's memberships, in directory order (the Active Groups rows).
    pub fn memberships_of(&self, a: AgentIx) -> &[MemberIx] {
        &self.memberships_of_agent[a.0 as usize]
    }

    /// Whether a cell is N/A: the channel is disabled in the group, or the
    /// member is excluded from it.
    pub fn is_not_applicable(&self, m: MemberIx, channel: Channel) -> bool {
        let ms = self.membership(m);
        !self.group(ms.group).channels[channel.index()].enabled
            || ms.handling[channel.index()] == Handling::Excluded
    }

    /// A manager of `g` is a member of `g` holding the manager role.
    pub fn is_manager_of(&self, a: AgentIx, g: GroupIx) -> bool {
        self.agent(a).roles.manager && self.member(a, g).is_some()
    }

    /// Whether `actor` may set `target`'s active cells in `g`: an admin
    /// anywhere, a manager of `g`, or the agent itself with `manage_own_status`.
    pub fn may_set_cells(&self, actor: AgentIx, target: AgentIx, g: GroupIx) -> bool {
        let a = self.agent(actor);
        a.roles.admin || self.is_manager_of(actor, g) || (actor == target && a.manage_own_status)
    }
}
