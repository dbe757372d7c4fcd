//! Login tokens kept by a store instead of in one process's memory: in Redis
//! (shared by every node) or in the embedded database (kept across
//! restarts). Only SHA-256 digests of tokens are stored.

use std::time::Duration;

use super::StoreError;
use super::redis::RedisTokens;
use super::sqlite::SqliteTokens;

/// Where a node keeps its login tokens' digests.
#[derive(Debug, Clone)]
pub enum StoredTokens {
    /// In Redis, for every node of a cluster.
    Redis(RedisTokens),
    /// In the embedded database of a single node.
    Embedded(SqliteTokens),
}

impl StoredTokens {
    /// Stores a token's digest for `ttl`, under its agent.
    pub async fn put(&self, digest: &str, agent: &str, ttl: Duration) -> Result<(), StoreError> {
        match self {
            StoredTokens::Redis(t) => t.put(digest, agent, ttl).await,
            StoredTokens::Embedded(t) => t.put(digest, agent, ttl).await,
        }
    }

    /// The agent of a token's digest, sliding its lifetime.
    pub async fn take(&self, digest: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        match self {
            StoredTokens::Redis(t) => t.take(digest, ttl).await,
            StoredTokens::Embedded(t) => t.take(digest, ttl).await,
        }
    }

    /// Forgets a token.
    pub async fn remove(&self, digest: &str) -> Result<(), StoreError> {
        match self {
            StoredTokens::Redis(t) => t.remove(digest).await,
            StoredTokens::Embedded(t) => t.remove(digest).await,
        }
    }

    /// Forgets every token of an agent.
    pub async fn remove_agent(&self, agent: &str) -> Result<(), StoreError> {
        match self {
            StoredTokens::Redis(t) => t.remove_agent(agent).await,
            StoredTokens::Embedded(t) => t.remove_agent(agent).await,
        }
    }
}
