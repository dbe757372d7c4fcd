//! The Redis [`SharedLog`].
//!
//! Every key shares the hash tag `{sb}`, so that they live in one slot: one
//! Redis (with a replica and Sentinel for availability), not a sharded
//! cluster, because the log is one totally ordered stream.
//!
//! Keys: `{sb}:log` (the stream of commands, one field `e` holding the JSON
//! entry), `{sb}:log_trimmed` (the id the log was last trimmed before),
//! `{sb}:snapshot` (a hash: `at`, the last entry the snapshot includes, and
//! `data`, its JSON), `{sb}:snapshotter` (who takes the next snapshot, with a
//! TTL), `{sb}:audit` (the capped audit stream, one field `r` holding a
//! record's JSON), `{sb}:directory` (the directory's TOML), `{sb}:node_seq` (node ids),
//! `{sb}:nodes` (registered node ids) and `{sb}:node:<id>` (heartbeats with a
//! TTL, holding the id the node applied up to).
//!
//! Trimming and storing a snapshot are Lua scripts, so that the comparison
//! with what is stored and the change are one atomic step (they never move
//! back, whichever node runs them).
//!
//! Connections go to the primary wherever it is ([`Primary`]: one address,
//! or found through Sentinel and followed across a failover); the blocking
//! `XREAD` of the tailer runs on its own connection so that it never holds
//! up appends.
//!
//! # Replicas and failover
//! With `min_replicas` above 0 an append is confirmed only once `WAIT` says
//! that many replicas have it; fewer in time is
//! [`StoreError::NotReplicated`] (the primary has the entries, a failover
//! may lose them: the outcome is unknown). A failover can still drop
//! entries nobody was told succeeded, which readers may have applied: so
//! whenever the tailer connects afresh it first checks that the log still
//! holds the entry it read last, and answers [`StoreError::Diverged`] if not
//! (the reader must restore the snapshot, which the new primary has
//! consistent with its log: replication keeps Redis's write order).

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamRangeReply, StreamReadReply};
use tokio::sync::Mutex;

mod events;

use super::redis_config::{RedisConfig, RedisTarget};
use super::redis_primary::Primary;
use super::{LogId, SharedLog, StoreError};
use crate::domain::LogEntry;
use std::sync::Arc;

const LOG: &str = "{sb}:log";
const DIRECTORY: &str = "{sb}:directory";
const NODE_SEQ: &str = "{sb}:node_seq";
const NODES: &str = "{sb}:nodes";
const TRIMMED: &str = "{sb}:log_trimmed";
const SNAPSHOT: &str = "{sb}:snapshot";
const SNAPSHOTTER: &str = "{sb}:snapshotter";
const AUDIT: &str = "{sb}:audit";

/// KEYS: audit stream. ARGV: cap, then id and JSON pairs. `XADD` of an id not
/// above the stream's top fails: that record is there already, skip it.
const AUDIT_SCRIPT: &str = r#"
for i = 2, #ARGV, 2 do
  redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ARGV[i], 'r', ARGV[i + 1])
end
return 1
"#;

/// Lua: compares two stream ids; 1 when a > b.
const ID_GREATER: &str = r#"
local function greater(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am > bm or (am == bm and as > bs)
end
"#;

/// KEYS: log, trimmed mark. ARGV: before. Trims and moves the mark forward
/// only.
const TRIM_SCRIPT: &str = r#"
local cur = redis.call('GET', KEYS[2])
if cur and not greater(ARGV[1], cur) then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
return 1
"#;

/// KEYS: snapshot hash. ARGV: at, data. Stores only a later snapshot.
const SNAPSHOT_SCRIPT: &str = r#"
local cur = redis.call('HGET', KEYS[1], 'at')
if cur and not greater(ARGV[1], cur) then return 0 end
redis.call('HSET', KEYS[1], 'at', ARGV[1], 'data', ARGV[2])
return 1
"#;

fn node_key(node: u32) -> String {
    format!("{{sb}}:node:{node}")
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// A [`SharedLog`] in one Redis.
#[derive(Clone)]
pub struct RedisLog {
    primary: Primary,
    reader: Arc<Mutex<Option<MultiplexedConnection>>>,
    /// Replicas that must have an append before it is confirmed.
    min_replicas: u32,
    /// How long an append waits for them.
    replica_timeout: Duration,
}

impl std::fmt::Debug for RedisLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLog").finish_non_exhaustive()
    }
}

