//! The in-process [`SharedLog`]: for tests and for running several engines in
//! one process. Not durable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::{LogId, SharedLog, StoreError};
use crate::engine::LogEntry;

#[derive(Debug, Default)]
struct State {
    entries: Vec<LogEntry>,
    next_node: u32,
    beats: HashMap<u32, Instant>,
    directory: Option<String>,
}

/// An in-memory log shared by clones. Ids are `"<n>-0"`, n counting from 1.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog {
    state: Arc<Mutex<State>>,
    appended: Arc<Notify>,
}

fn position(id: &str) -> usize {
    id.split('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl SharedLog for MemoryLog {
    async fn append(&self, entries: Vec<LogEntry>) -> Result<(), StoreError> {
        self.state.lock().expect("log lock").entries.extend(entries);
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
                let st = self.state.lock().expect("log lock");
                if st.entries.len() > from {
                    return Ok(st.entries[from..]
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
        let mut st = self.state.lock().expect("log lock");
        st.next_node += 1;
        Ok(st.next_node)
    }

    async fn beat(&self, node: u32, ttl: Duration) -> Result<(), StoreError> {
        self.state
            .lock()
            .expect("log lock")
            .beats
            .insert(node, Instant::now() + ttl);
        Ok(())
    }

    async fn dead_nodes(&self, me: u32) -> Result<Vec<u32>, StoreError> {
        let mut st = self.state.lock().expect("log lock");
        let now = Instant::now();
        let dead: Vec<u32> = st
            .beats
            .iter()
            .filter(|&(&n, &until)| n != me && until <= now)
            .map(|(&n, _)| n)
            .collect();
        for n in &dead {
            st.beats.remove(n);
        }
        Ok(dead)
    }

    async fn directory(&self, proposed: &str) -> Result<String, StoreError> {
        let mut st = self.state.lock().expect("log lock");
        Ok(st
            .directory
            .get_or_insert_with(|| proposed.to_string())
            .clone())
    }
}
