//! Authentication: password checks, login tokens and the integrations' API
//! keys.
//!
//! # Ownership
//! [`Auth`] is shared by every HTTP and WebSocket handler behind an `Arc`.
//! The password hashes and the API keys' digests are the replicated ones:
//! the engine publishes a new [`CredentialTable`] after every change the
//! log brings, through a `watch` channel that checks read without waiting.
//! The token table is a `std::sync::Mutex<HashMap>`: a lookup or insert
//! holds it for a hash-map operation and never across an `.await`, so a
//! blocking lock is cheaper than an async one.
//!
//! # Revocation
//! A token is revoked by logout (that one token) or when an admin disables
//! its agent (every token of the agent). With a store, tokens live in it
//! ([`StoredTokens`](crate::store::tokens::StoredTokens)): in Redis a
//! revocation on one node holds on all of them; in the embedded database a
//! console reconnects with its token after a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::domain::Millis;
use crate::integrations::Integration;
use crate::store::StoreError;

/// Who a valid token belongs to.
#[derive(Debug, Clone)]
struct TokenEntry {
    agent: String,
    expires_at: Millis,
}

/// The secrets logins and API keys are checked against, as of one log
/// position.
#[derive(Debug, Default)]
pub struct CredentialTable {
    /// Agent id → argon2 PHC string.
    passwords: HashMap<String, String>,
    /// Digest of an API key → its integration and when the key stops
    /// working (a rotated-out key's overlap).
    api_keys: HashMap<[u8; 32], (Arc<Integration>, Option<Millis>)>,
    /// The integrations that have webhooks.
    webhooks: Vec<crate::integrations::WebhookTarget>,
}

impl CredentialTable {
    /// The table of the replicated secrets.
    pub fn from_credentials(c: &crate::replica::credentials::Credentials) -> Self {
        let mut api_keys = HashMap::new();
        let mut webhooks = Vec::new();
        for (name, rec) in &c.integrations {
            let integration = Arc::new(Integration {
                name: name.clone(),
                scope: rec.scope.clone(),
                override_capacity: rec.override_capacity,
                set_presence: rec.set_presence,
            });
            if let Some(secret) = rec
                .webhook_secret
                .as_ref()
                .filter(|_| !rec.webhook_urls.is_empty())
            {
                webhooks.push(crate::integrations::WebhookTarget {
                    integration: integration.clone(),
                    urls: rec.webhook_urls.clone(),
                    secret: secret.clone(),
                    since: rec.webhooks_since.clone().unwrap_or_else(|| "0-0".into()),
                });
            }
            for k in &rec.keys {
                let mut digest = [0u8; 32];
                if hex::decode_to_slice(&k.sha256, &mut digest).is_ok() {
                    api_keys.insert(digest, (integration.clone(), k.expires_at));
                }
            }
        }
        CredentialTable {
            passwords: c
                .passwords
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            api_keys,
            webhooks,
        }
    }

    /// The integrations that have webhooks.
    pub fn webhook_targets(&self) -> &[crate::integrations::WebhookTarget] {
        &self.webhooks
    }
}

/// Checks passwords, issues and checks tokens, checks the API key.
#[derive(Debug)]
pub struct Auth {
    /// The replicated secrets, as the engine last published them.
    table: tokio::sync::watch::Receiver<Arc<CredentialTable>>,
    /// Digest of the `--api-key` flag's key (the integration `cli`).
    cli_key: [u8; 32],
    token_ttl_ms: Millis,
    /// In-memory tokens, by the token's digest (as the stores keep them),
    /// so a session that keeps only the digest can slide its login.
    tokens: Mutex<HashMap<String, TokenEntry>>,
    /// With a store, the tokens live there instead (Redis or embedded).
    shared: Option<crate::store::tokens::StoredTokens>,
}