impl RedisLog {
    /// Connects to `url` with no replica wait.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::open(&RedisConfig::new(url)).await
    }

    /// Connects to the primary `config` names (`redis://host:port/db`, or
    /// `redis+sentinel://…` to find it through Sentinel).
    pub async fn open(config: &RedisConfig) -> Result<Self, StoreError> {
        let target =
            RedisTarget::parse(&config.url).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // Fail fast while Redis is away: a write then gets `unavailable` at
        // once instead of hanging; but let `WAIT` take its full time.
        let response_timeout =
            Duration::from_secs(2).max(config.replica_timeout + Duration::from_secs(1));
        let primary = Primary::new(&target, response_timeout)?;
        primary.connection().await?;
        Ok(RedisLog {
            primary,
            reader: Arc::new(Mutex::new(None)),
            min_replicas: config.min_replicas,
            replica_timeout: config.replica_timeout,
        })
    }

    /// Opens the tailer's own connection to the primary, checking that the
    /// log there still holds `after` (see "Replicas and failover").
    async fn open_reader(
        &self,
        after: &str,
        block: Duration,
    ) -> Result<MultiplexedConnection, StoreError> {
        // The blocking XREAD must outlive the client's default response
        // timeout.
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(block + Duration::from_secs(5)))
            .set_connection_timeout(Some(Duration::from_secs(2)));
        let mut conn = self
            .primary
            .client()
            .await?
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(unavailable)?;
        if after == "0-0" {
            return Ok(conn);
        }
        let (held, mark): (StreamRangeReply, Option<String>) = redis::pipe()
            .cmd("XRANGE")
            .arg(LOG)
            .arg(after)
            .arg(after)
            .cmd("GET")
            .arg(TRIMMED)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let trimmed_past = mark.is_some_and(|m| super::log_id_key(after) < super::log_id_key(&m));
        if held.ids.is_empty() && !trimmed_past {
            return Err(StoreError::Diverged(after.to_string()));
        }
        Ok(conn)
    }
}

