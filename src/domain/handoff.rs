//! Work changing hands: hand-offs (no response, logged out, disconnected,
//! ring timeout, decline), transfers and take-overs; the offline rule;
//! routing explanations.
//!
//! None of these resets an item's `created_at`, so its wait time and queue
//! place survive every move.

use super::command::{Actor, Reply};
use super::core::{Core, Timer};
use super::directory::{AgentIx, Channel, GroupIx, Handling};
use super::eligibility::KeptOut;
use super::error::DomainError;
use super::event::{DequeueReason, Event, ItemReason};
use super::item::{HandOff, HistoryEntry, ItemId, ItemState};
use super::time::Millis;

/// Why a member is or is not the one an item goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It holds the item.
    Holds,
    /// It could be given the item now.
    Eligible,
    /// The first rule that keeps it out.
    KeptOut(KeptOut),
}

impl Core {
    /// A group is online for chat while some member who handles chat there
    /// is logged in, available and active for chat.
    pub fn is_chat_online(&self, g: GroupIx) -> bool {
        let dir = self.directory();
        dir.group(g).channels[Channel::Chat.index()].enabled
            && dir.members_of(g).iter().any(|&m| {
                let ms = dir.membership(m);
                let p = self.presence(ms.agent);
                ms.handling[Channel::Chat.index()] != Handling::Excluded
                    && p.logged_in
                    && p.available
                    && self.is_active(m, Channel::Chat)
            })
    }

    /// For each member of the item's group, why it holds, could take, or is
    /// kept from the item: the same eligibility code that routes.
    pub fn explain(&self, id: ItemId) -> Option<Vec<(AgentIx, Verdict)>> {
        let item = self.item(id)?;
        let dir = self.directory();
        Some(
            dir.members_of(item.group)
                .iter()
                .map(|&m| {
                    let a = dir.membership(m).agent;
                    let verdict = if item.assignee == Some(a) {
                        Verdict::Holds
                    } else if let Some(why) = self.kept_out(m, item.channel) {
                        Verdict::KeptOut(why)
                    } else if item.excluded.contains(&a) {
                        Verdict::KeptOut(KeptOut::Declined)
                    } else {
                        Verdict::Eligible
                    };
                    (a, verdict)
                })
                .collect(),
        )
    }

    /// Takes an item from its holder and routes it again in `group`, never
    /// straight back to the holder; queued at its original place when nobody
    /// else is eligible.
    pub(super) fn hand_off(
        &mut self,
        now: Millis,
        id: ItemId,
        why: HandOff,
        by: Option<AgentIx>,
        group: GroupIx,
        note: String,
    ) {
        let from = self.items[&id].assignee;
        self.release(now, id);
        let item = &self.items[&id];
        if item.state == ItemState::Queued
            && self.queues[item.group.0 as usize][item.channel.index()].remove(item)
        {
            self.events.push(Event::Dequeued {
                item: item.clone(),
                reason: DequeueReason::Transferred,
            });
        }
        let item = self.items.get_mut(&id).expect("handed-off item exists");
        item.history.push(HistoryEntry {
            at: now,
            why,
            from,
            by,
            note,
        });
        if let Some(prev) = from
            && !item.excluded.contains(&prev)
        {
            item.excluded.push(prev);
        }
        item.group = group;
        item.state = ItemState::Queued;
        item.assignee = None;
        item.assigned_at = None;
        let (channel, excluded) = (item.channel, item.excluded.clone());
        let reason = match why {
            HandOff::Transferred => ItemReason::Transferred,
            HandOff::TakenOver => ItemReason::TakenOver,
            _ => ItemReason::HandedOff,
        };
        let cfg = self.directory().group(group).channels[channel.index()];
        let chosen = if cfg.distribution == super::directory::Distribution::Auto {
            self.choose_excluding(group, channel, &excluded)
        } else {
            None
        };
        match chosen {
            Some(m) => self.assign(now, id, m, reason, from),
            None => {
                if let Some(prev) = from {
                    // Tell the previous holder it is gone before it is queued.
                    let snapshot = self.items[&id].clone();
                    self.events.push(Event::ItemChanged {
                        item: snapshot,
                        reason,
                        previous: Some(prev),
                    });
                }
                let pull = cfg.distribution == super::directory::Distribution::Pull;
                self.enqueue(id, pull);
            }
        }
    }

