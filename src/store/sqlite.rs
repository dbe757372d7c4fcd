//! The embedded [`SharedLog`]: a single node's durable state in one SQLite
//! database in its data directory.
//!
//! # Why SQLite
//! It is the most trusted embedded store, needs nothing installed (the
//! library is bundled), survives `kill -9` and power loss in WAL mode with
//! `synchronous=FULL`, and its file can be read with any SQLite tool for
//! reports. The log is append-mostly with one writer, which is exactly the
//! load a WAL journal is good at.
//!
//! # Durability and group commit
//! [`append`](SharedLog::append) writes a whole batch of entries in one
//! transaction, so one fsync covers every proposal that arrived while the
//! previous batch was being written: under load the batches grow and the
//! fsyncs per entry fall. An `append` returns only after its commit, so an
//! entry is on disk before its command is applied and before any client is
//! answered.
//!
//! # Connections and checkpoints
//! One connection writes, another reads (WAL lets a reader see every
//! committed transaction while the writer writes). Both are used from
//! blocking threads (`spawn_blocking`), never from the async workers.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold, copying the whole WAL into the database and fsyncing it while
//! every proposal behind that commit waits: measured at 500 chats/s, that
//! made a tail of hundreds of milliseconds. So the writer never checkpoints;
//! a third connection on its own thread runs a `PASSIVE` checkpoint every
//! [`CHECKPOINT_EVERY`], which copies what it can without blocking the writer
//! (a commit still only appends to the WAL and fsyncs it).
//!
//! # Reading what was just appended
//! One process writes the database, so the entries it appended are also
//! kept in memory, in order, for a while ([`RECENT_ENTRIES`]): the tailer
//! reads them from there, without a blocking thread, a query and a JSON
//! decode per entry on the path of every write. Older positions (a start,
//! a replay) are read from the database.
//!
//! # One process per data directory
//! A `LOCK` file in the data directory is held (an OS file lock) for as
//! long as the store is open: a second server started on the same directory
//! is refused at once instead of corrupting the log by interleaving with the
//! first.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::Notify;

mod events;

use super::{AUDIT_PER_ENTRY, LogId, SharedLog, StoreError, audit_id, log_id_key};
use crate::domain::LogEntry;

/// The schema this build writes; an older database is upgraded, a newer one
/// refused.
const SCHEMA_VERSION: i64 = 1;

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "switchboard.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS beats (
    node INTEGER PRIMARY KEY,
    until_ms INTEGER NOT NULL,
    applied TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    ms INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (ms, seq)
);
CREATE TABLE IF NOT EXISTS tokens (
    digest TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_by_agent ON tokens (agent);
";

/// How often the checkpointer copies the WAL into the database. Measured at
/// 500 chats/s: every second, its fsyncs of the database file made stalls of
/// 100-200 ms in the appends' fsyncs (p99 43 ms); every 10 s, p99 2.4-2.9 ms.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);

/// Appended entries kept in memory for the tailer (about a minute and a
/// half at 500 chats/s).
pub const RECENT_ENTRIES: usize = 131_072;

/// Log rows deleted per transaction when trimming.
const TRIM_SLICE: i64 = 2_000;

/// The WAL file is cut back to this size after a checkpoint let it restart.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

struct Inner {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    checkpointer: Mutex<Connection>,
    appended: Notify,
    /// The newest appended entries with their positions, in order.
    recent: Mutex<std::collections::VecDeque<(u64, LogEntry)>>,
    /// Reading after a position below this is `Trimmed` (as the other
    /// stores answer), persisted in `meta`.
    trim_mark: AtomicU64,
    /// Audit rows, about: the oldest are deleted once this passes the cap.
    audit_rows: AtomicUsize,
    /// Event journal rows, about (see [`events`]).
    event_rows: AtomicUsize,
    snapshot_claimed_until: Mutex<Option<tokio::time::Instant>>,
    path: PathBuf,
    /// Held open for its lock; released when the store is dropped.
    _lock: File,
}

/// The embedded log, shared by clones.
#[derive(Clone)]
pub struct SqliteLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLog")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

fn disk(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("embedded store: {e}"))
}

fn position(id: &str) -> u64 {
    log_id_key(id).0
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(disk)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(disk)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(disk)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(disk)?;
    Ok(conn)
}