impl SharedLog for RedisLog {
    async fn append(&self, entries: Vec<LogEntry>) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for e in &entries {
            let json = serde_json::to_string(e).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            pipe.cmd("XADD")
                .arg(LOG)
                .arg("*")
                .arg("e")
                .arg(json)
                .ignore();
        }
        // No connection: nothing was sent, the append certainly failed.
        let mut c = self
            .primary
            .connection()
            .await
            .map_err(|e| StoreError::NotSent(e.to_string()))?;
        pipe.query_async::<()>(&mut c.conn)
            .await
            .map_err(|e| c.failed(e))?;
        if self.min_replicas == 0 {
            return Ok(());
        }
        // On the same connection: WAIT counts the replicas that have every
        // write this connection made, these entries included.
        let got = redis::cmd("WAIT")
            .arg(self.min_replicas)
            .arg(self.replica_timeout.as_millis().max(1) as u64)
            .query_async::<u32>(&mut c.conn)
            .await
            .map_err(|e| c.failed(e))?;
        if got < self.min_replicas {
            return Err(StoreError::NotReplicated {
                wanted: self.min_replicas,
                got,
            });
        }
        Ok(())
    }

    async fn read_after(
        &self,
        after: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<(LogId, LogEntry)>, StoreError> {
        let mut guard = self.reader.lock().await;
        if guard.is_none() {
            let opened = self.open_reader(after, block).await;
            if opened.is_err() {
                self.primary.forget();
            }
            *guard = Some(opened?);
        }
        let conn = guard.as_mut().expect("just set");
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(max);
        if !block.is_zero() {
            cmd.arg("BLOCK").arg(block.as_millis() as u64);
        }
        cmd.arg("STREAMS").arg(LOG).arg(after);
        // The trim mark is read after the XREAD in the same pipeline: a trim
        // that may have removed entries this read skipped is always seen.
        let mut pipe = redis::pipe();
        pipe.add_command(cmd).cmd("GET").arg(TRIMMED);
        let reply: Result<(Option<StreamReadReply>, Option<String>), _> =
            pipe.query_async(conn).await;
        let reply = match reply {
            Ok((reply, mark)) => {
                if let Some(mark) = mark
                    && super::log_id_key(after) < super::log_id_key(&mark)
                {
                    return Err(StoreError::Trimmed(after.to_string()));
                }
                reply
            }
            Err(e) => {
                // Drop the connection; the next call opens a fresh one, and
                // so does the next command.
                *guard = None;
                self.primary.forget();
                return Err(unavailable(e));
            }
        };
        let mut out = Vec::new();
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for id in key.ids {
                let json: String = id.get("e").ok_or_else(|| {
                    StoreError::Corrupt(format!("entry {} has no field e", id.id))
                })?;
                let entry: LogEntry = serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("entry {}: {e}", id.id)))?;
                out.push((id.id, entry));
            }
        }
        Ok(out)
    }

    async fn new_node(&self) -> Result<u32, StoreError> {
        let mut c = self.primary.connection().await?;
        c.conn.incr(NODE_SEQ, 1).await.map_err(|e| c.failed(e))
    }

    async fn beat(&self, node: u32, ttl: Duration, applied: &str) -> Result<(), StoreError> {
        let mut c = self.primary.connection().await?;
        // Registering again on every beat keeps a node that a peer wrongly
        // reaped (a long pause) reapable later.
        redis::pipe()
            .cmd("SET")
            .arg(node_key(node))
            .arg(applied)
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .ignore()
            .cmd("SADD")
            .arg(NODES)
            .arg(node)
            .ignore()
            .query_async::<()>(&mut c.conn)
            .await
            .map_err(|e| c.failed(e))
    }

    async fn dead_nodes(&self, me: u32) -> Result<Vec<u32>, StoreError> {
        let mut c = self.primary.connection().await?;
        let nodes: Vec<u32> = c.conn.smembers(NODES).await.map_err(|e| c.failed(e))?;
        let mut dead = Vec::new();
        for n in nodes.into_iter().filter(|&n| n != me) {
            let alive: bool = c.conn.exists(node_key(n)).await.map_err(|e| c.failed(e))?;
            if !alive {
                // SREM answers 1 to exactly one caller: one node reports it.
                let removed: i64 = c.conn.srem(NODES, n).await.map_err(|e| c.failed(e))?;
                if removed == 1 {
                    dead.push(n);
                }
            }
        }
        Ok(dead)
    }

    async fn min_applied(&self) -> Result<Option<LogId>, StoreError> {
        let mut c = self.primary.connection().await?;
        let nodes: Vec<u32> = c.conn.smembers(NODES).await.map_err(|e| c.failed(e))?;
        if nodes.is_empty() {
            return Ok(None);
        }
        let keys: Vec<String> = nodes.into_iter().map(node_key).collect();
        let applied: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut c.conn)
            .await
            .map_err(|e| c.failed(e))?;
        Ok(applied
            .into_iter()
            .flatten()
            .min_by_key(|id| super::log_id_key(id)))
    }

    async fn put_snapshot(&self, at: &str, data: String) -> Result<(), StoreError> {
        let mut c = self.primary.connection().await?;
        redis::Script::new(&format!("{ID_GREATER}{SNAPSHOT_SCRIPT}"))
            .key(SNAPSHOT)
            .arg(at)
            .arg(data)
            .invoke_async::<i64>(&mut c.conn)
            .await
            .map(|_| ())
            .map_err(|e| c.failed(e))
    }

    async fn snapshot(&self) -> Result<Option<(LogId, String)>, StoreError> {
        let mut c = self.primary.connection().await?;
        let (at, data): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(SNAPSHOT)
            .arg("at")
            .arg("data")
            .query_async(&mut c.conn)
            .await
            .map_err(|e| c.failed(e))?;
        Ok(at.zip(data))
    }

    async fn claim_snapshot(&self, node: u32, every: Duration) -> Result<bool, StoreError> {
        let mut c = self.primary.connection().await?;
        let set: Option<String> = redis::cmd("SET")
            .arg(SNAPSHOTTER)
            .arg(node)
            .arg("NX")
            .arg("PX")
            .arg(every.as_millis().max(1) as u64)
            .query_async(&mut c.conn)
            .await
            .map_err(|e| c.failed(e))?;
        Ok(set.is_some())
    }

    async fn append_audit(
        &self,
        entry: &str,
        records: Vec<String>,
        cap: usize,
    ) -> Result<(), StoreError> {
        let mut c = self.primary.connection().await?;
        let script = redis::Script::new(AUDIT_SCRIPT);
        let mut invocation = script.key(AUDIT);
        invocation.arg(cap);
        for (i, r) in records.into_iter().enumerate() {
            let (ms, seq) = super::audit_id(entry, i as u64);
            invocation.arg(format!("{ms}-{seq}")).arg(r);
        }
        invocation
            .invoke_async::<i64>(&mut c.conn)
            .await
            .map(|_| ())
            .map_err(|e| c.failed(e))
    }

    async fn read_audit(&self, upto: &str, max: usize) -> Result<Vec<String>, StoreError> {
        let mut c = self.primary.connection().await?;
        let (ms, seq) = super::audit_id(upto, super::AUDIT_PER_ENTRY - 1);
        let reply: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(AUDIT)
            .arg(format!("{ms}-{seq}"))
            .arg("-")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut c.conn)
            .await
            .map_err(|e| c.failed(e))?;
        let mut out = Vec::with_capacity(reply.ids.len());
        for id in reply.ids.into_iter().rev() {
            let r: String = id.get("r").ok_or_else(|| {
                StoreError::Corrupt(format!("audit record {} has no field r", id.id))
            })?;
            out.push(r);
        }
        Ok(out)
    }

    async fn trim(&self, before: &str) -> Result<(), StoreError> {
        let mut c = self.primary.connection().await?;
        redis::Script::new(&format!("{ID_GREATER}{TRIM_SCRIPT}"))
            .key(LOG)
            .key(TRIMMED)
            .arg(before)
            .invoke_async::<i64>(&mut c.conn)
            .await
            .map(|_| ())
            .map_err(|e| c.failed(e))
    }

    async fn directory(&self, proposed: &str) -> Result<String, StoreError> {
        let mut c = self.primary.connection().await?;
        let _: bool = c
            .conn
            .set_nx(DIRECTORY, proposed)
            .await
            .map_err(|e| c.failed(e))?;
        c.conn.get(DIRECTORY).await.map_err(|e| c.failed(e))
    }
}

