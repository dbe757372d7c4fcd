//! The core's state and its command handlers.

use std::collections::{BTreeSet, HashMap};

use super::command::{Actor, CellChange, Command, Reply};
use super::directory::{AgentIx, Channel, Directory, Distribution, GroupIx, MemberIx};
use super::error::DomainError;
use super::event::{DequeueReason, Event, ItemReason, PresenceWhat};
use super::item::{HandOff, Item, ItemId, ItemState};
use super::queue::Queue;
use super::time::Millis;

/// Settings of the core that are not in the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreConfig {
    /// How long a dropped last session is forgiven before the agent is logged
    /// out, so that a page reload does not flap presence.
    pub grace_ms: Millis,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig { grace_ms: 10_000 }
    }
}

/// One agent's presence and load, as routing sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AgentPresence {
    /// Open console sessions (any node).
    pub sessions: Vec<u64>,
    /// Logged in: a session is open, or the last one closed less than the
    /// grace ago.
    pub logged_in: bool,
    /// When the grace after the last session ends, while one runs.
    pub grace_until: Option<Millis>,
    /// The agent's own switch; gates new chats only.
    pub available: bool,
    /// When `logged_in` or `available` last changed.
    pub since: Millis,
    /// Items held per channel (assigned or active), in [`Channel::ALL`] order.
    pub load: [u32; 3],
    /// When the agent was last given a chat (chat round robin).
    pub last_chat_at: Millis,
    /// When the agent's last call started or ended (longest idle first).
    pub last_call_at: Millis,
    /// Ids of the items held, oldest assignment first.
    pub held: Vec<ItemId>,
    /// An admin disabled the account: no session may open.
    #[serde(default)]
    pub disabled: bool,
    /// The reason given with the status ("Lunch"), if any; `available`
    /// says whether it takes new chats.
    #[serde(default)]
    pub reason: Option<String>,
    /// Offers let run out in a row (no response, rung out).
    #[serde(default)]
    pub missed_offers: u32,
    /// Out of routing after too many offers ran out, until it acts.
    #[serde(default)]
    pub not_responding: bool,
    /// Per channel, when a running wrap-up ends (0: none runs).
    #[serde(default)]
    pub wrap_up_until: [Millis; 3],
}

impl AgentPresence {
    /// Away from its work while logged in: Not Responding, or in a status
    /// whose reason takes no chats (Lunch, Meeting). Plain `Unavailable`
    /// is not away: an agent finishing its chats before a break uses it.
    pub fn is_away(&self) -> bool {
        self.not_responding || (!self.available && self.reason.is_some())
    }

    /// The status the consoles show: `Not Responding` over everything, else
    /// the reason, else `Available` or `Unavailable`.
    pub fn status(&self) -> &str {
        if self.not_responding {
            super::not_responding::NOT_RESPONDING
        } else {
            super::status::status_name(self.available, self.reason.as_deref())
        }
    }
}

/// Per-membership state: the sticky active cells and ticket rotation.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct MemberState {
    active: [bool; 3],
    tickets_held: u32,
    last_ticket_at: Millis,
}

impl MemberState {
    /// A new membership's state with these cells on.
    pub(super) fn with_active(active: [bool; 3]) -> Self {
        MemberState {
            active,
            ..MemberState::default()
        }
    }

    /// Switches one cell.
    pub(super) fn set_active(&mut self, c: Channel, on: bool) {
        self.active[c.index()] = on;
    }
}

/// Deadlines the core asks to be woken for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub(super) enum Timer {
    /// The reconnect grace of an agent runs out.
    Grace(AgentIx),
    /// A call assigned at the given time rings out.
    Ring(ItemId, Millis),
    /// A chat assigned at the given time is still not accepted.
    NoResponse(ItemId, Millis),
    /// The holder of an item, logged out at the given time, may still be
    /// out (the handler checks against the group's limit as it is then).
    Disconnected(ItemId, Millis),
    /// An agent's wrap-up of a channel ends.
    WrapUp(AgentIx, Channel),
    /// A queued chat's visitor, gone since the given time, is still gone.
    Abandon(ItemId, Millis),
}

