//! Changes of the directory's secrets (passwords, integration keys) as
//! log entries carry them: plain data, so that the log stays in the
//! domain; the replicated table they change is `crate::replica`'s.

use serde::{Deserialize, Serialize};

use super::time::Millis;

/// The groups an integration may act in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupScope {
    /// Every group (`groups = ["*"]`).
    All,
    /// Only these group ids.
    Only(Vec<String>),
}

impl GroupScope {
    /// Whether it includes group `id`.
    pub fn allows(&self, id: &str) -> bool {
        match self {
            GroupScope::All => true,
            GroupScope::Only(ids) => ids.iter().any(|g| g == id),
        }
    }
}

/// A change of a secret, as a log entry carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredentialChange {
    /// An agent's password hash (argon2 PHC string, hashed by the proposing
    /// node). `reset`: set by an admin, which closes the agent's sessions.
    SetPassword {
        /// The agent's id.
        agent: String,
        /// The new hash.
        hash: String,
        /// An admin's reset (not the agent's own change).
        reset: bool,
    },
    /// A new integration with its first key.
    CreateIntegration {
        /// Its unique name.
        name: String,
        /// Where it may act.
        scope: GroupScope,
        /// SHA-256 (hex) of its key.
        key_sha256: String,
        /// It may assign work to an agent at its cap.
        #[serde(default)]
        override_capacity: bool,
        /// It may set the presence of the agents of its groups.
        #[serde(default)]
        set_presence: bool,
        /// Where its events are POSTed (none: no webhooks).
        #[serde(default)]
        webhook_urls: Vec<String>,
        /// The secret its webhooks are signed with.
        #[serde(default)]
        webhook_secret: Option<String>,
    },
    /// A new key for an integration; the previous ones keep working for
    /// `overlap_ms` more.
    RotateKey {
        /// The integration.
        name: String,
        /// SHA-256 (hex) of the new key.
        key_sha256: String,
        /// How long the older keys keep working.
        overlap_ms: Millis,
    },
    /// The integration's scope or permissions change (`None`: unchanged).
    SetScope {
        /// The integration.
        name: String,
        /// Where it may act from now on.
        #[serde(default)]
        scope: Option<GroupScope>,
        /// Whether it may assign work to an agent at its cap.
        #[serde(default)]
        override_capacity: Option<bool>,
        /// Whether it may set the presence of the agents of its groups.
        #[serde(default)]
        set_presence: Option<bool>,
        /// Where its events are POSTed from now on (empty: nowhere).
        #[serde(default)]
        webhook_urls: Option<Vec<String>>,
        /// A new secret for its webhooks.
        #[serde(default)]
        webhook_secret: Option<String>,
    },
    /// The integration and every key of it stop working at once.
    RevokeIntegration {
        /// The integration.
        name: String,
    },
}