/// A hash to verify against when the user does not exist, so that a wrong
/// username costs as much time as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$uR1Bz2S7q2dYx8bNQ8c4C0oB8fJ2b2bC7mRjK1gGJ8U";

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Hashes a password with argon2id and a random salt, as a PHC string.
pub fn hash_password(password: &str) -> String {
    use argon2::PasswordHasher;
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 with default parameters and an OS random salt")
        .to_string()
}

/// The hex SHA-256 of a login token: how Redis stores it, and how a
/// session remembers which login opened it (so logout can close it) without
/// keeping the token itself.
pub fn token_digest(token: &str) -> String {
    hex::encode(sha256(token.as_bytes()))
}

/// A [`token_digest`] as the 32 bytes it spells, for a session to keep
/// inline (10,000 sessions each holding the hex as a `String` cost ~1 MB);
/// all zeros for anything that is not one.
pub fn login_key(digest: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    if hex::decode_to_slice(digest, &mut key).is_err() {
        key = [0u8; 32];
    }
    key
}

/// A fresh random secret: 128 bits, hex.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Auth {
    /// An authenticator over the secrets the engine publishes on `table`,
    /// and one API key (the `--api-key` flag), which acts as the integration
    /// `cli` in every group.
    pub fn new(
        table: tokio::sync::watch::Receiver<Arc<CredentialTable>>,
        api_key: &str,
        token_ttl_ms: Millis,
    ) -> Self {
        Auth {
            table,
            cli_key: sha256(api_key.as_bytes()),
            token_ttl_ms,
            tokens: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// Checks a username and password. Expensive (argon2): call it from a
    /// blocking thread.
    pub fn verify_password(&self, username: &str, password: &str) -> bool {
        let table = self.table.borrow().clone();
        let stored = table.passwords.get(username);
        let phc = stored.map(String::as_str).unwrap_or(DUMMY_HASH);
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && stored.is_some()
    }

    /// Whether a username is in the directory. Logs name a refused login's
    /// username only when it is one: an unknown "username" is often a
    /// password typed into the wrong field.
    pub fn knows(&self, username: &str) -> bool {
        self.table.borrow().passwords.contains_key(username)
    }

    /// Keeps tokens in a store (Redis, shared by every node; or the embedded
    /// database, kept across restarts).
    pub fn with_shared_tokens(mut self, tokens: crate::store::tokens::StoredTokens) -> Self {
        self.shared = Some(tokens);
        self
    }

    /// Issues a token (shared by every node in cluster mode).
    pub async fn login_token(&self, agent: &str, now: Millis) -> Result<String, StoreError> {
        match &self.shared {
            None => Ok(self.issue_token(agent, now)),
            Some(shared) => {
                let token = random_secret();
                let ttl = std::time::Duration::from_millis(self.token_ttl_ms);
                shared.put(&token_digest(&token), agent, ttl).await?;
                Ok(token)
            }
        }
    }

    /// The agent of a valid token, sliding its expiry (any node's token in
    /// cluster mode; a store failure counts as not valid).
    pub async fn token_agent(&self, token: &str, now: Millis) -> Option<String> {
        match &self.shared {
            None => self.check_token(token, now),
            Some(shared) => {
                let ttl = std::time::Duration::from_millis(self.token_ttl_ms);
                shared.take(&token_digest(token), ttl).await.ok().flatten()
            }
        }
    }

    /// Slides the expiry of the login whose token has digest `digest` (a
    /// console in use keeps its login alive, as HTTP calls do); false when
    /// it is no longer valid.
    pub async fn touch(&self, digest: &str, now: Millis) -> bool {
        match &self.shared {
            None => self.slide(digest, now).is_some(),
            Some(shared) => {
                let ttl = std::time::Duration::from_millis(self.token_ttl_ms);
                matches!(shared.take(digest, ttl).await, Ok(Some(_)))
            }
        }
    }

    /// Revokes a token everywhere.
    pub async fn logout_token(&self, token: &str) -> Result<(), StoreError> {
        match &self.shared {
            None => {
                self.revoke(token);
                Ok(())
            }
            Some(shared) => shared.remove(&token_digest(token)).await,
        }
    }

    /// Revokes every token of an agent everywhere (the agent was disabled).
    pub async fn revoke_agent(&self, agent: &str) -> Result<(), StoreError> {
        match &self.shared {
            None => {
                self.tokens
                    .lock()
                    .expect("token table lock")
                    .retain(|_, e| e.agent != agent);
                Ok(())
            }
            Some(shared) => shared.remove_agent(agent).await,
        }
    }

    /// Issues a new token for an agent.
    pub fn issue_token(&self, agent: &str, now: Millis) -> String {
        let token = random_secret();
        let entry = TokenEntry {
            agent: agent.to_string(),
            expires_at: now + self.token_ttl_ms,
        };
        let mut tokens = self.tokens.lock().expect("token table lock");
        tokens.retain(|_, e| e.expires_at > now);
        tokens.insert(token_digest(&token), entry);
        token
    }

    /// The agent a token belongs to, if it is valid; each use slides its
    /// expiry forward.
    pub fn check_token(&self, token: &str, now: Millis) -> Option<String> {
        self.slide(&token_digest(token), now)
    }

    /// The agent of the login whose token has digest `digest`, if valid,
    /// sliding its expiry (in-memory tokens).
    fn slide(&self, digest: &str, now: Millis) -> Option<String> {
        let mut tokens = self.tokens.lock().expect("token table lock");
        let entry = tokens.get_mut(digest)?;
        if entry.expires_at <= now {
            tokens.remove(digest);
            return None;
        }
        entry.expires_at = now + self.token_ttl_ms;
        Some(entry.agent.clone())
    }

    /// Revokes a token (logout).
    pub fn revoke(&self, token: &str) {
        self.tokens
            .lock()
            .expect("token table lock")
            .remove(&token_digest(token));
    }

    /// The integration a presented API key belongs to. Looks the key up by
    /// its SHA-256 digest, so the time taken tells nothing about how much of
    /// a key was right.
    pub fn check_api_key(&self, key: &str, now: Millis) -> Option<Arc<Integration>> {
        let digest = sha256(key.as_bytes());
        let table = self.table.borrow();
        match table.api_keys.get(&digest) {
            Some((integration, expires)) => expires
                .is_none_or(|at| now < at)
                .then(|| integration.clone()),
            None if digest == self.cli_key => Some(Integration::everywhere("cli")),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_tokens_and_keys() {
        let mut credentials = crate::replica::credentials::Credentials::default();
        credentials
            .passwords
            .insert("alice".to_string(), hash_password("secret"));
        let table = Arc::new(CredentialTable::from_credentials(&credentials));
        let auth = Auth::new(tokio::sync::watch::channel(table).1, "key-1", 1_000);
        assert!(auth.verify_password("alice", "secret"));
        assert!(!auth.verify_password("alice", "wrong"));
        assert!(!auth.verify_password("nobody", "secret"));
        let t = auth.issue_token("alice", 0);
        assert_eq!(t.len(), 32);
        assert_eq!(auth.check_token(&t, 500).as_deref(), Some("alice"));
        // Sliding: used at 500, so still valid at 1_400.
        assert_eq!(auth.check_token(&t, 1_400).as_deref(), Some("alice"));
        assert_eq!(auth.check_token(&t, 3_000), None);
        let t2 = auth.issue_token("alice", 0);
        auth.revoke(&t2);
        assert_eq!(auth.check_token(&t2, 1), None);
        assert_eq!(auth.check_api_key("key-1", 0).unwrap().name, "cli");
        assert!(auth.check_api_key("key-2", 0).is_none());
        let t3 = auth.issue_token("alice", 0);
        let t4 = auth.issue_token("bob", 0);
        futures_util::FutureExt::now_or_never(auth.revoke_agent("alice"))
            .unwrap()
            .unwrap();
        assert_eq!(auth.check_token(&t3, 1), None);
        assert_eq!(auth.check_token(&t4, 1).as_deref(), Some("bob"));
    }
}
