//! [`AnyJournal`]: the event journal of whichever store a node runs on, as
//! one type, so that the HTTP layer and the deliverer need no type
//! parameter; and [`EventFeed`], the journal with its live tail.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use super::StoreError;
use super::events::{DeadLetter, EventId, EventJournal, EventRead};
use super::memory::MemoryLog;
use super::redis::RedisLog;
use super::sqlite::SqliteLog;

/// The journal of a memory, embedded or Redis store.
#[derive(Debug, Clone)]
pub enum AnyJournal {
    /// In this process.
    Memory(MemoryLog),
    /// In the data directory's database.
    Sqlite(SqliteLog),
    /// In Redis.
    Redis(RedisLog),
}

macro_rules! each {
    ($self:ident, $j:ident => $call:expr) => {
        match $self {
            AnyJournal::Memory($j) => $call,
            AnyJournal::Sqlite($j) => $call,
            AnyJournal::Redis($j) => $call,
        }
    };
}

impl EventJournal for AnyJournal {
    fn any(&self) -> AnyJournal {
        self.clone()
    }

    async fn append_events(
        &self,
        entries: Vec<(String, Vec<String>)>,
        cap: usize,
    ) -> Result<(), StoreError> {
        each!(self, j => j.append_events(entries, cap).await)
    }

    async fn read_events(&self, after: EventId, max: usize) -> Result<EventRead, StoreError> {
        each!(self, j => j.read_events(after, max).await)
    }

    async fn claim_lease(&self, name: &str, node: u32, ttl: Duration) -> Result<bool, StoreError> {
        each!(self, j => j.claim_lease(name, node, ttl).await)
    }

    async fn cursor(&self, key: &str) -> Result<Option<EventId>, StoreError> {
        each!(self, j => j.cursor(key).await)
    }

    async fn set_cursor(&self, key: &str, at: EventId) -> Result<(), StoreError> {
        each!(self, j => j.set_cursor(key, at).await)
    }

    async fn add_dead(
        &self,
        integration: &str,
        letter: DeadLetter,
        cap: usize,
    ) -> Result<bool, StoreError> {
        each!(self, j => j.add_dead(integration, letter, cap).await)
    }

    async fn dead_letters(
        &self,
        integration: &str,
        max: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        each!(self, j => j.dead_letters(integration, max).await)
    }

    async fn remove_dead(
        &self,
        integration: &str,
        keys: Vec<(String, EventId)>,
    ) -> Result<(), StoreError> {
        each!(self, j => j.remove_dead(integration, keys).await)
    }
}

/// Events this node just wrote to the journal, in order, one message per
/// batch written.
pub type LiveEvents = Arc<Vec<(EventId, String)>>;

/// The journal and its live tail: what reads events (the stream, the
/// deliverer) holds.
#[derive(Debug, Clone)]
pub struct EventFeed {
    /// The journal.
    pub journal: AnyJournal,
    /// Every batch this node writes, once written. A reader that lags
    /// behind it reads the journal again.
    pub live: broadcast::Sender<LiveEvents>,
}

impl EventFeed {
    /// A feed over `journal`.
    pub fn new(journal: AnyJournal) -> EventFeed {
        EventFeed {
            journal,
            live: broadcast::channel(1024).0,
        }
    }
}