/// All routing state. See the module doc of [`crate::domain`] for who owns it.
#[derive(Debug, Clone)]
pub struct Core {
    pub(super) config: CoreConfig,
    pub(super) dir: Directory,
    pub(super) agents: Vec<AgentPresence>,
    pub(super) members: Vec<MemberState>,
    pub(super) items: HashMap<ItemId, Item>,
    pub(super) queues: Vec<[Queue; 3]>,
    pub(super) timers: BTreeSet<(Millis, Timer)>,
    /// The timers armed for each open item, so closing it disarms them.
    pub(super) item_timers: HashMap<ItemId, Vec<(Millis, Timer)>>,
    pub(super) next_item: ItemId,
    pub(super) events: Vec<Event>,
    pub(super) dirty: Vec<(GroupIx, Channel)>,
}

impl Core {
    /// A core with every agent logged out and available, every active cell
    /// as the directory's `initially_active` says, and no work.
    pub fn new(dir: Directory, config: CoreConfig) -> Self {
        let agents = vec![
            AgentPresence {
                available: true,
                ..AgentPresence::default()
            };
            dir.agents().len()
        ];
        let members = (0..dir.membership_count())
            .map(|i| {
                let m = MemberIx(i as u32);
                let ms = dir.membership(m);
                let mut active = ms.initially_active;
                for c in Channel::ALL {
                    active[c.index()] &= !dir.is_not_applicable(m, c);
                }
                MemberState {
                    active,
                    ..MemberState::default()
                }
            })
            .collect();
        let queues = vec![Default::default(); dir.groups().len()];
        Core {
            config,
            dir,
            agents,
            members,
            items: HashMap::new(),
            queues,
            timers: BTreeSet::new(),
            item_timers: HashMap::new(),
            next_item: 1,
            events: Vec::new(),
            dirty: Vec::new(),
        }
    }

    // ----- reads -----

    /// The directory the core routes over.
    pub fn directory(&self) -> &Directory {
        &self.dir
    }

    /// The settings.
    pub fn config(&self) -> CoreConfig {
        self.config
    }

    /// One agent's presence.
    pub fn presence(&self, a: AgentIx) -> &AgentPresence {
        &self.agents[a.0 as usize]
    }

    /// Whether a member's cell is on (always false for an N/A cell).
    pub fn is_active(&self, m: MemberIx, channel: Channel) -> bool {
        self.members[m.0 as usize].active[channel.index()]
    }

    /// Tickets of the member's group that the member holds.
    pub fn tickets_held(&self, m: MemberIx) -> u32 {
        self.members[m.0 as usize].tickets_held
    }

    /// When the member was last given a ticket in its group.
    pub fn last_ticket_at(&self, m: MemberIx) -> Millis {
        self.members[m.0 as usize].last_ticket_at
    }

    /// An open item (closed items are forgotten).
    pub fn item(&self, id: ItemId) -> Option<&Item> {
        self.items.get(&id)
    }

