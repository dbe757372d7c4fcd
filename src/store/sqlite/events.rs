//! The embedded [`EventJournal`]: tables in the node's database.
//!
//! Events are written relaxed (not fsynced on their own, like the audit):
//! they survive a `kill -9`, and after a power loss they are derived again
//! from the log, which is fsynced, because a snapshot (fsynced, after them)
//! never passes an entry whose events were not written
//! (`engine::replication`). Cursors and dead letters are fsynced: they are
//! not derived from anything.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::{OptionalExtension, params};

use super::{SqliteLog, disk};
use crate::store::StoreError;
use crate::store::events::{DeadLetter, EventId, EventJournal, EventRead, event_id};

/// The tables, created at open.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    ms INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (ms, seq)
);
CREATE TABLE IF NOT EXISTS event_cursors (
    key TEXT PRIMARY KEY,
    ms INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    integration TEXT NOT NULL,
    ms INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    url TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (integration, ms, seq, url)
);
";

fn floor(conn: &rusqlite::Connection) -> Result<EventId, StoreError> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'events_floor'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(disk)?;
    Ok(v.as_deref().and_then(EventId::parse).unwrap_or_default())
}

impl EventJournal for SqliteLog {
    fn any(&self) -> crate::store::any_journal::AnyJournal {
        crate::store::any_journal::AnyJournal::Sqlite(self.clone())
    }

    async fn append_events(
        &self,
        entries: Vec<(String, Vec<String>)>,
        cap: usize,
    ) -> Result<(), StoreError> {
        let inner = self.inner.clone();
        self.write_relaxed(move |conn| {
            let tx = conn.transaction().map_err(disk)?;
            let below = floor(&tx)?;
            let mut added = 0;
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO events (ms, seq, event) VALUES (?1, ?2, ?3)",
                    )
                    .map_err(disk)?;
                for (entry, events) in &entries {
                    for (i, e) in events.iter().enumerate() {
                        let id = event_id(entry, i as u64);
                        if id > below {
                            added += insert
                                .execute(params![id.0 as i64, id.1 as i64, e])
                                .map_err(disk)?;
                        }
                    }
                }
            }
            let rows = inner.event_rows.fetch_add(added, Ordering::Relaxed) + added;
            let cap = cap.max(1);
            // Trim in steps of a tenth of the cap, not on every append.
            if rows > cap + cap / 10 {
                let excess = rows - cap;
                let last: Option<(i64, i64)> = tx
                    .query_row(
                        "SELECT ms, seq FROM events ORDER BY ms, seq LIMIT 1 OFFSET ?1",
                        [excess as i64 - 1],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(disk)?;
                if let Some((ms, seq)) = last {
                    tx.execute(
                        "DELETE FROM events WHERE (ms, seq) <= (?1, ?2)",
                        params![ms, seq],
                    )
                    .map_err(disk)?;
                    tx.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES ('events_floor', ?1)",
                        [EventId(ms as u64, seq as u64).to_string()],
                    )
                    .map_err(disk)?;
                    inner.event_rows.fetch_sub(excess, Ordering::Relaxed);
                }
            }
            tx.commit().map_err(disk)
        })
        .await
    }

    async fn read_events(&self, after: EventId, max: usize) -> Result<EventRead, StoreError> {
        self.read(move |conn| {
            let tx = conn.unchecked_transaction().map_err(disk)?;
            let floor = floor(&tx)?;
            let mut select = tx
                .prepare_cached(
                    "SELECT ms, seq, event FROM events WHERE (ms, seq) > (?1, ?2)
                     ORDER BY ms, seq LIMIT ?3",
                )
                .map_err(disk)?;
            let events = select
                .query_map(params![after.0 as i64, after.1 as i64, max as i64], |r| {
                    Ok((
                        EventId(r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64),
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(disk)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(disk)?;
            Ok(EventRead { floor, events })
        })
        .await
    }

    /// One process holds a data directory (its lock file): the lease is
    /// always its own.
    async fn claim_lease(
        &self,
        _name: &str,
        _node: u32,
        _ttl: Duration,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn cursor(&self, key: &str) -> Result<Option<EventId>, StoreError> {
        let key = key.to_string();
        self.read(move |conn| {
            conn.query_row(
                "SELECT ms, seq FROM event_cursors WHERE key = ?1",
                [key],
                |r| {
                    Ok(EventId(
                        r.get::<_, i64>(0)? as u64,
                        r.get::<_, i64>(1)? as u64,
                    ))
                },
            )
            .optional()
            .map_err(disk)
        })
        .await
    }

    async fn set_cursor(&self, key: &str, at: EventId) -> Result<(), StoreError> {
        let key = key.to_string();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO event_cursors (key, ms, seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET ms = ?2, seq = ?3
                 WHERE (ms, seq) < (?2, ?3)",
                params![key, at.0 as i64, at.1 as i64],
            )
            .map_err(disk)?;
            Ok(())
        })
        .await
    }

    async fn add_dead(
        &self,
        integration: &str,
        letter: DeadLetter,
        cap: usize,
    ) -> Result<bool, StoreError> {
        let integration = integration.to_string();
        self.write(move |conn| {
            let tx = conn.transaction().map_err(disk)?;
            let held: i64 = tx
                .query_row(
                    "SELECT count(*) FROM dead_letters WHERE integration = ?1",
                    [&integration],
                    |r| r.get(0),
                )
                .map_err(disk)?;
            if held as usize >= cap {
                return Ok(false);
            }
            tx.execute(
                "INSERT OR REPLACE INTO dead_letters (integration, ms, seq, url, record)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    integration,
                    letter.id.0 as i64,
                    letter.id.1 as i64,
                    letter.url,
                    letter.record
                ],
            )
            .map_err(disk)?;
            tx.commit().map_err(disk)?;
            Ok(true)
        })
        .await
    }

    async fn dead_letters(
        &self,
        integration: &str,
        max: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let integration = integration.to_string();
        self.read(move |conn| {
            let mut select = conn
                .prepare_cached(
                    "SELECT ms, seq, url, record FROM dead_letters WHERE integration = ?1
                     ORDER BY ms, seq, url LIMIT ?2",
                )
                .map_err(disk)?;
            select
                .query_map(params![integration, max as i64], |r| {
                    Ok(DeadLetter {
                        id: EventId(r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64),
                        url: r.get(2)?,
                        record: r.get(3)?,
                    })
                })
                .map_err(disk)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(disk)
        })
        .await
    }

    async fn remove_dead(
        &self,
        integration: &str,
        keys: Vec<(String, EventId)>,
    ) -> Result<(), StoreError> {
        let integration = integration.to_string();
        self.write(move |conn| {
            let tx = conn.transaction().map_err(disk)?;
            for (url, id) in keys {
                tx.execute(
                    "DELETE FROM dead_letters WHERE integration = ?1 AND ms = ?2 AND seq = ?3
                     AND url = ?4",
                    params![integration, id.0 as i64, id.1 as i64, url],
                )
                .map_err(disk)?;
            }
            tx.commit().map_err(disk)
        })
        .await
    }
}
