//! Abandoned chats: a queued visitor chat whose visitor has had no socket
//! open for the group's `abandon_after_ms` leaves the queue as abandoned
//! and is never routed; a visitor leaving a chat an agent holds is only
//! marked, so the agent's console can say so.
//!
//! The visitor's socket lives on one node; its opening and closing are
//! commands in the log (`VisitorBack`, `VisitorLeft`) naming the socket, so
//! every replica agrees, and a close that arrives after the visitor already
//! reconnected elsewhere (another socket) changes nothing.

use super::command::Reply;
use super::core::{Core, Timer};
use super::directory::Channel;
use super::error::DomainError;
use super::event::{Event, ItemReason};
use super::item::{ItemId, ItemState};
use super::time::Millis;

impl Core {
    /// The visitor of chat `id` opened socket `socket`.
    pub(super) fn visitor_back(&mut self, id: ItemId, socket: u64) -> Result<Reply, DomainError> {
        let item = self.visitor_chat_mut(id)?;
        let was_gone = item.visitor_gone_since.take().is_some();
        item.visitor_socket = Some(socket);
        if was_gone && item.state != ItemState::Queued {
            let item = item.clone();
            self.events.push(Event::ItemChanged {
                item,
                reason: ItemReason::VisitorBack,
                previous: None,
            });
        }
        Ok(Reply::Done)
    }

    /// Socket `socket` of chat `id`'s visitor closed.
    pub(super) fn visitor_left(
        &mut self,
        now: Millis,
        id: ItemId,
        socket: u64,
    ) -> Result<Reply, DomainError> {
        let item = self.visitor_chat_mut(id)?;
        if item.visitor_socket != Some(socket) || item.visitor_gone_since.is_some() {
            // The visitor came back on another socket meanwhile.
            return Ok(Reply::Done);
        }
        item.visitor_socket = None;
        item.visitor_gone_since = Some(now);
        let (group, queued) = (item.group, item.state == ItemState::Queued);
        if queued {
            let after = self.dir.settings(group).abandon_after_ms;
            if after > 0 {
                self.arm(id, now.saturating_add(after), Timer::Abandon(id, now));
            }
        } else {
            let item = self.items[&id].clone();
            self.events.push(Event::ItemChanged {
                item,
                reason: ItemReason::VisitorLeft,
                previous: None,
            });
        }
        Ok(Reply::Done)
    }

    /// The abandon timer of a chat fired: if it still waits and its visitor
    /// is still gone since then, it leaves the queue for good.
    pub(super) fn abandon_if_still_gone(&mut self, now: Millis, id: ItemId, since: Millis) {
        let Some(item) = self.items.get(&id) else {
            return;
        };
        if item.state != ItemState::Queued || item.visitor_gone_since != Some(since) {
            return;
        }
        self.end_item(now, id, ItemReason::Abandoned);
    }

    fn visitor_chat_mut(&mut self, id: ItemId) -> Result<&mut super::item::Item, DomainError> {
        let item = self.items.get_mut(&id).ok_or(DomainError::NoSuchItem(id))?;
        if item.channel != Channel::Chat {
            return Err(DomainError::InvalidState("not a chat"));
        }
        Ok(item)
    }
}
