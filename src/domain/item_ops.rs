//! What an integration (a CRM, a ticketing system) does to work it created
//! that no console request does: cancel it, change its title or priority,
//! give it to a named member (over the cap when allowed). It closes and
//! moves work with the consoles' own `Close` and `Transfer`. These commands
//! are about the item alone: the engine checks the integration's scope
//! before they are proposed and the replica again when they are applied.
//!
//! None of them resets `created_at`, so a reassigned item keeps its wait
//! and its place.

use super::command::{Actor, Reply};
use super::core::Core;
use super::directory::{AgentIx, Channel};
use super::error::DomainError;
use super::event::{Event, ItemReason};
use super::item::{HandOff, HistoryEntry, ItemId, ItemState};
use super::time::Millis;

/// Longest title of an item, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// `Forbidden` for a person: these commands are an integration's.
fn not_a_person(actor: Actor) -> Result<(), DomainError> {
    match actor {
        Actor::Agent(_) => Err(DomainError::Forbidden(
            "people close, transfer and take over work from their consoles",
        )),
        Actor::System | Actor::Integration => Ok(()),
    }
}

impl Core {
    /// Withdraws an open item: it ends like a close (the holder's cap is
    /// free at once), with the reason `cancelled`.
    pub(super) fn cancel(
        &mut self,
        now: Millis,
        actor: Actor,
        id: ItemId,
    ) -> Result<Reply, DomainError> {
        not_a_person(actor)?;
        if !self.items.contains_key(&id) {
            return Err(DomainError::NoSuchItem(id));
        }
        self.end_item(now, id, ItemReason::Cancelled);
        Ok(Reply::Item(id))
    }

    /// Changes an item's title or priority. A queued item is queued again
    /// at the place its new priority gives it (its age unchanged).
    pub(super) fn update(
        &mut self,
        actor: Actor,
        id: ItemId,
        title: Option<String>,
        priority: Option<i32>,
    ) -> Result<Reply, DomainError> {
        not_a_person(actor)?;
        let item = self.items.get(&id).ok_or(DomainError::NoSuchItem(id))?;
        if let Some(t) = &title
            && t.chars().count() > MAX_TITLE_CHARS
        {
            return Err(DomainError::Invalid {
                field: "title",
                why: format!("is over {MAX_TITLE_CHARS} characters"),
            });
        }
        let queued = item.state == ItemState::Queued;
        let (g, c) = (item.group.0 as usize, item.channel.index());
        if queued {
            self.queues[g][c].remove(item);
        }
        let item = self.items.get_mut(&id).expect("checked above");
        if let Some(t) = title {
            item.title = t;
        }
        if let Some(p) = priority {
            item.priority = p;
        }
        if queued {
            self.queues[g][c].push(item);
        }
        let item = item.clone();
        self.events.push(Event::ItemChanged {
            item,
            reason: ItemReason::Updated,
            previous: None,
        });
        Ok(Reply::Item(id))
    }

    /// Gives an item to a named member of its group: from the queue (as
    /// routing would), or from its holder (a change of hands on its history,
    /// the holder told). The member must handle the channel there, be logged
    /// in for a chat or call, and be under its cap, and not kept from the
    /// channel by work of another it holds (cross-channel capacity), unless
    /// `override_capacity`.
    pub(super) fn assign_to(
        &mut self,
        now: Millis,
        actor: Actor,
        id: ItemId,
        agent: AgentIx,
        override_capacity: bool,
    ) -> Result<Reply, DomainError> {
        not_a_person(actor)?;
        let item = self.items.get(&id).ok_or(DomainError::NoSuchItem(id))?;
        let dir = self.directory();
        if dir.is_agent_gone(agent) {
            return Err(DomainError::NoSuchAgent(dir.agent(agent).id.clone()));
        }
        let (group, channel) = (item.group, item.channel);
        let m = dir
            .member(agent, group)
            .ok_or(DomainError::TargetNotMember(agent, group))?;
        if dir.is_not_applicable(m, channel) {
            return Err(DomainError::NotApplicable {
                agent,
                group,
                channel,
            });
        }
        if item.assignee == Some(agent) {
            return Err(DomainError::InvalidState("already assigned to that agent"));
        }
        if channel != Channel::Ticket && !self.presence(agent).logged_in {
            return Err(DomainError::TargetLoggedOut(agent));
        }
        if !override_capacity && (self.at_cap(m, channel) || self.busy_with(m, channel).is_some()) {
            return Err(DomainError::AtCapacity(channel));
        }
        let Some(from) = item.assignee else {
            self.assign(now, id, m, ItemReason::Assigned, None);
            return Ok(Reply::Item(id));
        };
        self.release(now, id);
        let item = self.items.get_mut(&id).expect("checked above");
        item.history.push(HistoryEntry {
            at: now,
            why: HandOff::Transferred,
            from: Some(from),
            by: None,
            note: String::new(),
        });
        item.state = ItemState::Queued;
        self.assign(now, id, m, ItemReason::Assigned, Some(from));
        Ok(Reply::Item(id))
    }
}