/// Login tokens shared by every node (cluster mode), so that any node
/// accepts a token another issued and a logout anywhere revokes it
/// everywhere. Stored as `{sb}:token:<sha256 of the token>` → agent id, with
/// the token's sliding lifetime as the key's TTL: Redis never holds a usable
/// token.
///
/// Each agent's digests are also in the set `{sb}:agent_tokens:<agent id>`,
/// so that disabling an agent revokes all of its tokens at once. The set
/// lives at least as long as its longest-lived token (every put and every
/// sliding use extends it), and a put drops the digests of tokens that
/// expired meanwhile, so it stays as small as the agent's live logins. The
/// scripts touch token keys they compute from the set: fine on the one
/// Redis (every key shares the `{sb}` slot), not on a sharded cluster.
#[derive(Clone)]
pub struct RedisTokens {
    primary: Primary,
}

impl std::fmt::Debug for RedisTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTokens").finish_non_exhaustive()
    }
}

fn token_key(digest: &str) -> String {
    format!("{{sb}}:token:{digest}")
}

fn agent_tokens_key(agent: &str) -> String {
    format!("{{sb}}:agent_tokens:{agent}")
}

/// KEYS: the token, the agent's set. ARGV: agent id, digest, ttl (ms).
const PUT_TOKEN: &str = r"
for _, d in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', '{sb}:token:' .. d) == 0 then redis.call('SREM', KEYS[2], d) end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[2])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return 1
";

/// KEYS: the token. ARGV: ttl (ms). The agent, its lifetime slid (and its
/// set's), or nil.
const TAKE_TOKEN: &str = r"
local agent = redis.call('GET', KEYS[1])
if not agent then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
local set = '{sb}:agent_tokens:' .. agent
if redis.call('PTTL', set) < tonumber(ARGV[1]) then redis.call('PEXPIRE', set, ARGV[1]) end
return agent
";

/// KEYS: the agent's set. Deletes every token in it, then the set.
const REMOVE_AGENT_TOKENS: &str = r"
for _, d in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  redis.call('DEL', '{sb}:token:' .. d)
end
redis.call('DEL', KEYS[1])
return 1
";

impl RedisTokens {
    /// Shares the log's connection.
    pub fn new(log: &RedisLog) -> Self {
        RedisTokens {
            primary: log.primary.clone(),
        }
    }

    /// Stores a token's digest for `ttl`, in its agent's set too.
    pub async fn put(&self, digest: &str, agent: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut c = self.primary.connection().await?;
        redis::Script::new(PUT_TOKEN)
            .key(token_key(digest))
            .key(agent_tokens_key(agent))
            .arg(agent)
            .arg(digest)
            .arg(ttl.as_millis() as u64)
            .invoke_async::<()>(&mut c.conn)
            .await
            .map_err(|e| c.failed(e))
    }

    /// The agent of a token's digest, sliding its lifetime.
    pub async fn take(&self, digest: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        let mut c = self.primary.connection().await?;
        redis::Script::new(TAKE_TOKEN)
            .key(token_key(digest))
            .arg(ttl.as_millis() as u64)
            .invoke_async::<Option<String>>(&mut c.conn)
            .await
            .map_err(|e| c.failed(e))
    }

    /// Forgets every token of an agent (the agent was disabled).
    pub async fn remove_agent(&self, agent: &str) -> Result<(), StoreError> {
        let mut c = self.primary.connection().await?;
        redis::Script::new(REMOVE_AGENT_TOKENS)
            .key(agent_tokens_key(agent))
            .invoke_async::<()>(&mut c.conn)
            .await
            .map_err(|e| c.failed(e))
    }

    /// Forgets a token.
    pub async fn remove(&self, digest: &str) -> Result<(), StoreError> {
        let mut c = self.primary.connection().await?;
        c.conn
            .del::<_, ()>(token_key(digest))
            .await
            .map_err(|e| c.failed(e))
    }
}
