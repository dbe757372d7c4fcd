//! The Redis [`EventJournal`].
//!
//! Keys: `{sb}:events` (a stream, one field `e` holding an event's JSON,
//! under the event's id), `{sb}:events_floor` (the largest id the cap
//! dropped), `{sb}:event_cursors` (a hash: delivery position by key),
//! `{sb}:lease:<name>` (the holder's node, with a TTL) and
//! `{sb}:dead:<integration>` (a hash: `<id> <url>` → the dead letter).
//! Appending, capping, moving a cursor and taking a lease are Lua scripts,
//! so that every node may run them at once.

use std::time::Duration;

use super::{ID_GREATER, RedisLog};
use crate::store::StoreError;
use crate::store::events::{DeadLetter, EventId, EventJournal, EventRead, event_id};

const EVENTS: &str = "{sb}:events";
const FLOOR: &str = "{sb}:events_floor";
const CURSORS: &str = "{sb}:event_cursors";

fn dead_key(integration: &str) -> String {
    format!("{{sb}}:dead:{integration}")
}

/// KEYS: events stream, floor. ARGV: cap, then id and JSON pairs. An id not
/// above the stream's top fails `XADD`: it is there already (or was
/// dropped), skip it. Past a tenth over the cap, trims exactly to it and
/// records the last id dropped as the floor.
const APPEND_SCRIPT: &str = r#"
local cap = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  redis.pcall('XADD', KEYS[1], ARGV[i], 'e', ARGV[i + 1])
end
local len = redis.call('XLEN', KEYS[1])
if len > cap + math.floor(cap / 10) then
  local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', len - cap)
  redis.call('SET', KEYS[2], old[#old][1])
  redis.call('XTRIM', KEYS[1], 'MAXLEN', cap)
end
return 1
"#;

/// KEYS: cursors hash. ARGV: key, id. Moves forward only.
const CURSOR_SCRIPT: &str = r#"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and not greater(ARGV[2], cur) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"#;

/// KEYS: lease. ARGV: node, ttl ms. Takes a free lease, renews one's own.
const LEASE_SCRIPT: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#;

/// KEYS: dead hash. ARGV: field, record, cap.
const DEAD_SCRIPT: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0
   and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"#;

impl EventJournal for RedisLog {
    fn any(&self) -> crate::store::any_journal::AnyJournal {
        crate::store::any_journal::AnyJournal::Redis(self.clone())
    }

    async fn append_events(
        &self,
        entries: Vec<(String, Vec<String>)>,
        cap: usize,
    ) -> Result<(), StoreError> {
        if entries.iter().all(|(_, events)| events.is_empty()) {
            return Ok(());
        }
        let mut c = self.primary.connection().await?;
        let script = redis::Script::new(APPEND_SCRIPT);
        let mut invocation = script.key(EVENTS);
        invocation.key(FLOOR).arg(cap.max(1));
        for (entry, events) in entries {
            for (i, e) in events.into_iter().enumerate() {
                invocation
                    .arg(event_id(&entry, i as u64).to_string())
                    .arg(e);
            }
        }
        invocation
            .invoke_async::<i64>(&mut c.conn)
            .await
            .map(|_| ())
            .map_err(|e| c.failed(e))
    }

    async fn read_events(&self, after: EventId, max: usize) -> Result<EventRead, StoreError> {
        let mut c = self.primary.connection().await?;
        let (floor, reply): (Option<String>, redis::streams::StreamRangeReply) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(FLOOR)
            .cmd("XRANGE")
            .arg(EVENTS)
            .arg(format!("({after}"))
            .arg("+")
            .arg("COUNT")
            .arg(max.max(1))
            .query_async(&mut c.conn)
            .await
            .map_err(|e| c.failed(e))?;
        let mut events = Vec::with_capacity(reply.ids.len());
        for id in reply.ids {
            let parsed = EventId::parse(&id.id)
                .ok_or_else(|| StoreError::Corrupt(format!("event id {}", id.id)))?;
            let e: String = id
                .get("e")
                .ok_or_else(|| StoreError::Corrupt(format!("event {} has no field e", id.id)))?;
            events.push((parsed, e));
        }
        Ok(EventRead {
            floor: floor
                .as_deref()
                .and_then(EventId::parse)
                .unwrap_or_default(),
            events,
        })
    }

    async fn claim_lease(&self, name: &str, node: u32, ttl: Duration) -> Result<bool, StoreError> {
        let mut c = self.primary.connection().await?;
        let got: i64 = redis::Script::new(LEASE_SCRIPT)
            .key(format!("{{sb}}:lease:{name}"))
            .arg(node)
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(&mut c.conn)
            .await
            .map_err(|e| c.failed(e))?;
        Ok(got == 1)
    }

    async fn cursor(&self, key: &str) -> Result<Option<EventId>, StoreError> {
        let mut c = self.primary.connection().await?;
        let v: Option<String> = redis::cmd("HGET")
            .arg(CURSORS)
            .arg(key)
            .query_async(&mut c.conn)
            .await
            .map_err(|e| c.failed(e))?;
        Ok(v.as_deref().and_then(EventId::parse))
    }

    async fn set_cursor(&self, key: &str, at: EventId) -> Result<(), StoreError> {
        let mut c = self.primary.connection().await?;
        redis::Script::new(&format!("{ID_GREATER}{CURSOR_SCRIPT}"))
            .key(CURSORS)
            .arg(key)
            .arg(at.to_string())
            .invoke_async::<i64>(&mut c.conn)
            .await
            .map(|_| ())
            .map_err(|e| c.failed(e))
    }

    async fn add_dead(
        &self,
        integration: &str,
        letter: DeadLetter,
        cap: usize,
    ) -> Result<bool, StoreError> {
        let mut c = self.primary.connection().await?;
        let got: i64 = redis::Script::new(DEAD_SCRIPT)
            .key(dead_key(integration))
            .arg(format!("{} {}", letter.id, letter.url))
            .arg(letter.record)
            .arg(cap)
            .invoke_async(&mut c.conn)
            .await
            .map_err(|e| c.failed(e))?;
        Ok(got == 1)
    }

    async fn dead_letters(
        &self,
        integration: &str,
        max: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let mut c = self.primary.connection().await?;
        let all: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(dead_key(integration))
            .query_async(&mut c.conn)
            .await
            .map_err(|e| c.failed(e))?;
        let mut letters: Vec<DeadLetter> = all
            .into_iter()
            .filter_map(|(field, record)| {
                let (id, url) = field.split_once(' ')?;
                Some(DeadLetter {
                    id: EventId::parse(id)?,
                    url: url.to_string(),
                    record,
                })
            })
            .collect();
        letters.sort_by(|a, b| (a.id, &a.url).cmp(&(b.id, &b.url)));
        letters.truncate(max);
        Ok(letters)
    }

    async fn remove_dead(
        &self,
        integration: &str,
        keys: Vec<(String, EventId)>,
    ) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut c = self.primary.connection().await?;
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(dead_key(integration));
        for (url, id) in keys {
            cmd.arg(format!("{id} {url}"));
        }
        cmd.query_async::<i64>(&mut c.conn)
            .await
            .map(|_| ())
            .map_err(|e| c.failed(e))
    }
}