    /// A ring or first-response timer fired: if the item is still waiting on
    /// the same assignment, hand it to the next agent.
    pub(super) fn assignment_expired(
        &mut self,
        now: Millis,
        id: ItemId,
        since: Millis,
        why: HandOff,
    ) {
        let Some(item) = self.items.get(&id) else {
            return;
        };
        if item.state != ItemState::Assigned || item.assigned_at != Some(since) {
            return;
        }
        let group = item.group;
        let holder = item.assignee;
        self.hand_off(now, id, why, None, group, String::new());
        if let Some(a) = holder {
            self.offer_ran_out(now, a, group);
        }
    }

    /// When a held item of a logged-out holder goes back to routing: its
    /// group's limit after the later of the logout and the assignment
    /// (`disconnect_ms` for chats, `reassign_tickets_after_logout_ms` for
    /// tickets). `None` while the holder is logged in, and when the item
    /// stays with its holder (a call; a ticket of a group that does not
    /// reassign them).
    pub fn logout_hand_off_at(&self, id: ItemId) -> Option<Millis> {
        let item = self.items.get(&id)?;
        let p = self.presence(item.assignee?);
        if p.logged_in {
            return None;
        }
        let settings = self.directory().settings(item.group);
        let limit = match item.channel {
            Channel::Chat => settings.disconnect_ms,
            Channel::Ticket => settings.reassign_tickets_after_logout_ms?,
            Channel::Voice => return None,
        };
        Some(p.since.max(item.assigned_at.unwrap_or(0)) + limit)
    }

    /// Arms the timer that hands an item of a logged-out holder back to
    /// routing, when its group has a limit for it.
    pub(super) fn arm_logout_hand_off(&mut self, id: ItemId) {
        if let Some(at) = self.logout_hand_off_at(id) {
            let since = self.presence(self.items[&id].assignee.expect("held")).since;
            self.arm(id, at, Timer::Disconnected(id, since));
        }
    }

    /// The holder of an item may have been logged out for the group's
    /// limit: hand the item on if so; if the limit was raised meanwhile,
    /// wait for the new deadline; if the holder is back, do nothing.
    pub(super) fn holder_stayed_out(&mut self, now: Millis, id: ItemId) {
        let Some(at) = self.logout_hand_off_at(id) else {
            return;
        };
        if at > now {
            self.arm_logout_hand_off(id);
            return;
        }
        let group = self.items[&id].group;
        self.hand_off(now, id, HandOff::Disconnected, None, group, String::new());
    }

    /// The assignee declines (a ringing call, or an unaccepted item).
    pub(super) fn decline(
        &mut self,
        now: Millis,
        actor: AgentIx,
        id: ItemId,
    ) -> Result<Reply, DomainError> {
        let item = self.items.get(&id).ok_or(DomainError::NoSuchItem(id))?;
        if item.assignee != Some(actor) {
            return Err(DomainError::Forbidden("only the rung agent may decline"));
        }
        if item.state != ItemState::Assigned {
            return Err(DomainError::InvalidState(item.state.as_str()));
        }
        let group = item.group;
        self.hand_off(
            now,
            id,
            HandOff::Declined,
            Some(actor),
            group,
            String::new(),
        );
        Ok(Reply::Item(id))
    }