    /// Every open item, in no particular order.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.items.values()
    }

    /// The queued items of a group's channel, in queue order.
    pub fn queue(&self, g: GroupIx, channel: Channel) -> impl Iterator<Item = &Item> {
        self.queues[g.0 as usize][channel.index()]
            .ids()
            .map(|id| &self.items[&id])
    }

    /// Length of a group's queue for one channel.
    pub fn queue_len(&self, g: GroupIx, channel: Channel) -> usize {
        self.queues[g.0 as usize][channel.index()].len()
    }

    /// Creation time of the longest-waiting item of a queue.
    pub fn queue_oldest(&self, g: GroupIx, channel: Channel) -> Option<Millis> {
        self.queues[g.0 as usize][channel.index()].oldest_created_at()
    }

    /// 1-based queue position of a queued item.
    pub fn queue_position(&self, id: ItemId) -> Option<usize> {
        let item = self.items.get(&id)?;
        self.queues[item.group.0 as usize][item.channel.index()].position(item)
    }

    /// Whether the agent is logged in and active in at least one cell; when
    /// false while logged in, it is "logged in, receiving nothing".
    pub fn is_receiving(&self, a: AgentIx) -> bool {
        self.presence(a).logged_in
            && self
                .dir
                .memberships_of(a)
                .iter()
                .any(|&m| Channel::ALL.into_iter().any(|c| self.is_active(m, c)))
    }

    // ----- time -----

    /// The next deadline at which [`Core::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Millis) {
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, timer));
            match timer {
                Timer::Grace(a) => self.grace_expired(now, a, at),
                Timer::Ring(id, since) => {
                    self.assignment_expired(now, id, since, HandOff::RingTimeout)
                }
                Timer::NoResponse(id, since) => {
                    self.assignment_expired(now, id, since, HandOff::NoResponse)
                }
                Timer::Disconnected(id, _) => self.holder_stayed_out(now, id),
                Timer::WrapUp(a, c) => self.wrap_up_over(a, c, at),
                Timer::Abandon(id, since) => self.abandon_if_still_gone(now, id, since),
            }
        }
        self.drain_dirty(now);
    }

    /// Takes the events produced since the last call, in order.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.events.drain(..)
    }

    // ----- commands -----

    /// Applies one command at `now`. On error nothing has changed and no
    /// event was produced.
    pub fn apply(&mut self, now: Millis, cmd: Command) -> Result<Reply, DomainError> {
        // What shows an agent is at its console (see `not_responding`).
        let acted = match &cmd {
            Command::Accept { actor, .. } | Command::Take { actor, .. } => Some(*actor),
            Command::OpenSession { agent, .. } => Some(*agent),
            _ => None,
        };
        let reply = match cmd {
            Command::OpenSession { agent, session } => self.open_session(now, agent, session),
            Command::CloseSession { agent, session } => self.close_session(now, agent, session),
            Command::SetAvailability { agent, available } => {
                self.set_availability(now, agent, available)
            }
            Command::SetActive {
                actor,
                agent,
                change,
            } => self.set_active(now, Actor::Agent(actor), agent, change),
            Command::SetStatus {
                actor,
                agent,
                status,
            } => self.set_status(now, actor, agent, &status),
            Command::PresenceByIntegration { agent, change } => {
                self.presence_by_integration(now, agent, change)
            }
            Command::AutoAway { agent } => Ok(self.auto_away(now, agent)),
            Command::Ready { agent } => self.ready(now, agent),
            Command::VisitorBack { item, socket } => self.visitor_back(item, socket),
            Command::VisitorLeft { item, socket } => self.visitor_left(now, item, socket),
            Command::CreateWork {
                group,
                channel,
                priority,
                title,
            } => self.create_work(now, group, channel, priority, title),
            Command::Take { actor, item } => self.take(now, actor, item),
            Command::Decline { actor, item } => self.decline(now, actor, item),
            Command::Transfer {
                actor,
                item,
                group,
                agent,
                note,
            } => self.transfer(now, actor, item, group, agent, note),
            Command::TakeOver { actor, item } => self.take_over(now, actor, item),
            Command::Accept { actor, item } => self.accept(actor, item),
            Command::Close { actor, item } => self.close(now, actor, item),
            Command::Cancel { actor, item } => self.cancel(now, actor, item),
            Command::Update {
                actor,
                item,
                title,
                priority,
            } => self.update(actor, item, title, priority),
            Command::Assign {
                actor,
                item,
                agent,
                override_capacity,
            } => self.assign_to(now, actor, item, agent, override_capacity),
            Command::SetEnabled {
                actor,
                agent,
                enabled,
            } => self.set_enabled(now, actor, agent, enabled),
            Command::Admin { actor, change } => self.administer(now, actor, *change),
        }?;
        if let Some(a) = acted {
            self.agent_acted(now, a);
        }
        self.drain_dirty(now);
        Ok(reply)
    }

    pub(super) fn agent_mut(&mut self, a: AgentIx) -> &mut AgentPresence {
        &mut self.agents[a.0 as usize]
    }

    pub(super) fn mark_agent_dirty(&mut self, a: AgentIx, channels: &[Channel]) {
        for &m in self.dir.memberships_of(a) {
            let g = self.dir.membership(m).group;
            for &c in channels {
                self.dirty.push((g, c));
            }
        }
    }

    fn open_session(
        &mut self,
        now: Millis,
        a: AgentIx,
        session: u64,
    ) -> Result<Reply, DomainError> {
        if self.dir.is_agent_gone(a) {
            return Err(DomainError::NoSuchAgent(self.dir.agent(a).id.clone()));
        }
        let agent = self.agent_mut(a);
        if agent.disabled {
            return Err(DomainError::Disabled(a));
        }
        if agent.sessions.contains(&session) {
            return Ok(Reply::Done);
        }
        agent.sessions.push(session);
        if let Some(until) = agent.grace_until.take() {
            self.timers.remove(&(until, Timer::Grace(a)));
        }
        let agent = self.agent_mut(a);
        if !agent.logged_in {
            agent.logged_in = true;
            agent.since = now;
            self.events.push(Event::Presence {
                at: now,
                by: Actor::Agent(a),
                agent: a,
                what: PresenceWhat::LoggedIn,
            });
            self.mark_agent_dirty(a, &Channel::ALL);
        }
        Ok(Reply::Done)
    }

    fn close_session(
        &mut self,
        now: Millis,
        a: AgentIx,
        session: u64,
    ) -> Result<Reply, DomainError> {
        let grace = self.config.grace_ms;
        let agent = self.agent_mut(a);
        let Some(pos) = agent.sessions.iter().position(|&s| s == session) else {
            return Ok(Reply::Done);
        };
        agent.sessions.swap_remove(pos);
        if agent.sessions.is_empty() && agent.logged_in {
            let until = now + grace;
            agent.grace_until = Some(until);
            self.timers.insert((until, Timer::Grace(a)));
        }
        Ok(Reply::Done)
    }

    fn grace_expired(&mut self, now: Millis, a: AgentIx, at: Millis) {
        let agent = self.agent_mut(a);
        if !agent.sessions.is_empty() || agent.grace_until != Some(at) {
            return;
        }
        agent.grace_until = None;
        self.mark_logged_out(now, a, Actor::Agent(a));
    }

    /// Logs `a` out now. What nobody can answer any more moves at once (a
    /// chat offered and not accepted, a ringing call: `logged_out`); the
    /// rest of its work starts its group's limit (see
    /// [`Core::logout_hand_off_at`]), after which it goes back to routing
    /// unless the agent is back. The one place a logout happens (grace
    /// expired, account disabled or deleted).
    pub(super) fn mark_logged_out(&mut self, now: Millis, a: AgentIx, by: Actor) {
        let agent = &mut self.agents[a.0 as usize];
        agent.logged_in = false;
        agent.since = now;
        self.events.push(Event::Presence {
            at: now,
            by,
            agent: a,
            what: PresenceWhat::LoggedOut,
        });
        for id in self.agents[a.0 as usize].held.clone() {
            let item = &self.items[&id];
            if item.state == ItemState::Assigned && item.channel != Channel::Ticket {
                let group = item.group;
                self.hand_off(now, id, HandOff::LoggedOut, None, group, String::new());
            } else {
                self.arm_logout_hand_off(id);
            }
        }
    }

    fn set_availability(
        &mut self,
        now: Millis,
        a: AgentIx,
        available: bool,
    ) -> Result<Reply, DomainError> {
        self.change_status(now, Actor::Agent(a), a, available, None);
        Ok(Reply::Done)
    }

    fn auto_away(&mut self, now: Millis, a: AgentIx) -> Reply {
        let agent = &self.agents[a.0 as usize];
        if agent.available && agent.logged_in && !agent.not_responding {
            self.change_status(now, Actor::System, a, false, None);
        }
        Reply::Done
    }

    /// Resolves a cell change into explicit (member, channel, value) cells,
    /// checking every permission and N/A rule before anything changes.
    /// An integration's change comes checked (scope and permission) from the
    /// replica: it passes every group.
    fn resolve_cells(
        &self,
        actor: Actor,
        a: AgentIx,
        change: &CellChange,
    ) -> Result<Vec<(MemberIx, Channel, bool)>, DomainError> {
        let permitted = |g: GroupIx| {
            let person = match actor {
                Actor::Agent(person) => person,
                Actor::System | Actor::Integration => return Ok(()),
            };
            if self.dir.may_set_cells(person, a, g) {
                Ok(())
            } else if person == a {
                Err(DomainError::Forbidden(
                    "you may not manage your own active groups",
                ))
            } else {
                Err(DomainError::Forbidden(
                    "only a manager of the group or an admin may set another agent's active groups",
                ))
            }
        };
        let mut cells = Vec::new();
        match change {
            CellChange::Cells(list) => {
                for &(g, c, v) in list {
                    let m = self.dir.member(a, g).ok_or(DomainError::NotMember(g))?;
                    permitted(g)?;
                    if self.dir.is_not_applicable(m, c) {
                        return Err(DomainError::NotApplicable {
                            agent: a,
                            group: g,
                            channel: c,
                        });
                    }
                    cells.push((m, c, v));
                }
            }
            CellChange::Column(c, v) => {
                for &m in self.dir.memberships_of(a) {
                    permitted(self.dir.membership(m).group)?;
                    if !self.dir.is_not_applicable(m, *c) {
                        cells.push((m, *c, *v));
                    }
                }
            }
            CellChange::Row(g, v) => {
                let m = self.dir.member(a, *g).ok_or(DomainError::NotMember(*g))?;
                permitted(*g)?;
                for c in Channel::ALL {
                    if !self.dir.is_not_applicable(m, c) {
                        cells.push((m, c, *v));
                    }
                }
            }
        }
        Ok(cells)
    }

    pub(super) fn set_active(
        &mut self,
        now: Millis,
        actor: Actor,
        a: AgentIx,
        change: CellChange,
    ) -> Result<Reply, DomainError> {
        let cells = self.resolve_cells(actor, a, &change)?;
        for (m, c, v) in cells {
            let state = &mut self.members[m.0 as usize];
            let old = state.active[c.index()];
            if old == v {
                continue;
            }
            state.active[c.index()] = v;
            let group = self.dir.membership(m).group;
            self.events.push(Event::Presence {
                at: now,
                by: actor,
                agent: a,
                what: PresenceWhat::Active {
                    group,
                    channel: c,
                    old,
                    new: v,
                },
            });
            if v {
                self.dirty.push((group, c));
            }
        }
        Ok(Reply::Done)
    }

    fn create_work(
        &mut self,
        now: Millis,
        group: GroupIx,
        channel: Channel,
        priority: i32,
        title: String,
    ) -> Result<Reply, DomainError> {
        if self.dir.is_group_gone(group) {
            return Err(DomainError::NoSuchGroup(self.dir.group(group).id.clone()));
        }
        if channel == Channel::Chat
            && !self.dir.settings(group).queue_when_offline
            && !self.is_chat_online(group)
        {
            return Err(DomainError::Offline(group));
        }
        let id = self.next_item;
        self.next_item += 1;
        let item = Item {
            id,
            group,
            channel,
            priority,
            title,
            state: ItemState::Queued,
            assignee: None,
            created_at: now,
            assigned_at: None,
            excluded: Vec::new(),
            history: Vec::new(),
            visitor_socket: None,
            visitor_gone_since: None,
        };
        let cfg = self.dir.group(group).channels[channel.index()];
        let chosen = if cfg.enabled && cfg.distribution == Distribution::Auto {
            self.choose(group, channel)
        } else {
            None
        };
        self.items.insert(id, item);
        match chosen {
            Some(m) => self.assign(now, id, m, ItemReason::Routed, None),
            None => self.enqueue(id, cfg.distribution == Distribution::Pull),
        }
        Ok(Reply::Item(id))
    }

    pub(super) fn enqueue(&mut self, id: ItemId, sound: bool) {
        let item = self.items.get_mut(&id).expect("enqueued item exists");
        item.state = ItemState::Queued;
        item.assignee = None;
        item.assigned_at = None;
        self.queues[item.group.0 as usize][item.channel.index()].push(item);
        self.events.push(Event::Queued {
            item: item.clone(),
            sound,
        });
    }

    /// Gives an open item to a member: out of its queue (if queued), onto the
    /// member's load, with the events that say so. The one place that assigns.
    pub(super) fn assign(
        &mut self,
        now: Millis,
        id: ItemId,
        m: MemberIx,
        reason: ItemReason,
        previous: Option<AgentIx>,
    ) {
        let a = self.dir.membership(m).agent;
        let item = self.items.get_mut(&id).expect("assigned item exists");
        let was_queued = item.state == ItemState::Queued
            && self.queues[item.group.0 as usize][item.channel.index()].remove(item);
        item.state = ItemState::Assigned;
        item.assignee = Some(a);
        item.assigned_at = Some(now);
        let item = item.clone();
        let channel = item.channel;
        if was_queued {
            let why = if reason == ItemReason::Taken {
                DequeueReason::Taken
            } else {
                DequeueReason::Assigned
            };
            self.events.push(Event::Dequeued {
                item: item.clone(),
                reason: why,
            });
        }
        let agent = self.agent_mut(a);
        agent.load[channel.index()] += 1;
        agent.held.push(id);
        match channel {
            Channel::Chat => agent.last_chat_at = now,
            Channel::Voice => agent.last_call_at = now,
            Channel::Ticket => {
                let st = &mut self.members[m.0 as usize];
                st.tickets_held += 1;
                st.last_ticket_at = now;
            }
        }
        let settings = self.dir.settings(item.group);
        match channel {
            Channel::Voice => {
                let at = now + settings.ring_timeout_ms;
                self.arm(id, at, Timer::Ring(id, now));
            }
            Channel::Chat => {
                let at = now + settings.no_response_ms;
                self.arm(id, at, Timer::NoResponse(id, now));
            }
            Channel::Ticket => {}
        }
        self.events.push(Event::ItemChanged {
            item,
            reason,
            previous,
        });
        // A ticket transferred to, or taken by, an agent who is logged out,
        // or work given to an agent who is away (a ticket while at lunch).
        let p = self.presence(a);
        if !p.logged_in || p.is_away() {
            self.arm_logout_hand_off(id);
        }
    }

    /// Arms a timer of an item; closing the item disarms it.
    pub(super) fn arm(&mut self, id: ItemId, at: Millis, timer: Timer) {
        self.timers.insert((at, timer));
        self.item_timers.entry(id).or_default().push((at, timer));
    }

    /// Takes an item off its holder's load (it is being closed or moved).
    pub(super) fn release(&mut self, now: Millis, id: ItemId) {
        let item = &self.items[&id];
        let (Some(a), channel, group) = (item.assignee, item.channel, item.group) else {
            return;
        };
        let agent = self.agent_mut(a);
        agent.load[channel.index()] -= 1;
        agent.held.retain(|&h| h != id);
        match channel {
            Channel::Voice => agent.last_call_at = now,
            Channel::Chat => {}
            Channel::Ticket => {
                if let Some(m) = self.dir.member(a, group) {
                    self.members[m.0 as usize].tickets_held -= 1;
                }
            }
        }
        // Work this channel blocked elsewhere (cross-channel capacity) may
        // come now too.
        let dir = &self.dir;
        let unblocks = dir.memberships_of(a).iter().any(|&m| {
            dir.group(dir.membership(m).group)
                .channels
                .iter()
                .any(|cfg| cfg.blocked_by[channel.index()] > 0)
        });
        if unblocks {
            self.mark_agent_dirty(a, &Channel::ALL);
        } else {
            self.mark_agent_dirty(a, &[channel]);
        }
    }

    fn take(&mut self, now: Millis, actor: AgentIx, id: ItemId) -> Result<Reply, DomainError> {
        let item = self.items.get(&id).ok_or(DomainError::NoSuchItem(id))?;
        let m = self
            .dir
            .member(actor, item.group)
            .ok_or(DomainError::NotMember(item.group))?;
        if self.dir.is_not_applicable(m, item.channel) {
            return Err(DomainError::NotApplicable {
                agent: actor,
                group: item.group,
                channel: item.channel,
            });
        }
        if let Some(winner) = item.assignee {
            return Err(DomainError::AlreadyTaken { winner });
        }
        if !self.dir.is_manager_of(actor, item.group) && self.at_cap(m, item.channel) {
            return Err(DomainError::AtCapacity(item.channel));
        }
        self.assign(now, id, m, ItemReason::Taken, None);
        Ok(Reply::Item(id))
    }

    /// Whether one more item of this channel would exceed a cap (chat cap,
    /// ticket cap, one call at a time).
    pub(super) fn at_cap(&self, m: MemberIx, channel: Channel) -> bool {
        let ms = self.dir.membership(m);
        let load = self.presence(ms.agent).load[channel.index()];
        match channel {
            Channel::Chat => load >= self.dir.agent(ms.agent).chat_cap,
            Channel::Ticket => ms.ticket_cap.is_some_and(|cap| self.tickets_held(m) >= cap),
            Channel::Voice => load > 0,
        }
    }

    fn accept(&mut self, actor: AgentIx, id: ItemId) -> Result<Reply, DomainError> {
        let item = self.items.get_mut(&id).ok_or(DomainError::NoSuchItem(id))?;
        if item.assignee != Some(actor) {
            return Err(DomainError::Forbidden(
                "only the item's assignee may accept it",
            ));
        }
        if item.state != ItemState::Assigned {
            return Err(DomainError::InvalidState(item.state.as_str()));
        }
        item.state = ItemState::Active;
        let item = item.clone();
        self.events.push(Event::ItemChanged {
            item,
            reason: ItemReason::Accepted,
            previous: None,
        });
        Ok(Reply::Item(id))
    }

    fn close(&mut self, now: Millis, actor: Actor, id: ItemId) -> Result<Reply, DomainError> {
        let item = self.items.get(&id).ok_or(DomainError::NoSuchItem(id))?;
        if let Actor::Agent(a) = actor
            && item.assignee != Some(a)
            && !self.dir.is_manager_of(a, item.group)
        {
            return Err(if self.dir.member(a, item.group).is_none() {
                DomainError::NotMember(item.group)
            } else {
                DomainError::Forbidden("only the assignee or a manager of the group may close it")
            });
        }
        self.end_item(now, id, ItemReason::Closed);
        Ok(Reply::Item(id))
    }

    /// Ends an open item (closed, cancelled or abandoned): out of its queue
    /// or off its holder's load at once, its timers disarmed, forgotten
    /// after the event that says so.
    pub(super) fn end_item(&mut self, now: Millis, id: ItemId, reason: ItemReason) {
        let item = &self.items[&id];
        if item.state == ItemState::Queued {
            let item = self.items.get(&id).expect("checked above");
            self.queues[item.group.0 as usize][item.channel.index()].remove(item);
            let dequeued = if reason == ItemReason::Abandoned {
                DequeueReason::Abandoned
            } else {
                DequeueReason::Closed
            };
            self.events.push(Event::Dequeued {
                item: item.clone(),
                reason: dequeued,
            });
        } else {
            let (holder, group, channel) = (item.assignee, item.group, item.channel);
            self.release(now, id);
            if let Some(a) = holder {
                self.start_wrap_up(now, a, group, channel);
            }
        }
        for key in self.item_timers.remove(&id).unwrap_or_default() {
            self.timers.remove(&key);
        }
        let mut item = self.items.remove(&id).expect("checked above");
        item.state = ItemState::Closed;
        self.events.push(Event::ItemChanged {
            item,
            reason,
            previous: None,
        });
    }

    /// Gives queued work to whoever became eligible. Over every (group,
    /// channel) touched by the last command, repeatedly assigns the oldest
    /// item that some eligible member can take (each queue offers its first
    /// such item in queue order), until no queue can give anything: so an
    /// agent who becomes eligible in several groups gets their work oldest
    /// first across those groups.
    fn drain_dirty(&mut self, now: Millis) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        dirty.retain(|&(g, c)| {
            let cfg = self.dir.group(g).channels[c.index()];
            cfg.enabled && cfg.distribution == Distribution::Auto
        });
        loop {
            let mut best: Option<(Millis, ItemId, MemberIx)> = None;
            for &(g, c) in &dirty {
                if let Some((id, m)) = self.first_assignable(g, c) {
                    let at = self.items[&id].created_at;
                    if best.is_none_or(|(b_at, b_id, _)| (at, id) < (b_at, b_id)) {
                        best = Some((at, id, m));
                    }
                }
            }
            let Some((_, id, m)) = best else { break };
            self.assign(now, id, m, ItemReason::Drained, None);
        }
    }

    /// The first item of a queue, in queue order, that routing can give to
    /// someone now, and to whom.
    fn first_assignable(&self, g: GroupIx, c: Channel) -> Option<(ItemId, MemberIx)> {
        for id in self.queues[g.0 as usize][c.index()].ids() {
            let excluded = &self.items[&id].excluded;
            match self.choose_excluding(g, c, excluded) {
                Some(m) => return Some((id, m)),
                // Nobody at all is eligible: no later item can go either.
                None if excluded.is_empty() => return None,
                None => continue,
            }
        }
        None
    }
}
