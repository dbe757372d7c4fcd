//! Connections to the Redis primary, wherever it is now.
//!
//! With a plain URL the primary is at one address; through Sentinel it is
//! wherever the Sentinels say, and that moves when they fail it over to a
//! replica. Either way a connection that failed once (the primary died, a
//! timeout, or `READONLY`: the old primary came back as a replica) is
//! forgotten, and the next call finds the primary again (asking the
//! Sentinels) and connects afresh. So the proposer, the tailer, the
//! heartbeat and login tokens all follow a failover by themselves, with no
//! retry of a write whose outcome is unknown: that error goes to the caller.
//!
//! # Who owns what
//! [`Primary`] is cloned into every user; the current connection sits in a
//! std `Mutex` (held only to copy or swap it, never across an await), and
//! finding the primary is serialised by a tokio `Mutex` so that a hundred
//! callers after a failover make one lookup, not a hundred.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{AsyncConnectionConfig, Client, RedisConnectionInfo, RedisError};

use super::StoreError;
use super::redis_config::RedisTarget;

/// How long finding and connecting to the primary may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// After a failed lookup, callers within this long get its error at once
/// instead of each trying again (writes then fail fast while the primary is
/// away).
const RETRY_AFTER: Duration = Duration::from_millis(200);

/// Connections to the current primary, shared by a node's store users.
#[derive(Clone)]
pub struct Primary {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Primary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Primary").finish_non_exhaustive()
    }
}

struct Inner {
    locator: Locator,
    /// Response timeout of the shared command connection.
    response_timeout: Duration,
    /// The shared connection and its number, or the last failure to get one.
    current: Mutex<Current>,
    /// Held while finding the primary and connecting.
    connecting: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Current {
    connection: Option<(u64, MultiplexedConnection)>,
    next: u64,
    failed: Option<(Instant, String)>,
}

enum Locator {
    Direct(Client),
    Sentinel {
        sentinel: tokio::sync::Mutex<Sentinel>,
        primary: String,
        node: SentinelNodeConnectionInfo,
    },
}

/// A connection handed out by [`Primary::connection`], with the number that
/// lets a failure forget exactly it.
pub struct Connection {
    /// The connection (cheap to clone; shared by every caller).
    pub conn: MultiplexedConnection,
    number: u64,
    primary: Arc<Inner>,
}

impl Connection {
    /// A call on this connection failed: forget the connection (so the next
    /// call finds the primary again) and say the store is unavailable.
    pub fn failed(&self, e: RedisError) -> StoreError {
        let mut current = self.primary.current.lock().expect("primary lock");
        if matches!(&current.connection, Some((n, _)) if *n == self.number) {
            current.connection = None;
        }
        unavailable(e)
    }
}

impl Primary {
    /// Where `target` says the primary is; nothing is connected yet.
    /// Commands on the shared connection wait at most `response_timeout`.
    pub fn new(target: &RedisTarget, response_timeout: Duration) -> Result<Self, StoreError> {
        let locator = match target {
            RedisTarget::Direct(url) => {
                Locator::Direct(Client::open(url.as_str()).map_err(unavailable)?)
            }
            RedisTarget::Sentinel {
                sentinels,
                primary,
                db,
                username,
                password,
            } => {
                let mut info = RedisConnectionInfo::default().set_db(*db);
                if let Some(u) = username {
                    info = info.set_username(u);
                }
                if let Some(p) = password {
                    info = info.set_password(p);
                }
                let sentinel = Sentinel::build(sentinels.clone()).map_err(unavailable)?;
                Locator::Sentinel {
                    sentinel: tokio::sync::Mutex::new(sentinel),
                    primary: primary.clone(),
                    node: SentinelNodeConnectionInfo::default().set_redis_connection_info(info),
                }
            }
        };
        Ok(Primary {
            inner: Arc::new(Inner {
                locator,
                response_timeout,
                current: Mutex::new(Current::default()),
                connecting: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// A client of the primary as it is now (asking the Sentinels), for a
    /// connection of its own (the tailer's blocking reads).
    pub async fn client(&self) -> Result<Client, StoreError> {
        match &self.inner.locator {
            Locator::Direct(client) => Ok(client.clone()),
            Locator::Sentinel {
                sentinel,
                primary,
                node,
            } => {
                let mut sentinel = sentinel.lock().await;
                match tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    sentinel.async_master_for(primary, Some(node)),
                )
                .await
                {
                    Ok(found) => found.map_err(unavailable),
                    Err(_) => Err(StoreError::Unavailable(
                        "the Sentinels did not name a reachable primary in time".into(),
                    )),
                }
            }
        }
    }

    /// The shared connection to the primary, connecting first if there is
    /// none.
    pub async fn connection(&self) -> Result<Connection, StoreError> {
        if let Some(c) = self.cached()? {
            return Ok(c);
        }
        let _connecting = self.inner.connecting.lock().await;
        if let Some(c) = self.cached()? {
            return Ok(c);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(self.inner.response_timeout));
        let connected = match self.client().await {
            Ok(client) => client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(unavailable),
            Err(e) => Err(e),
        };
        let mut current = self.inner.current.lock().expect("primary lock");
        match connected {
            Ok(conn) => {
                current.next += 1;
                let number = current.next;
                current.connection = Some((number, conn.clone()));
                current.failed = None;
                Ok(Connection {
                    conn,
                    number,
                    primary: self.inner.clone(),
                })
            }
            Err(e) => {
                current.failed = Some((Instant::now(), e.to_string()));
                Err(e)
            }
        }
    }

    /// Forgets the shared connection without a call of its own failing:
    /// another connection to the same primary (the tailer's) just failed, so
    /// this one most likely did too, and the next write should not be the
    /// one to find out (its outcome would be unknown).
    pub fn forget(&self) {
        self.inner.current.lock().expect("primary lock").connection = None;
    }

    /// The connection in use, or the error of a lookup that just failed.
    fn cached(&self) -> Result<Option<Connection>, StoreError> {
        let current = self.inner.current.lock().expect("primary lock");
        if let Some((number, conn)) = &current.connection {
            return Ok(Some(Connection {
                conn: conn.clone(),
                number: *number,
                primary: self.inner.clone(),
            }));
        }
        match &current.failed {
            Some((at, error)) if at.elapsed() < RETRY_AFTER => {
                Err(StoreError::Unavailable(error.clone()))
            }
            _ => Ok(None),
        }
    }
}

fn unavailable(e: RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}