    /// Moves an item to a group (routed by its rules, or queued there) or to
    /// a named member of it. A person must hold the item or manage its group
    /// (and be a member of the group it names a member of); an integration
    /// (a CRM moving its ticket) is checked against its scope by the
    /// replica, and is on the history as nobody of the directory.
    pub(super) fn transfer(
        &mut self,
        now: Millis,
        actor: Actor,
        id: ItemId,
        to: GroupIx,
        agent: Option<AgentIx>,
        note: String,
    ) -> Result<Reply, DomainError> {
        let item = self.items.get(&id).ok_or(DomainError::NoSuchItem(id))?;
        let dir = self.directory();
        if dir.is_group_gone(to) {
            return Err(DomainError::NoSuchGroup(dir.group(to).id.clone()));
        }
        let person = match actor {
            Actor::Agent(a) => Some(a),
            Actor::System | Actor::Integration => None,
        };
        if let Some(a) = person
            && item.assignee != Some(a)
            && !dir.is_manager_of(a, item.group)
        {
            return Err(if dir.member(a, item.group).is_none() {
                DomainError::NotMember(item.group)
            } else {
                DomainError::Forbidden("only the holder or a manager of the group may transfer it")
            });
        }
        let channel = item.channel;
        if !dir.group(to).channels[channel.index()].enabled {
            return Err(DomainError::ChannelDisabled(to, channel));
        }
        let Some(target) = agent else {
            self.hand_off(now, id, HandOff::Transferred, person, to, note);
            return Ok(Reply::Item(id));
        };
        if let Some(a) = person
            && dir.member(a, to).is_none()
        {
            return Err(DomainError::NotMember(to));
        }
        let m = dir
            .member(target, to)
            .ok_or(DomainError::TargetNotMember(target, to))?;
        if dir.is_not_applicable(m, channel) {
            return Err(DomainError::NotApplicable {
                agent: target,
                group: to,
                channel,
            });
        }
        if channel != Channel::Ticket && !self.presence(target).logged_in {
            return Err(DomainError::TargetLoggedOut(target));
        }
        if self.at_cap(m, channel) {
            return Err(DomainError::AtCapacity(channel));
        }
        let from = item.assignee;
        if from.is_some() {
            self.release(now, id);
        } else {
            let item = &self.items[&id];
            self.queues[item.group.0 as usize][channel.index()].remove(item);
            self.events.push(Event::Dequeued {
                item: item.clone(),
                reason: DequeueReason::Transferred,
            });
        }
        let item = self.items.get_mut(&id).expect("checked above");
        item.history.push(HistoryEntry {
            at: now,
            why: HandOff::Transferred,
            from,
            by: person,
            note,
        });
        item.group = to;
        item.state = ItemState::Queued;
        self.assign(now, id, m, ItemReason::Transferred, from);
        Ok(Reply::Item(id))
    }

    /// A manager of the group (or an agent with `take_assigned`) takes an
    /// item someone else holds; the previous holder is told.
    pub(super) fn take_over(
        &mut self,
        now: Millis,
        actor: AgentIx,
        id: ItemId,
    ) -> Result<Reply, DomainError> {
        let item = self.items.get(&id).ok_or(DomainError::NoSuchItem(id))?;
        let dir = self.directory();
        let m = dir
            .member(actor, item.group)
            .ok_or(DomainError::NotMember(item.group))?;
        let manager = dir.is_manager_of(actor, item.group);
        if !manager && !dir.agent(actor).take_assigned {
            return Err(DomainError::Forbidden(
                "only a manager of the group or an agent allowed to take assigned work may take it over",
            ));
        }
        let Some(from) = item.assignee else {
            return Err(DomainError::InvalidState("queued: use take"));
        };
        if from == actor {
            return Err(DomainError::InvalidState("already yours"));
        }
        if !manager && self.at_cap(m, item.channel) {
            return Err(DomainError::AtCapacity(item.channel));
        }
        self.release(now, id);
        let item = self.items.get_mut(&id).expect("checked above");
        item.history.push(HistoryEntry {
            at: now,
            why: HandOff::TakenOver,
            from: Some(from),
            by: Some(actor),
            note: String::new(),
        });
        item.state = ItemState::Queued;
        self.assign(now, id, m, ItemReason::TakenOver, Some(from));
        Ok(Reply::Item(id))
    }
}
