//! The event journal of integrations, and what delivering it needs kept:
//! cursors, a lease and dead letters ([`EventJournal`]).
//!
//! # Ids
//! An event's id is derived from the log entry that caused it and its index
//! among that entry's events ([`event_id`]), like the audit's: every replica
//! applying the entry derives the same ids, so writing an entry's events
//! twice (two nodes, or one node replaying after a crash) adds nothing, and
//! ids grow in log order, so "after id X" is a position.
//!
//! # The contract
//! - `append_events(entries, cap)` adds the events (JSON) of log entries
//!   under ids derived from theirs, skipping ids already held, and keeps
//!   about the newest `cap`; the largest id ever dropped by that cap is the
//!   journal's *floor*.
//! - `read_events(after, max)` returns up to `max` events after `after`,
//!   oldest first, with the floor read in the same step: a reader whose
//!   `after` is below the floor missed events ([`EventRead::expired`]), and
//!   says so instead of leaving a silent gap.
//! - `claim_lease(name, node, ttl)`: true when `node` holds the lease `name`
//!   for `ttl` from now (taken when free or expired, renewed when already
//!   its own): one deliverer per cluster.
//! - `cursor(key)` / `set_cursor(key, at)`: a delivery position, which only
//!   moves forward.
//! - `add_dead(integration, letter, cap)` keeps a failed delivery (unless the
//!   integration already holds `cap`: then it is refused, `false`);
//!   `dead_letters(integration, max)` lists them by event id;
//!   `remove_dead(integration, keys)` forgets delivered ones.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use super::{StoreError, log_id_key};

/// Counter: events a node wrote to the journal (every node writes every
/// event; repeats add nothing).
pub const EVENTS_WRITTEN: &str = "switchboard_events_written_total";

/// Events of one log entry at most: an event's id is the entry's with its
/// sequence scaled by this, plus the event's index.
pub const EVENTS_PER_ENTRY: u64 = 1_000_000;

/// An event's id: `<ms>-<n>`, ordered like the log ids it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventId(pub u64, pub u64);

impl EventId {
    /// Before every event.
    pub const ZERO: EventId = EventId(0, 0);

    /// Parses `<ms>-<n>`; `None` for anything else.
    pub fn parse(s: &str) -> Option<EventId> {
        let (ms, n) = s.trim().split_once('-')?;
        Some(EventId(ms.parse().ok()?, n.parse().ok()?))
    }

    /// The id after every event of log entry `entry` (and before the next
    /// entry's).
    pub fn end_of_entry(entry: &str) -> EventId {
        event_id(entry, EVENTS_PER_ENTRY - 1)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// The id of the `index`th event of log entry `entry`.
pub fn event_id(entry: &str, index: u64) -> EventId {
    let (ms, seq) = log_id_key(entry);
    EventId(ms, seq * EVENTS_PER_ENTRY + index)
}

/// What [`EventJournal::read_events`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventRead {
    /// The largest id the journal's cap dropped ([`EventId::ZERO`]: none).
    pub floor: EventId,
    /// The events after the position asked for, oldest first.
    pub events: Vec<(EventId, String)>,
}

impl EventRead {
    /// Whether events after `after` were dropped before they were read.
    pub fn expired(&self, after: EventId) -> bool {
        after < self.floor
    }
}

/// A delivery given up after its last attempt, kept for an admin to see and
/// redeliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The receiver it failed at.
    pub url: String,
    /// The event's id.
    pub id: EventId,
    /// JSON: the event, the attempts, the last error, when it was given up.
    pub record: String,
}

/// The store's part of integration events: see the module docs.
pub trait EventJournal: Clone + Send + Sync + 'static {
    /// The same journal as [`AnyJournal`](super::any_journal::AnyJournal).
    fn any(&self) -> super::any_journal::AnyJournal;

    /// Adds the events of each log entry of `entries` (in log order) not
    /// already held, keeping about the newest `cap`.
    fn append_events(
        &self,
        entries: Vec<(String, Vec<String>)>,
        cap: usize,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `max` events after `after`, oldest first, and the floor.
    fn read_events(
        &self,
        after: EventId,
        max: usize,
    ) -> impl Future<Output = Result<EventRead, StoreError>> + Send;

    /// Whether `node` holds the lease `name` for `ttl` from now.
    fn claim_lease(
        &self,
        name: &str,
        node: u32,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The delivery position stored under `key`.
    fn cursor(&self, key: &str)
    -> impl Future<Output = Result<Option<EventId>, StoreError>> + Send;

    /// Moves the position under `key` forward to `at` (never back).
    fn set_cursor(
        &self,
        key: &str,
        at: EventId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Keeps a dead letter of `integration`; `false` when it holds `cap`
    /// already (the letter is not kept).
    fn add_dead(
        &self,
        integration: &str,
        letter: DeadLetter,
        cap: usize,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The oldest `max` dead letters of `integration`, by event id.
    fn dead_letters(
        &self,
        integration: &str,
        max: usize,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, StoreError>> + Send;

    /// Forgets the dead letters `(url, id)` of `integration`.
    fn remove_dead(
        &self,
        integration: &str,
        keys: Vec<(String, EventId)>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_log_and_parse_back() {
        let a = event_id("1700-3", 0);
        let b = event_id("1700-3", 1);
        let c = event_id("1700-4", 0);
        assert!(a < b && b < EventId::end_of_entry("1700-3") && b < c);
        assert_eq!(EventId::parse(&a.to_string()), Some(a));
        assert_eq!(EventId::parse("x"), None);
        let read = EventRead {
            floor: b,
            events: vec![],
        };
        assert!(read.expired(a));
        assert!(!read.expired(b));
    }
}
