//! The in-process [`SharedLog`]: for tests and for running several engines in
//! one process. Not durable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

mod events;

use super::{LogId, SharedLog, StoreError};
use crate::domain::LogEntry;

#[derive(Debug, Default)]
struct State {
    /// The entries from position `trimmed + 1` on.
    entries: Vec<LogEntry>,
    /// How many entries were trimmed away from the front.
    trimmed: usize,
    /// The position of the latest trim's `before`: reading after a position
    /// below it is refused as `Trimmed` (as in Redis, whose ids have gaps,
    /// so that the two stores answer alike).
    mark: usize,
    next_node: u32,
    /// Per node: heartbeat deadline and the position it applied.
    beats: HashMap<u32, (Instant, LogId)>,
    directory: Option<String>,
    snapshot: Option<(LogId, String)>,
    snapshot_claimed_until: Option<Instant>,
    audit: std::collections::VecDeque<((u64, u64), String)>,
}

/// An in-memory log shared by clones. Ids are `"<n>-0"`, n counting from 1.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog {
    state: Arc<Mutex<State>>,
    appended: Arc<Notify>,
    events: Arc<Mutex<events::Journal>>,
}

fn position(id: &str) -> usize {
    id.split('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl MemoryLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("log lock")
    }
}

impl SharedLog for MemoryLog {
    async fn append(&self, entries: Vec<LogEntry>) -> Result<(), StoreError> {
        self.lock().entries.extend(entries);
        self.appended.notify_waiters();
        Ok(())
    }

    async fn read_after(
        &self,
        after: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<(LogId, LogEntry)>, StoreError> {
        let from = position(after);
        let deadline = Instant::now() + block;
        loop {
            let notified = self.appended.notified();
            {
                let st = self.lock();
                if from < st.mark {
                    return Err(StoreError::Trimmed(after.to_string()));
                }
                if st.trimmed + st.entries.len() > from {
                    let skip = from - st.trimmed;
                    return Ok(st.entries[skip..]
                        .iter()
                        .take(max)
                        .enumerate()
                        .map(|(i, e)| (format!("{}-0", from + i + 1), e.clone()))
                        .collect());
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    async fn new_node(&self) -> Result<u32, StoreError> {
        let mut st = self.lock();
        st.next_node += 1;
        Ok(st.next_node)
    }

    async fn beat(&self, node: u32, ttl: Duration, applied: &str) -> Result<(), StoreError> {
        self.lock()
            .beats
            .insert(node, (Instant::now() + ttl, applied.to_string()));
        Ok(())
    }

    async fn dead_nodes(&self, me: u32) -> Result<Vec<u32>, StoreError> {
        let mut st = self.lock();
        let now = Instant::now();
        let dead: Vec<u32> = st
            .beats
            .iter()
            .filter(|&(&n, (until, _))| n != me && *until <= now)
            .map(|(&n, _)| n)
            .collect();
        for n in &dead {
            st.beats.remove(n);
        }
        Ok(dead)
    }

    async fn min_applied(&self) -> Result<Option<LogId>, StoreError> {
        let now = Instant::now();
        Ok(self
            .lock()
            .beats
            .values()
            .filter(|(until, _)| *until > now)
            .map(|(_, applied)| applied.clone())
            .min_by_key(|id| position(id)))
    }

    async fn put_snapshot(&self, at: &str, data: String) -> Result<(), StoreError> {
        let mut st = self.lock();
        let newer = st
            .snapshot
            .as_ref()
            .is_none_or(|(stored, _)| position(at) > position(stored));
        if newer {
            st.snapshot = Some((at.to_string(), data));
        }
        Ok(())
    }

    async fn snapshot(&self) -> Result<Option<(LogId, String)>, StoreError> {
        Ok(self.lock().snapshot.clone())
    }

    async fn claim_snapshot(&self, _node: u32, every: Duration) -> Result<bool, StoreError> {
        let mut st = self.lock();
        let now = Instant::now();
        if st.snapshot_claimed_until.is_some_and(|until| until > now) {
            return Ok(false);
        }
        st.snapshot_claimed_until = Some(now + every);
        Ok(true)
    }

    async fn append_audit(
        &self,
        entry: &str,
        records: Vec<String>,
        cap: usize,
    ) -> Result<(), StoreError> {
        let mut st = self.lock();
        for (i, r) in records.into_iter().enumerate() {
            let id = super::audit_id(entry, i as u64);
            if st.audit.back().is_some_and(|(top, _)| *top >= id) {
                continue;
            }
            st.audit.push_back((id, r));
            if st.audit.len() > cap {
                st.audit.pop_front();
            }
        }
        Ok(())
    }

    async fn read_audit(&self, upto: &str, max: usize) -> Result<Vec<String>, StoreError> {
        let last = super::audit_id(upto, super::AUDIT_PER_ENTRY - 1);
        let st = self.lock();
        let mut out: Vec<String> = st
            .audit
            .iter()
            .rev()
            .filter(|(id, _)| *id <= last)
            .take(max)
            .map(|(_, r)| r.clone())
            .collect();
        out.reverse();
        Ok(out)
    }

    async fn trim(&self, before: &str) -> Result<(), StoreError> {
        let mut st = self.lock();
        // Entries at positions below `before` go; `before` itself stays.
        st.mark = st.mark.max(position(before));
        let keep_from = st.mark.saturating_sub(1);
        if keep_from > st.trimmed {
            let drop = (keep_from - st.trimmed).min(st.entries.len());
            st.entries.drain(..drop);
            st.trimmed += drop;
        }
        Ok(())
    }

    async fn directory(&self, proposed: &str) -> Result<String, StoreError> {
        let mut st = self.lock();
        Ok(st
            .directory
            .get_or_insert_with(|| proposed.to_string())
            .clone())
    }
}
