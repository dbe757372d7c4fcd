//! Commands: everything that can change the core's state.

use super::admin::AdminChange;
use super::directory::{AgentIx, Channel, GroupIx};
use super::item::ItemId;

/// Who asked for a change; recorded in the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Actor {
    /// A person, through a console.
    Agent(AgentIx),
    /// The server itself (timers, hand-offs).
    System,
    /// An integration, through the HTTP API.
    Integration,
}

/// Which active cells to change, all in one atomic step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CellChange {
    /// Explicit cells; any N/A cell refuses the whole change.
    Cells(Vec<(GroupIx, Channel, bool)>),
    /// One channel in all of the agent's groups, N/A cells skipped.
    Column(Channel, bool),
    /// All channels of one group, N/A cells skipped.
    Row(GroupIx, bool),
}

/// A presence change an integration (a workforce-management tool) makes
/// for an agent. Its scope and permission are checked before it reaches
/// the core (by the engine, and the scope again by the replica at its place
/// in the log), so the core applies it as asked, audited as the
/// integration's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IntegrationPresence {
    /// A status by name (`Available`, `Unavailable` or a reason).
    Status(String),
    /// Explicit active cells; any N/A cell refuses the whole change.
    Cells(Vec<(GroupIx, Channel, bool)>),
}

/// A request to the core. Applied one at a time by [`super::Core::apply`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    /// A console session of `agent` opened.
    OpenSession {
        /// The agent.
        agent: AgentIx,
        /// Its new session.
        session: u64,
    },
    /// A console session closed (or dropped).
    CloseSession {
        /// The agent.
        agent: AgentIx,
        /// The closed session.
        session: u64,
    },
    /// The agent switched itself available or unavailable.
    SetAvailability {
        /// The agent (only ever itself).
        agent: AgentIx,
        /// The new value.
        available: bool,
    },
    /// An agent's status set by name (`Available`, `Unavailable` or one of
    /// the help desk's reasons): availability and reason at once.
    SetStatus {
        /// Who asks: the agent, an admin, or a manager when allowed.
        actor: AgentIx,
        /// Whose status.
        agent: AgentIx,
        /// The status name.
        status: String,
    },
    /// An integration sets an agent's status or active cells (see
    /// [`IntegrationPresence`]).
    PresenceByIntegration {
        /// Whose presence.
        agent: AgentIx,
        /// What changes.
        change: IntegrationPresence,
    },
    /// The agent says it is ready: its wrap-ups end and, if it was Not
    /// Responding, it is back in routing.
    Ready {
        /// The agent (only ever itself).
        agent: AgentIx,
    },
    /// A visitor chat's visitor opened a socket (on some node).
    VisitorBack {
        /// The chat.
        item: ItemId,
        /// The socket, unique across nodes.
        socket: u64,
    },
    /// A socket of a visitor chat's visitor closed.
    VisitorLeft {
        /// The chat.
        item: ItemId,
        /// The socket.
        socket: u64,
    },
    /// The server switches an idle agent unavailable (auto-away, opt-in):
    /// audited as done by the system.
    AutoAway {
        /// The idle agent.
        agent: AgentIx,
    },
    /// Active cells of `agent` change.
    SetActive {
        /// Who asks.
        actor: AgentIx,
        /// Whose cells.
        agent: AgentIx,
        /// Which.
        change: CellChange,
    },
    /// New work arrives in a group.
    CreateWork {
        /// The group.
        group: GroupIx,
        /// Its channel.
        channel: Channel,
        /// Higher first.
        priority: i32,
        /// A label.
        title: String,
    },
    /// A member cherry-picks a queued item.
    Take {
        /// The taker.
        actor: AgentIx,
        /// The item.
        item: ItemId,
    },
    /// The assignee accepts (first response).
    Accept {
        /// The assignee.
        actor: AgentIx,
        /// The item.
        item: ItemId,
    },
    /// The rung agent declines a call (or an assigned item).
    Decline {
        /// The assignee.
        actor: AgentIx,
        /// The item.
        item: ItemId,
    },
    /// Move an item to a group, or to a named member of it.
    Transfer {
        /// Who transfers: the assignee or a manager of the item's group, or
        /// an integration (its scope checked by the replica). Entries written
        /// when only people transferred hold a bare agent index; they still
        /// read.
        #[serde(deserialize_with = "actor_or_agent")]
        actor: Actor,
        /// The item.
        item: ItemId,
        /// The receiving group.
        group: GroupIx,
        /// A named member of that group, or routing by its rules.
        agent: Option<AgentIx>,
        /// Why, for the receiving side.
        note: String,
    },
    /// A manager (or a permitted agent) takes an item assigned to someone else.
    TakeOver {
        /// The new holder.
        actor: AgentIx,
        /// The item.
        item: ItemId,
    },
    /// The item is done.
    Close {
        /// Who closes it.
        actor: Actor,
        /// The item.
        item: ItemId,
    },
    /// The work is withdrawn before it is done (the customer went away, the
    /// case was solved elsewhere): it ends like a close, said as such.
    Cancel {
        /// Who cancels it (an integration or the system; not a person).
        actor: Actor,
        /// The item.
        item: ItemId,
    },
    /// The item's title or priority changes; a queued item takes the place
    /// its new priority gives it.
    Update {
        /// Who changes it (an integration or the system; not a person).
        actor: Actor,
        /// The item.
        item: ItemId,
        /// The new title, if it changes.
        title: Option<String>,
        /// The new priority, if it changes.
        priority: Option<i32>,
    },
    /// The item goes to a named member of its group, from the queue or from
    /// another holder, within the member's cap unless `override_capacity`.
    Assign {
        /// Who assigns it (an integration or the system; not a person).
        actor: Actor,
        /// The item.
        item: ItemId,
        /// The member it goes to.
        agent: AgentIx,
        /// Give it even when the member is at its cap.
        override_capacity: bool,
    },
    /// An admin disables or enables an agent's account. Disabling logs the
    /// agent out at once (every session closed, no grace), so that a
    /// departed or compromised account stops receiving work on every
    /// replica in the same log position; its later sessions are refused.
    SetEnabled {
        /// The admin.
        actor: AgentIx,
        /// Whose account.
        agent: AgentIx,
        /// Enabled (true) or disabled (false).
        enabled: bool,
    },
    /// An administrator (or a manager, within its groups) changes the
    /// directory: agents, groups, memberships.
    Admin {
        /// Who asks.
        actor: Actor,
        /// What (boxed: a directory change is large, other commands small).
        change: Box<AdminChange>,
    },
}

/// A transfer's actor as the log holds it: an [`Actor`], or a bare agent
/// index (entries written before integrations could transfer).
fn actor_or_agent<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Actor, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Agent(AgentIx),
        Actor(Actor),
    }
    Ok(match <Wire as serde::Deserialize>::deserialize(d)? {
        Wire::Agent(a) => Actor::Agent(a),
        Wire::Actor(a) => a,
    })
}

/// What a successful command returns besides its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Reply {
    /// Nothing more to say.
    Done,
    /// The item the command created or changed.
    Item(ItemId),
}