impl SqliteLog {
    /// Opens (creating if needed) the store in `dir`, taking its lock.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| disk(format!("cannot create {}: {e}", dir.display())))?;
        let lock_path = dir.join("LOCK");
        let lock = File::create(&lock_path)
            .map_err(|e| disk(format!("cannot open {}: {e}", lock_path.display())))?;
        lock.try_lock().map_err(|_| {
            StoreError::Unavailable(format!(
                "another Switchboard server is using the data directory {}",
                dir.display()
            ))
        })?;
        let path = dir.join(DATABASE_FILE);
        let writer = open_connection(&path)?;
        let version: i64 = writer
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(disk)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "{} has schema {version}; this build reads up to {SCHEMA_VERSION}: upgrade Switchboard",
                path.display()
            )));
        }
        writer.execute_batch(SCHEMA).map_err(disk)?;
        writer.execute_batch(events::SCHEMA).map_err(disk)?;
        writer
            .pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(disk)?;
        let trim_mark = get_meta_u64(&writer, "trim_mark")?;
        let audit_rows: i64 = writer
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
            .map_err(disk)?;
        let event_rows: i64 = writer
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .map_err(disk)?;
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(disk)?;
        writer
            .pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
            .map_err(disk)?;
        let reader = open_connection(&path)?;
        let checkpointer = open_connection(&path)?;
        let log = SqliteLog {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                reader: Mutex::new(reader),
                checkpointer: Mutex::new(checkpointer),
                appended: Notify::new(),
                recent: Mutex::new(std::collections::VecDeque::new()),
                trim_mark: AtomicU64::new(trim_mark),
                audit_rows: AtomicUsize::new(audit_rows as usize),
                event_rows: AtomicUsize::new(event_rows as usize),
                snapshot_claimed_until: Mutex::new(None),
                path,
                _lock: lock,
            }),
        };
        spawn_checkpointer(Arc::downgrade(&log.inner));
        Ok(log)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` with the writing connection on a blocking thread.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().expect("writer lock");
            f(&mut conn)
        })
        .await
        .map_err(disk)?
    }

    /// Runs `f` with the writing connection with `synchronous=NORMAL`: its
    /// commit is written to the WAL but not fsynced on its own (the next
    /// log append's fsync covers it). Such a write survives a crash of the
    /// process (`kill -9`), as the WAL is in the OS's cache, but not a power
    /// loss before the next fsync. Used for what may be lost then without
    /// harm: heartbeats, audit lines (they are also derived again from the
    /// log), new login tokens (a console would log in again), a token's
    /// sliding expiry. Measured at 500 logins/s, an fsync for each of these
    /// starved the log's appends.
    async fn write_relaxed<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.write(move |conn| {
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(disk)?;
            let result = f(conn);
            conn.pragma_update(None, "synchronous", "FULL")
                .map_err(disk)?;
            result
        })
        .await
    }

    /// Runs `f` with the reading connection on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.reader.lock().expect("reader lock");
            f(&conn)
        })
        .await
        .map_err(disk)?
    }

    /// Up to `max` entries after position `from` from the recent ones in
    /// memory; `None` when they do not reach back that far (read the
    /// database then).
    fn recent_after(&self, from: u64, max: usize) -> Option<Vec<(LogId, LogEntry)>> {
        let recent = self.inner.recent.lock().expect("recent lock");
        let first = recent.front().map(|(id, _)| *id)?;
        if first > from + 1 {
            return None;
        }
        let skip = recent.partition_point(|(id, _)| *id <= from);
        Some(
            recent
                .iter()
                .skip(skip)
                .take(max)
                .map(|(id, e)| (format!("{id}-0"), e.clone()))
                .collect(),
        )
    }

    /// The login tokens kept in the same database.
    pub fn tokens(&self) -> SqliteTokens {
        SqliteTokens { log: self.clone() }
    }
}

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] on a thread of its own,
/// until the store is dropped.
fn spawn_checkpointer(inner: std::sync::Weak<Inner>) {
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            loop {
                std::thread::sleep(CHECKPOINT_EVERY);
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                let conn = inner.checkpointer.lock().expect("checkpointer lock");
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the WAL checkpointer");
    }
}

fn get_meta_u64(conn: &Connection, key: &str) -> Result<u64, StoreError> {
    let v: Option<i64> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .map_err(disk)?;
    Ok(v.unwrap_or(0) as u64)
}

impl SharedLog for SqliteLog {
    async fn append(&self, entries: Vec<LogEntry>) -> Result<(), StoreError> {
        let encoded = entries
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let ids = self
            .write(move |conn| {
                let tx = conn.transaction().map_err(disk)?;
                let mut ids = Vec::with_capacity(encoded.len());
                {
                    let mut insert = tx
                        .prepare_cached("INSERT INTO log (entry) VALUES (?1)")
                        .map_err(disk)?;
                    for e in &encoded {
                        insert.execute([e]).map_err(disk)?;
                        ids.push(tx.last_insert_rowid() as u64);
                    }
                }
                tx.commit().map_err(disk)?;
                Ok(ids)
            })
            .await?;
        {
            let mut recent = self.inner.recent.lock().expect("recent lock");
            recent.extend(ids.into_iter().zip(entries));
            let excess = recent.len().saturating_sub(RECENT_ENTRIES);
            recent.drain(..excess);
        }
        self.inner.appended.notify_waiters();
        Ok(())
    }

    async fn read_after(
        &self,
        after: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<(LogId, LogEntry)>, StoreError> {
        let from = position(after);
        let deadline = tokio::time::Instant::now() + block;
        loop {
            let notified = self.inner.appended.notified();
            if from < self.inner.trim_mark.load(Ordering::Acquire) {
                return Err(StoreError::Trimmed(after.to_string()));
            }
            if let Some(batch) = self.recent_after(from, max) {
                if !batch.is_empty() {
                    return Ok(batch);
                }
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                    return Ok(Vec::new());
                }
                continue;
            }
            let batch = self
                .read(move |conn| {
                    let mut select = conn
                        .prepare_cached(
                            "SELECT id, entry FROM log WHERE id > ?1 ORDER BY id LIMIT ?2",
                        )
                        .map_err(disk)?;
                    let rows = select
                        .query_map(params![from as i64, max as i64], |r| {
                            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                        })
                        .map_err(disk)?;
                    let mut out = Vec::new();
                    for row in rows {
                        let (id, bytes) = row.map_err(disk)?;
                        let entry: LogEntry = serde_json::from_slice(&bytes)
                            .map_err(|e| StoreError::Corrupt(format!("log entry {id}: {e}")))?;
                        out.push((format!("{id}-0"), entry));
                    }
                    Ok(out)
                })
                .await?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    async fn new_node(&self) -> Result<u32, StoreError> {
        self.write(|conn| {
            let next: i64 = conn
                .query_row(
                    "INSERT INTO meta (key, value) VALUES ('next_node', 1)
                     ON CONFLICT (key) DO UPDATE SET value = value + 1
                     RETURNING value",
                    [],
                    |r| r.get(0),
                )
                .map_err(disk)?;
            Ok(next as u32)
        })
        .await
    }

    async fn beat(&self, node: u32, ttl: Duration, applied: &str) -> Result<(), StoreError> {
        let applied = applied.to_string();
        self.write_relaxed(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO beats (node, until_ms, applied) VALUES (?1, ?2, ?3)",
                params![node, wall_ms() + ttl.as_millis() as i64, applied],
            )
            .map_err(disk)?;
            Ok(())
        })
        .await
    }

    async fn dead_nodes(&self, me: u32) -> Result<Vec<u32>, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction().map_err(disk)?;
            let now = wall_ms();
            let dead = {
                let mut select = tx
                    .prepare("SELECT node FROM beats WHERE node != ?1 AND until_ms <= ?2")
                    .map_err(disk)?;
                select
                    .query_map(params![me, now], |r| r.get::<_, u32>(0))
                    .map_err(disk)?
                    .collect::<Result<Vec<u32>, _>>()
                    .map_err(disk)?
            };
            tx.execute(
                "DELETE FROM beats WHERE node != ?1 AND until_ms <= ?2",
                params![me, now],
            )
            .map_err(disk)?;
            tx.commit().map_err(disk)?;
            Ok(dead)
        })
        .await
    }

    async fn min_applied(&self) -> Result<Option<LogId>, StoreError> {
        self.read(|conn| {
            let mut select = conn
                .prepare("SELECT applied FROM beats WHERE until_ms > ?1")
                .map_err(disk)?;
            let applied = select
                .query_map([wall_ms()], |r| r.get::<_, String>(0))
                .map_err(disk)?
                .collect::<Result<Vec<String>, _>>()
                .map_err(disk)?;
            Ok(applied.into_iter().min_by_key(|id| log_id_key(id)))
        })
        .await
    }

    async fn put_snapshot(&self, at: &str, data: String) -> Result<(), StoreError> {
        let at = at.to_string();
        self.write(move |conn| {
            let tx = conn.transaction().map_err(disk)?;
            let stored: Option<String> = tx
                .query_row(
                    "SELECT value FROM meta WHERE key = 'snapshot_at'",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(disk)?;
            if stored.is_none_or(|s| position(&at) > position(&s)) {
                tx.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('snapshot_at', ?1), ('snapshot', ?2)",
                    params![at, data],
                )
                .map_err(disk)?;
            }
            tx.commit().map_err(disk)
        })
        .await
    }

    async fn snapshot(&self) -> Result<Option<(LogId, String)>, StoreError> {
        self.read(|conn| {
            let at: Option<String> = conn
                .query_row(
                    "SELECT value FROM meta WHERE key = 'snapshot_at'",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(disk)?;
            let Some(at) = at else { return Ok(None) };
            let data: String = conn
                .query_row("SELECT value FROM meta WHERE key = 'snapshot'", [], |r| {
                    r.get(0)
                })
                .map_err(disk)?;
            Ok(Some((at, data)))
        })
        .await
    }

    async fn claim_snapshot(&self, _node: u32, every: Duration) -> Result<bool, StoreError> {
        let mut until = self
            .inner
            .snapshot_claimed_until
            .lock()
            .expect("claim lock");
        let now = tokio::time::Instant::now();
        if until.is_some_and(|u| u > now) {
            return Ok(false);
        }
        *until = Some(now + every);
        Ok(true)
    }

    async fn append_audit(
        &self,
        entry: &str,
        records: Vec<String>,
        cap: usize,
    ) -> Result<(), StoreError> {
        let entry = entry.to_string();
        let inner = self.inner.clone();
        self.write_relaxed(move |conn| {
            let tx = conn.transaction().map_err(disk)?;
            let mut added = 0;
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO audit (ms, seq, record) VALUES (?1, ?2, ?3)",
                    )
                    .map_err(disk)?;
                for (i, r) in records.iter().enumerate() {
                    let (ms, seq) = audit_id(&entry, i as u64);
                    added += insert
                        .execute(params![ms as i64, seq as i64, r])
                        .map_err(disk)?;
                }
            }
            let rows = inner.audit_rows.fetch_add(added, Ordering::Relaxed) + added;
            // Trim in steps of a tenth of the cap, not on every append.
            if rows > cap + cap / 10 {
                let excess = rows - cap;
                tx.execute(
                    "DELETE FROM audit WHERE rowid IN
                     (SELECT rowid FROM audit ORDER BY ms, seq LIMIT ?1)",
                    [excess as i64],
                )
                .map_err(disk)?;
                inner.audit_rows.fetch_sub(excess, Ordering::Relaxed);
            }
            tx.commit().map_err(disk)
        })
        .await
    }

    async fn read_audit(&self, upto: &str, max: usize) -> Result<Vec<String>, StoreError> {
        let (ms, seq) = audit_id(upto, AUDIT_PER_ENTRY - 1);
        self.read(move |conn| {
            let mut select = conn
                .prepare(
                    "SELECT record FROM audit WHERE (ms, seq) <= (?1, ?2)
                     ORDER BY ms DESC, seq DESC LIMIT ?3",
                )
                .map_err(disk)?;
            let mut out = select
                .query_map(params![ms as i64, seq as i64, max as i64], |r| {
                    r.get::<_, String>(0)
                })
                .map_err(disk)?
                .collect::<Result<Vec<String>, _>>()
                .map_err(disk)?;
            out.reverse();
            Ok(out)
        })
        .await
    }

    async fn trim(&self, before: &str) -> Result<(), StoreError> {
        let before = position(before);
        let inner = self.inner.clone();
        // The mark first: from now on reads before it are refused, whatever
        // is still on disk.
        let mark = self
            .write(move |conn| {
                let mark = inner.trim_mark.load(Ordering::Acquire).max(before);
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('trim_mark', ?1)",
                    [mark as i64],
                )
                .map_err(disk)?;
                inner.trim_mark.store(mark, Ordering::Release);
                Ok(mark)
            })
            .await?;
        // Then the rows, a slice per transaction: one delete of a minute of
        // log (some 100,000 rows at 500 chats/s) would hold the writer, and
        // every append behind it, for the whole delete.
        loop {
            let deleted = self
                .write_relaxed(move |conn| {
                    conn.execute(
                        "DELETE FROM log WHERE id IN (SELECT id FROM log WHERE id < ?1 LIMIT ?2)",
                        params![mark as i64, TRIM_SLICE],
                    )
                    .map_err(disk)
                })
                .await?;
            if deleted < TRIM_SLICE as usize {
                return Ok(());
            }
        }
    }

    async fn directory(&self, proposed: &str) -> Result<String, StoreError> {
        let proposed = proposed.to_string();
        self.write(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('directory', ?1)",
                [&proposed],
            )
            .map_err(disk)?;
            conn.query_row("SELECT value FROM meta WHERE key = 'directory'", [], |r| {
                r.get(0)
            })
            .map_err(disk)
        })
        .await
    }
}

/// Login tokens (by SHA-256 digest) in the embedded database, so a console
/// reconnects with its token after a restart.
#[derive(Debug, Clone)]
pub struct SqliteTokens {
    log: SqliteLog,
}

impl SqliteTokens {
    /// Stores a token's digest for `ttl`, dropping expired tokens.
    pub async fn put(&self, digest: &str, agent: &str, ttl: Duration) -> Result<(), StoreError> {
        let (digest, agent) = (digest.to_string(), agent.to_string());
        self.log
            .write_relaxed(move |conn| {
                let now = wall_ms();
                let tx = conn.transaction().map_err(disk)?;
                tx.execute("DELETE FROM tokens WHERE expires_ms <= ?1", [now])
                    .map_err(disk)?;
                tx.execute(
                    "INSERT OR REPLACE INTO tokens (digest, agent, expires_ms) VALUES (?1, ?2, ?3)",
                    params![digest, agent, now + ttl.as_millis() as i64],
                )
                .map_err(disk)?;
                tx.commit().map_err(disk)
            })
            .await
    }

    /// The agent of a token's digest, sliding its lifetime. The new expiry
    /// is written only when it moved by more than a minute, so checking a
    /// token does not cost a disk write each time.
    pub async fn take(&self, digest: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        let ttl = ttl.as_millis() as i64;
        let key = digest.to_string();
        let found: Option<(String, i64)> = self
            .log
            .read(move |conn| {
                conn.query_row(
                    "SELECT agent, expires_ms FROM tokens WHERE digest = ?1",
                    [&key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(disk)
            })
            .await?;
        let Some((agent, expires)) = found else {
            return Ok(None);
        };
        let now = wall_ms();
        let digest = digest.to_string();
        if expires <= now {
            self.log
                .write_relaxed(move |conn| {
                    conn.execute("DELETE FROM tokens WHERE digest = ?1", [digest])
                        .map_err(disk)?;
                    Ok(())
                })
                .await?;
            return Ok(None);
        }
        if now + ttl - expires > 60_000 {
            self.log
                .write_relaxed(move |conn| {
                    conn.execute(
                        "UPDATE tokens SET expires_ms = ?1 WHERE digest = ?2",
                        params![now + ttl, digest],
                    )
                    .map_err(disk)?;
                    Ok(())
                })
                .await?;
        }
        Ok(Some(agent))
    }

    /// Forgets every token of an agent (the agent was disabled).
    pub async fn remove_agent(&self, agent: &str) -> Result<(), StoreError> {
        let agent = agent.to_string();
        self.log
            .write(move |conn| {
                conn.execute("DELETE FROM tokens WHERE agent = ?1", [agent])
                    .map_err(disk)?;
                Ok(())
            })
            .await
    }

    /// Forgets a token.
    pub async fn remove(&self, digest: &str) -> Result<(), StoreError> {
        let digest = digest.to_string();
        self.log
            .write(move |conn| {
                conn.execute("DELETE FROM tokens WHERE digest = ?1", [digest])
                    .map_err(disk)?;
                Ok(())
            })
            .await
    }
}
