//! The in-process [`EventJournal`]: for tests and `--memory`. Not durable.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::MemoryLog;
use crate::store::StoreError;
use crate::store::events::{DeadLetter, EventId, EventJournal, EventRead, event_id};

/// The journal and its delivery state.
#[derive(Debug, Default)]
pub(super) struct Journal {
    events: BTreeMap<EventId, String>,
    floor: EventId,
    leases: HashMap<String, (u32, Instant)>,
    cursors: HashMap<String, EventId>,
    dead: HashMap<String, BTreeMap<(EventId, String), String>>,
}

impl MemoryLog {
    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.events.lock().expect("journal lock")
    }
}

impl EventJournal for MemoryLog {
    fn any(&self) -> crate::store::any_journal::AnyJournal {
        crate::store::any_journal::AnyJournal::Memory(self.clone())
    }

    async fn append_events(
        &self,
        entries: Vec<(String, Vec<String>)>,
        cap: usize,
    ) -> Result<(), StoreError> {
        let mut j = self.journal();
        for (entry, events) in entries {
            for (i, e) in events.into_iter().enumerate() {
                let id = event_id(&entry, i as u64);
                if id > j.floor {
                    j.events.entry(id).or_insert(e);
                }
            }
        }
        while j.events.len() > cap.max(1) {
            if let Some((id, _)) = j.events.pop_first() {
                j.floor = j.floor.max(id);
            }
        }
        Ok(())
    }

    async fn read_events(&self, after: EventId, max: usize) -> Result<EventRead, StoreError> {
        let j = self.journal();
        let events = j
            .events
            .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            .take(max)
            .map(|(id, e)| (*id, e.clone()))
            .collect();
        Ok(EventRead {
            floor: j.floor,
            events,
        })
    }

    async fn claim_lease(&self, name: &str, node: u32, ttl: Duration) -> Result<bool, StoreError> {
        let mut j = self.journal();
        let now = Instant::now();
        match j.leases.get(name) {
            Some((holder, until)) if *holder != node && *until > now => Ok(false),
            _ => {
                j.leases.insert(name.to_string(), (node, now + ttl));
                Ok(true)
            }
        }
    }

    async fn cursor(&self, key: &str) -> Result<Option<EventId>, StoreError> {
        Ok(self.journal().cursors.get(key).copied())
    }

    async fn set_cursor(&self, key: &str, at: EventId) -> Result<(), StoreError> {
        let mut j = self.journal();
        let c = j.cursors.entry(key.to_string()).or_default();
        *c = (*c).max(at);
        Ok(())
    }

    async fn add_dead(
        &self,
        integration: &str,
        letter: DeadLetter,
        cap: usize,
    ) -> Result<bool, StoreError> {
        let mut j = self.journal();
        let dead = j.dead.entry(integration.to_string()).or_default();
        let key = (letter.id, letter.url);
        if dead.len() >= cap && !dead.contains_key(&key) {
            return Ok(false);
        }
        dead.insert(key, letter.record);
        Ok(true)
    }

    async fn dead_letters(
        &self,
        integration: &str,
        max: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(self
            .journal()
            .dead
            .get(integration)
            .map(|d| {
                d.iter()
                    .take(max)
                    .map(|((id, url), record)| DeadLetter {
                        url: url.clone(),
                        id: *id,
                        record: record.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn remove_dead(
        &self,
        integration: &str,
        keys: Vec<(String, EventId)>,
    ) -> Result<(), StoreError> {
        if let Some(d) = self.journal().dead.get_mut(integration) {
            for (url, id) in keys {
                d.remove(&(id, url));
            }
        }
        Ok(())
    }
}
