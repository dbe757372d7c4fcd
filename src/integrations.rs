//! Integrations: named API keys, each scoped to a set of groups.
//!
//! An integration (a CRM, a phone system, a web form) holds one random key
//! and may act only in the groups the directory file gives it, so a leaked
//! key of one department cannot flood or read another's queues. The
//! directory file stores only the key's SHA-256 (`key_sha256`): keys are
//! random 256-bit secrets, so a fast digest is enough to make the stored
//! value useless to whoever reads the file (nothing to brute-force, unlike a
//! password), and it lets every request be checked in microseconds.
//!
//! The `--api-key` flag stays as one more integration, named `cli`, scoped
//! to every group.

use std::sync::Arc;

use rand::Rng;
use sha2::{Digest, Sha256};

pub use crate::domain::GroupScope;

/// Who an API key belongs to: the name logs show and what it may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    /// The integration's name, unique in the directory (logs name it).
    pub name: String,
    /// Where it may act.
    pub scope: GroupScope,
    /// It may assign work to an agent at its cap.
    pub override_capacity: bool,
    /// It may set the status and active cells of the agents of its groups
    /// (a workforce-management tool).
    pub set_presence: bool,
}

impl Integration {
    /// An integration allowed in every group: the `--api-key` flag (`cli`),
    /// and the server's own public endpoints and demo traffic, which reach
    /// the engine the way an integration does.
    pub fn everywhere(name: &str) -> Arc<Integration> {
        Arc::new(Integration {
            name: name.to_string(),
            scope: GroupScope::All,
            override_capacity: false,
            set_presence: false,
        })
    }

    /// Whether it may act in group `id`.
    pub fn allows(&self, group: &str) -> bool {
        self.scope.allows(group)
    }
}

/// Where an integration's events are POSTed: its URLs and signing secret,
/// and since which log entry (events of later entries go to them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// Whose (its scope filters the events).
    pub integration: Arc<Integration>,
    /// The receivers.
    pub urls: Vec<String>,
    /// The HMAC-SHA256 key of the signature header.
    pub secret: String,
    /// The log entry that set the URLs.
    pub since: String,
}

/// An integration with the digest of its key, as the directory file has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationKey {
    /// SHA-256 of the key.
    pub key_sha256: [u8; 32],
    /// Whose key.
    pub integration: Arc<Integration>,
}

/// SHA-256 of a key, as the directory file writes it (lowercase hex).
pub fn key_digest_hex(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new random key: 256 bits, hex.
pub fn new_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The `[[integrations]]` entry of a new key, ready to paste into a
/// directory file (`switchboard new-api-key`).
pub fn toml_entry(name: &str, key: &str, groups: &[String]) -> String {
    let groups = if groups.is_empty() {
        "\"*\"".to_string()
    } else {
        groups
            .iter()
            .map(|g| format!("{g:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "[[integrations]]\nname = {name:?}\nkey_sha256 = \"{}\"\ngroups = [{groups}]\n",
        key_digest_hex(key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_entries() {
        let only = Integration {
            name: "crm".into(),
            scope: GroupScope::Only(vec!["g1".into()]),
            override_capacity: false,
            set_presence: false,
        };
        assert!(only.allows("g1"));
        assert!(!only.allows("g2"));
        assert!(Integration::everywhere("cli").allows("g2"));
        let key = new_key();
        assert_eq!(key.len(), 64);
        let entry = toml_entry("crm", &key, &["g1".into()]);
        assert!(entry.contains(&key_digest_hex(&key)));
        assert!(entry.contains("groups = [\"g1\"]"));
        assert!(toml_entry("all", &key, &[]).contains("groups = [\"*\"]"));
    }
}
