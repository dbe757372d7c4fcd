//! Secrets of the directory, replicated: agents' password hashes and the
//! integrations' API keys (as SHA-256 digests), each changed by a log entry
//! so that every node checks logins and keys against the same table and a
//! change survives restarts. Kept apart from the domain core, which never
//! holds a secret.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{Actor, CredentialChange, Directory, DomainError, GroupScope, Millis};

/// One API key of an integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// SHA-256 of the key, lowercase hex.
    pub sha256: String,
    /// When it stops working (a rotated-out key's overlap); `None`: never.
    pub expires_at: Option<Millis>,
}

/// An integration: where it may act and its keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationRecord {
    /// The groups it may act in.
    pub scope: GroupScope,
    /// Its keys: the current one last; older ones until their overlap ends.
    pub keys: Vec<KeyRecord>,
    /// It may assign work to an agent at its cap
    /// (`"override_capacity": true` on `POST /api/items/{id}/assign`).
    #[serde(default)]
    pub override_capacity: bool,
    /// It may set the status and active cells of the agents of its groups
    /// (`PUT /api/agents/{id}/status`, `…/availability`, `…/cells`).
    #[serde(default)]
    pub set_presence: bool,
}

/// The replicated secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// Agent id → argon2 PHC string.
    pub passwords: BTreeMap<String, String>,
    /// Integration name → its scope and keys.
    pub integrations: BTreeMap<String, IntegrationRecord>,
}

/// Longest integration name.
const MAX_INTEGRATION_NAME: usize = 64;

fn invalid(field: &'static str, why: &str) -> DomainError {
    DomainError::Invalid {
        field,
        why: why.to_string(),
    }
}

fn check_digest(hex: &str) -> Result<(), DomainError> {
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(invalid("key_sha256", "must be 64 hex digits"))
    }
}

impl Credentials {
    /// The secrets of a directory file: its password hashes and its
    /// integrations' keys (the log's starting point).
    pub fn from_directory(
        passwords: &std::collections::HashMap<String, String>,
        keys: &[crate::integrations::IntegrationKey],
    ) -> Self {
        let mut integrations: BTreeMap<String, IntegrationRecord> = BTreeMap::new();
        for k in keys {
            integrations
                .entry(k.integration.name.clone())
                .or_insert_with(|| IntegrationRecord {
                    scope: k.integration.scope.clone(),
                    keys: Vec::new(),
                    override_capacity: k.integration.override_capacity,
                    set_presence: k.integration.set_presence,
                })
                .keys
                .push(KeyRecord {
                    sha256: hex::encode(k.key_sha256),
                    expires_at: None,
                });
        }
        Credentials {
            passwords: passwords
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            integrations,
        }
    }

    /// Applies a change asked by `actor` at `now`. Only admins manage
    /// integrations and reset passwords; an agent sets its own password
    /// (the proposing node checked its old one).
    pub fn apply(
        &mut self,
        dir: &Directory,
        actor: Actor,
        change: CredentialChange,
        now: Millis,
    ) -> Result<(), DomainError> {
        let is_admin = match actor {
            Actor::Agent(a) => dir.agent(a).roles.admin,
            Actor::System => true,
            Actor::Integration => false,
        };
        match change {
            CredentialChange::SetPassword { agent, hash, reset } => {
                if dir.agent_ix(&agent).is_none() {
                    return Err(DomainError::NoSuchAgent(agent));
                }
                let own = matches!(actor, Actor::Agent(a) if dir.agent(a).id == agent);
                if !(is_admin || own && !reset) {
                    return Err(DomainError::Forbidden(
                        "only an admin may reset another agent's password",
                    ));
                }
                self.passwords.insert(agent, hash);
            }
            CredentialChange::CreateIntegration {
                name,
                scope,
                key_sha256,
                override_capacity,
                set_presence,
            } => {
                if !is_admin {
                    return Err(DomainError::Forbidden(
                        "only an admin may manage integrations",
                    ));
                }
                if name.is_empty()
                    || name.len() > MAX_INTEGRATION_NAME
                    || name.chars().any(char::is_control)
                {
                    return Err(invalid(
                        "name",
                        "must be 1 to 64 characters, no control characters",
                    ));
                }
                if name == "cli" || self.integrations.contains_key(&name) {
                    return Err(DomainError::Exists(format!("integration {name:?}")));
                }
                check_digest(&key_sha256)?;
                self.integrations.insert(
                    name,
                    IntegrationRecord {
                        scope,
                        keys: vec![KeyRecord {
                            sha256: key_sha256,
                            expires_at: None,
                        }],
                        override_capacity,
                        set_presence,
                    },
                );
            }
            CredentialChange::RotateKey {
                name,
                key_sha256,
                overlap_ms,
            } => {
                if !is_admin {
                    return Err(DomainError::Forbidden(
                        "only an admin may manage integrations",
                    ));
                }
                check_digest(&key_sha256)?;
                let rec = self
                    .integrations
                    .get_mut(&name)
                    .ok_or_else(|| DomainError::NoSuchIntegration(name.clone()))?;
                rec.keys.retain(|k| k.expires_at.is_none_or(|at| at > now));
                let until = now + overlap_ms;
                for k in &mut rec.keys {
                    k.expires_at = Some(k.expires_at.map_or(until, |at| at.min(until)));
                }
                rec.keys.push(KeyRecord {
                    sha256: key_sha256,
                    expires_at: None,
                });
            }
            CredentialChange::SetScope {
                name,
                scope,
                override_capacity,
                set_presence,
            } => {
                if !is_admin {
                    return Err(DomainError::Forbidden(
                        "only an admin may manage integrations",
                    ));
                }
                let rec = self
                    .integrations
                    .get_mut(&name)
                    .ok_or_else(|| DomainError::NoSuchIntegration(name.clone()))?;
                if let Some(scope) = scope {
                    rec.scope = scope;
                }
                if let Some(allowed) = override_capacity {
                    rec.override_capacity = allowed;
                }
                if let Some(allowed) = set_presence {
                    rec.set_presence = allowed;
                }
            }
            CredentialChange::RevokeIntegration { name } => {
                if !is_admin {
                    return Err(DomainError::Forbidden(
                        "only an admin may manage integrations",
                    ));
                }
                self.integrations
                    .remove(&name)
                    .ok_or(DomainError::NoSuchIntegration(name))?;
            }
        }
        Ok(())
    }
}
