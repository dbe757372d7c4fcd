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
    /// Where its events are POSTed (docs/webhooks.md); empty: nowhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook_urls: Vec<String>,
    /// The secret its webhooks are signed with. Kept in the log and
    /// snapshots in the clear: the server must sign with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// The log entry that last set the URLs: events of later entries are
    /// delivered to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks_since: Option<String>,
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

/// Webhook URLs per integration at most.
const MAX_WEBHOOK_URLS: usize = 8;

/// Webhook URLs: `http://` or `https://`, not too many or too long, and a
/// secret of 16 to 256 characters when there is any.
fn check_webhooks(urls: &[String], secret: Option<&str>) -> Result<(), DomainError> {
    if urls.len() > MAX_WEBHOOK_URLS {
        return Err(invalid("webhook_urls", "at most 8 URLs"));
    }
    for url in urls {
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || url.len() > 2048 || url.chars().any(char::is_whitespace) {
            return Err(invalid(
                "webhook_urls",
                "each must be an http:// or https:// URL of at most 2048 characters",
            ));
        }
    }
    match secret {
        None if !urls.is_empty() => Err(invalid(
            "webhook_secret",
            "webhooks need a secret to be signed with",
        )),
        Some(s) if s.len() < 16 || s.len() > 256 || s.chars().any(char::is_control) => {
            Err(invalid(
                "webhook_secret",
                "must be 16 to 256 characters, no control characters",
            ))
        }
        _ => Ok(()),
    }
}

impl Credentials {
    /// Records that log entry `entry` set the webhook URLs of `name`.
    pub fn webhooks_set_at(&mut self, name: &str, entry: &str) {
        if let Some(rec) = self.integrations.get_mut(name) {
            rec.webhooks_since = Some(entry.to_string());
        }
    }

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
                    webhook_urls: Vec::new(),
                    webhook_secret: None,
                    webhooks_since: None,
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
                webhook_urls,
                webhook_secret,
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
                check_webhooks(&webhook_urls, webhook_secret.as_deref())?;
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
                        webhook_urls,
                        webhook_secret,
                        webhooks_since: None,
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
                webhook_urls,
                webhook_secret,
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
                let urls = webhook_urls.as_ref().unwrap_or(&rec.webhook_urls);
                let secret = webhook_secret.as_deref().or(rec.webhook_secret.as_deref());
                check_webhooks(urls, secret)?;
                if let Some(allowed) = override_capacity {
                    rec.override_capacity = allowed;
                }
                if let Some(allowed) = set_presence {
                    rec.set_presence = allowed;
                }
                if let Some(urls) = webhook_urls {
                    rec.webhook_urls = urls;
                }
                if webhook_secret.is_some() {
                    rec.webhook_secret = webhook_secret;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_need_http_urls_and_a_secret() {
        let secret = Some("0123456789abcdef");
        assert!(check_webhooks(&[], None).is_ok());
        assert!(check_webhooks(&["https://crm.example/hook".into()], secret).is_ok());
        assert!(check_webhooks(&["http://127.0.0.1:9/hook".into()], secret).is_ok());
        assert!(check_webhooks(&["ftp://crm.example".into()], secret).is_err());
        assert!(check_webhooks(&["https://crm.example/a b".into()], secret).is_err());
        assert!(check_webhooks(&["https://crm.example".into()], None).is_err());
        assert!(check_webhooks(&["https://crm.example".into()], Some("short")).is_err());
        let many: Vec<String> = (0..9).map(|i| format!("https://h{i}.example")).collect();
        assert!(check_webhooks(&many, secret).is_err());
    }
}
