//! Writing integration events to the journal, before the node says it
//! applied their entries.
//!
//! # Why no event is lost, even across `kill -9`
//! The log is the durable record; an entry's events are derived from it
//! again by whoever applies it ([`super::integration_events`]). So an event
//! can only be lost if every node stops deriving it: if the log loses its
//! entry, which happens only when a snapshot is taken past it and the log
//! trimmed. This writer is what stops that:
//! - every node writes the events of every entry it applies (idempotent by
//!   id, so several nodes writing the same ones add nothing), in log order;
//! - what a node reports as applied (its heartbeat's position, the least of
//!   which bounds the trim) is the last entry whose events it *wrote*
//!   ([`Written`]), not the last it applied;
//! - the snapshotter stores a snapshot only once the events up to its
//!   position are written (it waits on [`Written`]), and trims no further
//!   than that snapshot.
//!
//! A node that dies between applying an entry and writing its events has
//! not reported it, so the entry stays in the log: the node replays it on
//! restart (embedded mode), or the other nodes, which apply every entry,
//! write them (cluster). A writer that cannot reach the store retries the
//! same batch for as long as it takes; meanwhile it holds back the trim.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::integration_events::EventBatch;
use crate::store::LogId;
use crate::store::any_journal::EventFeed;
use crate::store::events::{EVENTS_WRITTEN, EventId, EventJournal, event_id};

/// The last log entry whose events this node wrote (`"0-0"` at start).
pub type Written = watch::Receiver<LogId>;

/// Writes each batch's events in one call to the store (retrying until it
/// takes them), then publishes them live and moves [`Written`] to the
/// batch's last entry.
pub(super) async fn write_events(
    feed: EventFeed,
    mut batches: mpsc::UnboundedReceiver<EventBatch>,
    cap: usize,
    written: watch::Sender<LogId>,
) {
    while let Some(batch) = batches.recv().await {
        if !batch.entries.is_empty() {
            let mut delay = Duration::from_millis(50);
            while let Err(e) = feed.journal.append_events(batch.entries.clone(), cap).await {
                tracing::warn!(error = %e, upto = %batch.upto, "cannot write events; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            let live: Vec<(EventId, String)> = batch
                .entries
                .into_iter()
                .flat_map(|(entry, events)| {
                    events
                        .into_iter()
                        .enumerate()
                        .map(move |(i, e)| (event_id(&entry, i as u64), e))
                })
                .collect();
            metrics::counter!(EVENTS_WRITTEN).increment(live.len() as u64);
            let _ = feed.live.send(Arc::new(live));
        }
        written.send_replace(batch.upto);
    }
}

/// Waits (up to `bound`) until the events up to entry `at` are written.
pub(super) async fn wait_written(written: &mut Written, at: &str, bound: Duration) -> bool {
    let want = EventId::end_of_entry(at);
    let reached = written.wait_for(|w| EventId::end_of_entry(w) >= want);
    matches!(tokio::time::timeout(bound, reached).await, Ok(Ok(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::any_journal::AnyJournal;
    use crate::store::memory::MemoryLog;

    /// The position a node reports moves only once the batch's events are
    /// in the journal, and a snapshot waiting for a later position gives up
    /// at its bound (paused time: no real waiting).
    #[tokio::test(start_paused = true)]
    async fn written_follows_the_journal_and_bounds_snapshots() {
        let feed = EventFeed::new(AnyJournal::Memory(MemoryLog::default()));
        let mut live = feed.live.subscribe();
        let (tx, rx) = mpsc::unbounded_channel();
        let (written_tx, mut written) = watch::channel::<LogId>("0-0".into());
        tokio::spawn(write_events(feed.clone(), rx, 100, written_tx));
        assert!(!wait_written(&mut written, "2-0", Duration::from_secs(5)).await);
        tx.send(EventBatch {
            upto: "2-0".into(),
            entries: vec![("1-0".into(), vec!["a".into(), "b".into()])],
        })
        .unwrap();
        assert!(wait_written(&mut written, "2-0", Duration::from_secs(5)).await);
        assert!(wait_written(&mut written, "1-0", Duration::ZERO).await);
        let read = feed.journal.read_events(EventId::ZERO, 10).await.unwrap();
        assert_eq!(read.events.len(), 2);
        let published = live.recv().await.unwrap();
        assert_eq!(*published, read.events);
        assert!(!wait_written(&mut written, "3-0", Duration::from_secs(5)).await);
    }
}
