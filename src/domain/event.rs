//! Events: what happened, for the engine to push and audit.

use super::admin::AdminRecord;
use super::command::Actor;
use super::directory::{AgentIx, Channel, GroupIx};
use super::item::Item;
use super::time::Millis;

/// A presence change; each one becomes one audit entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PresenceWhat {
    /// The agent's first session opened (not a reconnect within the grace).
    LoggedIn,
    /// The grace after the agent's last session ran out.
    LoggedOut,
    /// Availability switched.
    Availability {
        /// Before.
        old: bool,
        /// After.
        new: bool,
    },
    /// The status changed to or from one with a reason ("Lunch"); a switch
    /// between the plain `Available` and `Unavailable` is an
    /// [`PresenceWhat::Availability`].
    Status {
        /// The status before.
        old: String,
        /// The status after.
        new: String,
        /// Whether the new status takes new chats.
        available: bool,
    },
    /// An admin disabled or enabled the account.
    Enabled {
        /// Before.
        old: bool,
        /// After.
        new: bool,
    },
    /// One active cell switched.
    Active {
        /// The group.
        group: GroupIx,
        /// The channel.
        channel: Channel,
        /// Before.
        old: bool,
        /// After.
        new: bool,
    },
}

/// Why an item changed hands or state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemReason {
    /// Routed at creation.
    Routed,
    /// Cherry-picked from the queue.
    Taken,
    /// Given from the queue when the agent became eligible.
    Drained,
    /// Accepted by its agent.
    Accepted,
    /// Closed.
    Closed,
    /// Handed off (no response, disconnected, ring timeout, declined).
    HandedOff,
    /// Transferred by an agent.
    Transferred,
    /// Taken over by a manager.
    TakenOver,
    /// Its visitor has had no socket open for the group's limit while it
    /// waited: gone from the queue, never routed.
    Abandoned,
    /// The visitor of a held chat left (no socket open).
    VisitorLeft,
    /// The visitor of a held chat came back.
    VisitorBack,
    /// Given to a named member by an integration (not by routing's rules).
    Assigned,
    /// Withdrawn before it was done (it ends like a close).
    Cancelled,
    /// Its title or priority changed.
    Updated,
}

impl ItemReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemReason::Routed => "routed",
            ItemReason::Taken => "taken",
            ItemReason::Drained => "drained",
            ItemReason::Accepted => "accepted",
            ItemReason::Closed => "closed",
            ItemReason::HandedOff => "handed_off",
            ItemReason::Transferred => "transferred",
            ItemReason::TakenOver => "taken_over",
            ItemReason::Abandoned => "abandoned",
            ItemReason::VisitorLeft => "visitor_left",
            ItemReason::VisitorBack => "visitor_back",
            ItemReason::Assigned => "assigned",
            ItemReason::Cancelled => "cancelled",
            ItemReason::Updated => "updated",
        }
    }

    /// Whether the item ended with it (closed, cancelled or abandoned): the core has
    /// forgotten it.
    pub fn is_end(self) -> bool {
        matches!(
            self,
            ItemReason::Closed | ItemReason::Cancelled | ItemReason::Abandoned
        )
    }
}

/// Why an item left its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DequeueReason {
    /// Routing gave it to an agent.
    Assigned,
    /// A member took it.
    Taken,
    /// It was closed while waiting.
    Closed,
    /// It was transferred away while waiting.
    Transferred,
    /// Its visitor left and did not come back in time.
    Abandoned,
}

impl DequeueReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DequeueReason::Assigned => "assigned",
            DequeueReason::Taken => "taken",
            DequeueReason::Closed => "closed",
            DequeueReason::Transferred => "transferred",
            DequeueReason::Abandoned => "abandoned",
        }
    }
}

/// Something that happened, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An agent's presence changed.
    Presence {
        /// When.
        at: Millis,
        /// Who did it.
        by: Actor,
        /// Whose presence.
        agent: AgentIx,
        /// What changed.
        what: PresenceWhat,
    },
    /// An item entered its queue.
    Queued {
        /// The item as it is now.
        item: Item,
        /// A pull channel: announce it with a sound.
        sound: bool,
    },
    /// An item left its queue.
    Dequeued {
        /// The item as it is now.
        item: Item,
        /// Why.
        reason: DequeueReason,
    },
    /// An item was assigned, accepted or closed.
    ItemChanged {
        /// The item as it is now.
        item: Item,
        /// Why.
        reason: ItemReason,
        /// Who held it before, if someone else did.
        previous: Option<AgentIx>,
    },
    /// A wrap-up started or ended (not audited: it follows every close).
    WrapUp {
        /// Whose.
        agent: AgentIx,
        /// Which channel.
        channel: Channel,
        /// When it ends; `None`: it ended.
        until: Option<Millis>,
    },
    /// The directory changed (an agent, group or membership was created,
    /// changed or deleted).
    Directory {
        /// When.
        at: Millis,
        /// Who did it.
        by: Actor,
        /// The record before (`None`: created); boxed, as records are large
        /// and every other event small.
        old: Option<Box<AdminRecord>>,
        /// The record after (`None`: deleted).
        new: Option<Box<AdminRecord>>,
    },
}
