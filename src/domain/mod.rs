//! The pure domain core: presence, active cells, eligibility, routing, queues
//! and the work-item state machine.
//!
//! Like `quinn-proto`, this module is fully deterministic: no I/O, no async,
//! no clock reads. Time comes in as a parameter (`now`, milliseconds since the
//! epoch), the next deadline goes out through [`Core::poll_timeout`], commands
//! go in through [`Core::apply`] and the resulting events are drained with
//! [`Core::drain_events`]. The engine (`crate::engine`) is the thin shell that
//! owns one [`Core`], feeds it commands one at a time and turns its events into
//! pushes.
//!
//! # Ownership and exactly-once
//! A [`Core`] owns all mutable routing state: every agent's presence, every
//! active cell, every work item and every queue. It is mutated only through
//! `&mut self` methods, so whoever owns it (the engine task) applies commands
//! strictly one after the other. An item moves out of `queued` in exactly one
//! command, and that command checks the state first: of several takers the
//! first one applied wins and every later one sees `assigned` and is told who
//! won. No item is ever both queued and assigned, because the only two places
//! that assign ([`Core::apply`] for take/route and the drain that follows every
//! command) remove the item from its queue in the same step.

mod abandoned;
mod account;
mod admin;
mod command;
mod core;
mod credential_change;
mod directory;
mod directory_edit;
mod eligibility;
mod error;
mod event;
mod handoff;
pub use handoff::Verdict;
mod item;
mod item_ops;
mod log_entry;
mod not_responding;
mod queue;
mod routing;
mod snapshot;
mod status;
mod time;
mod wrap_up;

pub use admin::{
    AdminChange, AdminRecord, AgentPatch, ChannelPatch, GroupPatch, MAX_CHAT_CAP, MAX_NAME_CHARS,
    MAX_TIMER_MS, MemberPatch,
};
pub use command::{Actor, CellChange, Command, IntegrationPresence, Reply};
pub use core::{AgentPresence, Core, CoreConfig};
pub use credential_change::{CredentialChange, GroupScope};
pub use directory::{
    AgentDef, AgentIx, Channel, ChannelConfig, Directory, DirectoryError, Distribution, GroupDef,
    GroupIx, GroupSettings, Handling, MemberIx, Membership, MembershipSpec, Roles,
};
pub use eligibility::KeptOut;
pub use error::DomainError;
pub use event::{DequeueReason, Event, ItemReason, PresenceWhat};
pub use item::{HandOff, HistoryEntry, Item, ItemId, ItemState};
pub use item_ops::MAX_TITLE_CHARS;
pub use log_entry::{LogEntry, LogOp, NewVisitor, VisitorJoin};
pub use not_responding::NOT_RESPONDING;
pub use snapshot::{CoreSnapshot, SnapshotError};
pub use status::{
    AVAILABLE, AwayReason, MAX_REASON_CHARS, MAX_REASONS, StatusSettings, UNAVAILABLE, status_name,
};
pub use time::Millis;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
