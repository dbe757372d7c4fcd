//! Work items and their state machine.

use super::directory::{AgentIx, Channel, GroupIx};
use super::time::Millis;

/// Identifies a work item; allocated by the core in increasing order.
pub type ItemId = u64;

/// Where an item is in its life: `Queued → Assigned → Active → Closed`, with
/// `Closed` reachable from any state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ItemState {
    /// Waiting in its group's queue for this channel.
    Queued,
    /// Given to an agent who has not yet accepted it (first response pending).
    Assigned,
    /// Accepted by its agent and being worked.
    Active,
    /// Done; the core forgets it right after emitting its last event.
    Closed,
}

impl ItemState {
    /// The wire name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Queued => "queued",
            ItemState::Assigned => "assigned",
            ItemState::Active => "active",
            ItemState::Closed => "closed",
        }
    }

    /// Whether an agent holds the item (it counts against that agent's caps).
    pub fn is_held(self) -> bool {
        matches!(self, ItemState::Assigned | ItemState::Active)
    }
}

/// Why an item changed hands, kept on its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HandOff {
    /// Not accepted within the group's first-response limit.
    NoResponse,
    /// Its agent stayed logged out past the group's limit (accepted chats,
    /// and tickets where the group reassigns them).
    Disconnected,
    /// Its agent was logged out while it was offered and not yet accepted (a
    /// chat, a ringing call): nobody could answer it, so it moved at once.
    LoggedOut,
    /// A call rang out without an answer.
    RingTimeout,
    /// The rung agent declined the call.
    Declined,
    /// Transferred by an agent.
    Transferred,
    /// Taken over by a manager.
    TakenOver,
    /// Its holder left the group or was deleted, or its group was deleted.
    Removed,
}

impl HandOff {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            HandOff::NoResponse => "no_response",
            HandOff::Disconnected => "disconnected",
            HandOff::LoggedOut => "logged_out",
            HandOff::RingTimeout => "ring_timeout",
            HandOff::Declined => "declined",
            HandOff::Transferred => "transferred",
            HandOff::TakenOver => "taken_over",
            HandOff::Removed => "removed",
        }
    }
}

/// One change of hands on an item's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryEntry {
    /// When.
    pub at: Millis,
    /// Why.
    pub why: HandOff,
    /// Who held it.
    pub from: Option<AgentIx>,
    /// Who did it (the transferring or taking agent), if a person.
    pub by: Option<AgentIx>,
    /// The transfer's note.
    pub note: String,
}

/// A chat, ticket or call in one group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Item {
    /// Its id.
    pub id: ItemId,
    /// The group it belongs to (and is routed in).
    pub group: GroupIx,
    /// Chat, ticket or call.
    pub channel: Channel,
    /// Higher is served first.
    pub priority: i32,
    /// A short human label given by the integration.
    pub title: String,
    /// Where it is in its life.
    pub state: ItemState,
    /// Who holds it, when assigned or active.
    pub assignee: Option<AgentIx>,
    /// When it was created; never reset, so wait times stay honest.
    pub created_at: Millis,
    /// When it was last given to its assignee.
    pub assigned_at: Option<Millis>,
    /// Agents it must not go back to: those who declined it or let it go
    /// unanswered (a hand-off never returns it straight to the same agent).
    pub excluded: Vec<AgentIx>,
    /// Every change of hands, oldest first.
    pub history: Vec<HistoryEntry>,
    /// A visitor chat: the visitor's open socket, if any.
    #[serde(default)]
    pub visitor_socket: Option<u64>,
    /// A visitor chat: since when its visitor has had no socket open.
    #[serde(default)]
    pub visitor_gone_since: Option<Millis>,
}
