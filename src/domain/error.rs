//! Why the core refused a command.

use super::directory::{AgentIx, Channel, GroupIx};
use super::item::ItemId;

/// A refused command. The state is unchanged whenever one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The item does not exist (or is closed and forgotten).
    #[error("no such item {0}")]
    NoSuchItem(ItemId),
    /// The agent is not a member of the group.
    #[error("not a member of the group")]
    NotMember(GroupIx),
    /// The actor lacks the right (role, permission, ownership).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The cell is N/A (channel disabled or handling excluded).
    #[error("cell is N/A")]
    NotApplicable {
        /// The agent.
        agent: AgentIx,
        /// The group.
        group: GroupIx,
        /// The channel.
        channel: Channel,
    },
    /// Someone else holds the item already.
    #[error("already taken")]
    AlreadyTaken {
        /// Who holds it.
        winner: AgentIx,
    },
    /// The item is not in a state that allows this.
    #[error("item is {0}")]
    InvalidState(&'static str),
    /// Nobody is online for chat in the group and it does not queue offline.
    #[error("the group is offline for chat")]
    Offline(GroupIx),
    /// The channel is disabled in the target group.
    #[error("channel disabled in the group")]
    ChannelDisabled(GroupIx, Channel),
    /// The named agent is not a member of the target group.
    #[error("the agent is not a member of the group")]
    TargetNotMember(AgentIx, GroupIx),
    /// A chat cannot go to an agent who is logged out.
    #[error("the agent is not logged in")]
    TargetLoggedOut(AgentIx),
    /// The agent is at its chat or ticket cap.
    #[error("at capacity for {0:?}")]
    AtCapacity(Channel),
    /// The agent's account is disabled: it may not open sessions.
    #[error("the account is disabled")]
    Disabled(AgentIx),
    /// No agent with this id (deleted, or never existed).
    #[error("no such agent {0:?}")]
    NoSuchAgent(String),
    /// No group with this id (deleted, or never existed).
    #[error("no such group {0:?}")]
    NoSuchGroup(String),
    /// The integration may not act in this group (its scope changed, or
    /// the item moved, after the request was checked).
    #[error("outside the integration's scope")]
    OutOfScope(GroupIx),
    /// No integration with this name.
    #[error("no such integration {0:?}")]
    NoSuchIntegration(String),
    /// A field of an administration change is not acceptable.
    #[error("{field} {why}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// The id is taken, or the membership exists already.
    #[error("{0} exists already")]
    Exists(String),
    /// The change would strand open work: these items are in the way.
    #[error("{what}")]
    HasWork {
        /// What to do about it.
        what: &'static str,
        /// The items.
        items: Vec<ItemId>,
    },
}
