//! The administration API inside the engine: resolves ids to indices, turns
//! each change into the one log entry that makes it (a domain
//! `Command::Admin`, or a credential change), and answers reads and the
//! applied change with the resource as `docs/protocol.md` shows it.
//!
//! Who may change what is the core's (and the credentials table's) to
//! decide at apply time, so every replica agrees; reads are filtered here:
//! an admin sees everything, a manager the groups it manages and their
//! members, anyone else nothing.

use serde_json::{Value, json};

use super::Engine;
use super::submit::{After, Step};
use crate::api_error::{ApiError, ErrorCode};
use crate::domain::{
    Actor, AdminChange, AdminRecord, AgentDef, AgentIx, AgentPatch, AwayReason, Command,
    CredentialChange, GroupDef, GroupIx, GroupPatch, GroupScope, GroupSettings, Handling, LogOp,
    MemberPatch, Membership, Millis,
};
use crate::replica::audit::record_json;
use crate::replica::credentials::IntegrationRecord;

/// Most rows one list answer holds.
pub const MAX_PAGE: usize = 500;

/// A page of a list: which rows.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Rows to skip.
    pub offset: usize,
    /// Rows to give (at most [`MAX_PAGE`]).
    pub limit: usize,
}

/// An administration request, ids as given.
#[derive(Debug, Clone)]
pub enum AdminOp {
    /// Agents, filtered by a text in id or name and by group.
    ListAgents {
        /// Text in the id or name (case-insensitive).
        q: Option<String>,
        /// Only members of this group.
        group: Option<String>,
        /// Which rows.
        page: Page,
    },
    /// One agent.
    GetAgent(String),
    /// A new agent with its password hash.
    CreateAgent(AgentDef, String),
    /// Change an agent.
    UpdateAgent(String, AgentPatch),
    /// Delete an agent.
    DeleteAgent(String),
    /// Set a password hash; `reset` when an admin sets another's.
    SetPassword {
        /// The agent.
        agent: String,
        /// The argon2 PHC string.
        hash: String,
        /// An admin's reset.
        reset: bool,
    },
    /// Groups, filtered by a text in id, name or department.
    ListGroups {
        /// Text.
        q: Option<String>,
        /// Which rows.
        page: Page,
    },
    /// One group.
    GetGroup(String),
    /// A new group.
    CreateGroup(Box<(GroupDef, GroupSettings)>),
    /// Change a group.
    UpdateGroup(String, Box<GroupPatch>),
    /// Delete a group, moving its open items to `move_to`.
    DeleteGroup(String, Option<String>),
    /// Memberships, by group and/or agent.
    ListMembers {
        /// Only of this group.
        group: Option<String>,
        /// Only of this agent.
        agent: Option<String>,
        /// Which rows.
        page: Page,
    },
    /// A new membership.
    AddMember {
        /// Agent id.
        agent: String,
        /// Group id.
        group: String,
        /// Per channel handling.
        handling: [Handling; 3],
        /// Ticket cap.
        ticket_cap: Option<u32>,
        /// Cells on from the start.
        active: [bool; 3],
    },
    /// Change a membership.
    UpdateMember(String, String, MemberPatch),
    /// End a membership.
    RemoveMember(String, String),
    /// Every integration.
    ListIntegrations,
    /// A new integration; `key` is returned once.
    CreateIntegration {
        /// Name.
        name: String,
        /// Where it may act.
        scope: GroupScope,
        /// The new key (plain; only its digest is stored).
        key: String,
        /// It may assign work to an agent at its cap.
        override_capacity: bool,
        /// It may set the presence of its groups' agents.
        set_presence: bool,
        /// Its webhooks.
        webhooks: WebhookPatch,
    },
    /// A new key; older keys keep working for the overlap.
    RotateKey {
        /// The integration.
        name: String,
        /// The new key (plain).
        key: String,
        /// How long older keys keep working.
        overlap_ms: Millis,
    },
    /// An integration's new scope, permissions or webhooks.
    UpdateIntegration(String, IntegrationChange),
    /// Revoke an integration and its keys.
    RevokeIntegration(String),
    /// Directory-wide settings.
    GetSettings,
    /// Directory-wide settings; `None` keeps a setting as it is.
    SetSettings {
        /// Whether managers administer the groups they manage.
        managers_administer: Option<bool>,
        /// Whether managers may set their members' status.
        managers_set_status: Option<bool>,
        /// The reasons agents may give with a status.
        status_reasons: Option<Vec<AwayReason>>,
    },
    /// The live directory as a directory file.
    ExportDirectory {
        /// With the agents' password hashes.
        with_hashes: bool,
    },
    /// The changes that make the live directory a file's, applied as one
    /// when `apply`.
    ImportDirectory {
        /// The parsed file.
        file: Box<crate::directory_file::LoadedDirectory>,
        /// Apply (else only list them).
        apply: bool,
    },
}

/// What to answer once an administration entry was applied.
#[derive(Debug)]
pub enum AdminView {
    /// The agent.
    Agent(String),
    /// The group.
    Group(String),
    /// The membership.
    Member(String, String),
    /// The integration, with its new key and its new webhook secret (each
    /// shown once).
    Integration(String, Option<String>, Option<String>),
    /// The settings.
    Settings,
    /// `{}` (a deletion).
    Empty,
}

fn forbidden(msg: &str) -> ApiError {
    ApiError::new(ErrorCode::Forbidden, msg)
}

fn paged<T: serde::Serialize>(key: &str, rows: Vec<T>, page: Page) -> Value {
    let total = rows.len();
    let limit = page.limit.min(MAX_PAGE);
    let rows: Vec<T> = rows.into_iter().skip(page.offset).take(limit).collect();
    json!({ "total": total, "offset": page.offset, "limit": limit, key: rows })
}

fn matches(q: &Option<String>, fields: &[&str]) -> bool {
    q.as_deref().is_none_or(|q| {
        let q = q.to_lowercase();
        fields.iter().any(|f| f.to_lowercase().contains(&q))
    })
}

impl Engine {
    /// Handles an administration request of the agent `actor`.
    pub(super) fn admin_step(&mut self, actor: AgentIx, op: AdminOp) -> Result<Step, ApiError> {
        let dir = self.state.core().directory();
        let me = dir.agent(actor);
        if !me.roles.admin && !me.roles.manager {
            return Err(forbidden("administration is for admins and managers"));
        }
        let by = Actor::Agent(actor);
        let admin = |change: AdminChange, view: AdminView| {
            Ok(Step::Submit(
                Command::Admin {
                    actor: by,
                    change: Box::new(change),
                },
                After::Admin(view),
            ))
        };
        match op {
            AdminOp::ListAgents { q, group, page } => {
                let g = group.as_deref().map(|id| self.group_ix(id)).transpose()?;
                let rows: Vec<Value> = dir
                    .live_agents()
                    .filter(|(a, def)| {
                        self.admin_may_see(actor, *a)
                            && g.is_none_or(|g| dir.member(*a, g).is_some())
                            && matches(&q, &[&def.id, &def.name])
                    })
                    .map(|(a, _)| self.agent_view(a))
                    .collect();
                Ok(Step::Now(Ok(paged("agents", rows, page))))
            }
            AdminOp::GetAgent(id) => {
                let a = self.agent_ix(&id)?;
                if !self.admin_may_see(actor, a) {
                    return Err(forbidden("you do not manage that agent"));
                }
                Ok(Step::Now(Ok(self.agent_view(a))))
            }
            AdminOp::CreateAgent(def, password_hash) => {
                let id = def.id.clone();
                Ok(Step::Op(
                    LogOp::Administer {
                        command: Command::Admin {
                            actor: by,
                            change: Box::new(AdminChange::CreateAgent(def)),
                        },
                        passwords: vec![(id.clone(), password_hash)],
                    },
                    After::Admin(AdminView::Agent(id)),
                ))
            }
            AdminOp::UpdateAgent(id, patch) => {
                let agent = self.agent_ix(&id)?;
                admin(
                    AdminChange::UpdateAgent { agent, patch },
                    AdminView::Agent(id),
                )
            }
            AdminOp::DeleteAgent(id) => {
                let agent = self.agent_ix(&id)?;
                admin(AdminChange::DeleteAgent { agent }, AdminView::Empty)
            }
            AdminOp::SetPassword { agent, hash, reset } => {
                self.agent_ix(&agent)?;
                Ok(Step::Op(
                    LogOp::Credential {
                        actor: by,
                        change: CredentialChange::SetPassword { agent, hash, reset },
                    },
                    After::Admin(AdminView::Empty),
                ))
            }
            AdminOp::ListGroups { q, page } => {
                let rows: Vec<Value> = dir
                    .live_groups()
                    .filter(|(g, def)| {
                        (me.roles.admin || dir.is_manager_of(actor, *g))
                            && matches(&q, &[&def.id, &def.name, &def.department])
                    })
                    .map(|(g, _)| self.group_view(g))
                    .collect();
                Ok(Step::Now(Ok(paged("groups", rows, page))))
            }
            AdminOp::GetGroup(id) => {
                let g = self.group_ix(&id)?;
                if !me.roles.admin && !dir.is_manager_of(actor, g) {
                    return Err(forbidden("you do not manage that group"));
                }
                Ok(Step::Now(Ok(self.group_view(g))))
            }
            AdminOp::CreateGroup(new) => {
                let (group, settings) = *new;
                let id = group.id.clone();
                admin(
                    AdminChange::CreateGroup { group, settings },
                    AdminView::Group(id),
                )
            }
            AdminOp::UpdateGroup(id, patch) => {
                let group = self.group_ix(&id)?;
                admin(
                    AdminChange::UpdateGroup {
                        group,
                        patch: *patch,
                    },
                    AdminView::Group(id),
                )
            }
            AdminOp::DeleteGroup(id, move_to) => {
                let group = self.group_ix(&id)?;
                let move_to = move_to.as_deref().map(|m| self.group_ix(m)).transpose()?;
                admin(
                    AdminChange::DeleteGroup { group, move_to },
                    AdminView::Empty,
                )
            }
            AdminOp::ListMembers { group, agent, page } => {
                let g = group.as_deref().map(|id| self.group_ix(id)).transpose()?;
                let a = agent.as_deref().map(|id| self.agent_ix(id)).transpose()?;
                let rows: Vec<Value> = dir
                    .live_groups()
                    .filter(|(gx, _)| {
                        g.is_none_or(|g| g == *gx)
                            && (me.roles.admin || dir.is_manager_of(actor, *gx))
                    })
                    .flat_map(|(gx, _)| dir.members_of(gx).iter().copied())
                    .map(|m| dir.membership(m))
                    .filter(|ms| a.is_none_or(|a| a == ms.agent))
                    .map(|ms| record_json(dir, &AdminRecord::Member(ms.clone())))
                    .collect();
                Ok(Step::Now(Ok(paged("memberships", rows, page))))
            }
            AdminOp::AddMember {
                agent,
                group,
                handling,
                ticket_cap,
                active,
            } => {
                let a = self.agent_ix(&agent)?;
                let g = self.group_ix(&group)?;
                admin(
                    AdminChange::AddMember {
                        membership: Membership {
                            agent: a,
                            group: g,
                            handling,
                            ticket_cap,
                            initially_active: active,
                        },
                    },
                    AdminView::Member(agent, group),
                )
            }
            AdminOp::UpdateMember(group, agent, patch) => {
                let a = self.agent_ix(&agent)?;
                let g = self.group_ix(&group)?;
                admin(
                    AdminChange::UpdateMember {
                        agent: a,
                        group: g,
                        patch,
                    },
                    AdminView::Member(agent, group),
                )
            }
            AdminOp::RemoveMember(group, agent) => {
                let a = self.agent_ix(&agent)?;
                let g = self.group_ix(&group)?;
                admin(
                    AdminChange::RemoveMember { agent: a, group: g },
                    AdminView::Empty,
                )
            }
            AdminOp::ListIntegrations => {
                if !me.roles.admin {
                    return Err(forbidden("integrations are for admins"));
                }
                let rows: Vec<Value> = self
                    .state
                    .credentials()
                    .integrations
                    .iter()
                    .map(|(name, rec)| integration_view(name, rec))
                    .collect();
                Ok(Step::Now(Ok(json!({ "integrations": rows }))))
            }
            AdminOp::CreateIntegration {
                name,
                scope,
                key,
                override_capacity,
                set_presence,
                webhooks,
            } => {
                let (webhook_urls, webhook_secret, shown) = webhooks.resolve(None);
                let change = CredentialChange::CreateIntegration {
                    name: name.clone(),
                    scope,
                    key_sha256: crate::integrations::key_digest_hex(&key),
                    override_capacity,
                    set_presence,
                    webhook_urls: webhook_urls.unwrap_or_default(),
                    webhook_secret,
                };
                Ok(credential_step(
                    by,
                    change,
                    AdminView::Integration(name, Some(key), shown),
                ))
            }
            AdminOp::RotateKey {
                name,
                key,
                overlap_ms,
            } => {
                let change = CredentialChange::RotateKey {
                    name: name.clone(),
                    key_sha256: crate::integrations::key_digest_hex(&key),
                    overlap_ms,
                };
                Ok(credential_step(
                    by,
                    change,
                    AdminView::Integration(name, Some(key), None),
                ))
            }
            AdminOp::UpdateIntegration(name, change) => {
                let held = self
                    .state
                    .credentials()
                    .integrations
                    .get(&name)
                    .and_then(|r| r.webhook_secret.as_deref());
                let (webhook_urls, webhook_secret, shown) = change.webhooks.resolve(held);
                let change = CredentialChange::SetScope {
                    name: name.clone(),
                    scope: change.groups,
                    override_capacity: change.override_capacity,
                    set_presence: change.set_presence,
                    webhook_urls,
                    webhook_secret,
                };
                Ok(credential_step(
                    by,
                    change,
                    AdminView::Integration(name, None, shown),
                ))
            }
            AdminOp::RevokeIntegration(name) => Ok(credential_step(
                by,
                CredentialChange::RevokeIntegration { name },
                AdminView::Empty,
            )),
            AdminOp::GetSettings => Ok(Step::Now(Ok(self.settings_view()))),
            AdminOp::ExportDirectory { with_hashes } => {
                Ok(Step::Now(self.export_directory(actor, with_hashes)))
            }
            AdminOp::ImportDirectory { file, apply } => self.import_directory(actor, &file, apply),
            AdminOp::SetSettings {
                managers_administer,
                managers_set_status,
                status_reasons,
            } => {
                let mut changes = Vec::new();
                if let Some(allowed) = managers_administer {
                    changes.push(AdminChange::SetManagersAdminister { allowed });
                }
                if managers_set_status.is_some() || status_reasons.is_some() {
                    let mut st = self.state.core().directory().status_settings().clone();
                    if let Some(allowed) = managers_set_status {
                        st.managers_set_status = allowed;
                    }
                    if let Some(reasons) = status_reasons {
                        st.reasons = reasons;
                    }
                    changes.push(AdminChange::SetStatusSettings(st));
                }
                match changes.len() {
                    0 => Ok(Step::Now(Ok(self.settings_view()))),
                    1 => admin(changes.remove(0), AdminView::Settings),
                    _ => admin(AdminChange::Batch(changes), AdminView::Settings),
                }
            }
        }
    }

    /// The answer of an applied administration change.
    pub(super) fn admin_view(&self, view: AdminView) -> Value {
        let dir = self.state.core().directory();
        match view {
            AdminView::Agent(id) => dir.agent_ix(&id).map_or(json!({}), |a| self.agent_view(a)),
            AdminView::Group(id) => dir.group_ix(&id).map_or(json!({}), |g| self.group_view(g)),
            AdminView::Member(agent, group) => {
                let m = dir
                    .agent_ix(&agent)
                    .zip(dir.group_ix(&group))
                    .and_then(|(a, g)| dir.member(a, g));
                m.map_or(json!({}), |m| {
                    record_json(dir, &AdminRecord::Member(dir.membership(m).clone()))
                })
            }
            AdminView::Integration(name, key, webhook_secret) => {
                let rec = self.state.credentials().integrations.get(&name);
                let mut v = json!({
                    "integration": rec.map_or(Value::Null, |r| integration_view(&name, r)),
                });
                if let Some(key) = key {
                    v["key"] = json!(key);
                }
                if let Some(secret) = webhook_secret {
                    v["webhook_secret"] = json!(secret);
                }
                v
            }
            AdminView::Settings => self.settings_view(),
            AdminView::Empty => json!({}),
        }
    }

    /// Whether `viewer` may read `target`'s directory record.
    fn admin_may_see(&self, viewer: AgentIx, target: AgentIx) -> bool {
        let dir = self.state.core().directory();
        dir.agent(viewer).roles.admin
            || dir
                .memberships_of(target)
                .iter()
                .any(|&m| dir.is_manager_of(viewer, dir.membership(m).group))
    }

    fn agent_view(&self, a: AgentIx) -> Value {
        let core = self.state.core();
        let dir = core.directory();
        let mut v = record_json(dir, &AdminRecord::Agent(dir.agent(a).clone()));
        v["enabled"] = json!(!core.presence(a).disabled);
        v["logged_in"] = json!(core.presence(a).logged_in);
        v["groups"] = json!(
            dir.memberships_of(a)
                .iter()
                .map(|&m| dir.group(dir.membership(m).group).id.as_str())
                .collect::<Vec<_>>()
        );
        v
    }

    fn group_view(&self, g: GroupIx) -> Value {
        let dir = self.state.core().directory();
        let mut v = record_json(
            dir,
            &AdminRecord::Group(dir.group(g).clone(), *dir.settings(g)),
        );
        v["members"] = json!(dir.members_of(g).len());
        v
    }

    fn settings_view(&self) -> Value {
        let dir = self.state.core().directory();
        json!({
            "managers_administer": dir.managers_administer(),
            "managers_set_status": dir.status_settings().managers_set_status,
            "status_reasons": dir.status_settings().reasons,
        })
    }
}

/// An integration's webhooks as an admin sets them: the URLs (`None`:
/// unchanged), a secret the admin chose, and one drawn for it in case it
/// needs one.
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    /// The URLs (`None`: unchanged; empty: none).
    pub urls: Option<Vec<String>>,
    /// The secret the admin gave.
    pub secret: Option<String>,
    /// A random secret, used when URLs are set and no secret is given or
    /// held.
    pub drawn: String,
}

impl WebhookPatch {
    /// The URLs and secret to store, and the secret to show the admin once
    /// (the drawn one, when it is used). `held`: the integration's secret.
    fn resolve(self, held: Option<&str>) -> (Option<Vec<String>>, Option<String>, Option<String>) {
        let wants_secret = self.urls.as_ref().is_some_and(|u| !u.is_empty());
        match self.secret {
            Some(s) => (self.urls, Some(s), None),
            None if wants_secret && held.is_none() => {
                (self.urls, Some(self.drawn.clone()), Some(self.drawn))
            }
            None => (self.urls, None, None),
        }
    }
}

fn credential_step(by: Actor, change: CredentialChange, view: AdminView) -> Step {
    Step::Op(LogOp::Credential { actor: by, change }, After::Admin(view))
}

/// An integration as the API shows it: never a key, only the first eight
/// hex digits of each key's digest, to tell them apart.
fn integration_view(name: &str, rec: &IntegrationRecord) -> Value {
    let groups = match &rec.scope {
        GroupScope::All => vec!["*".to_string()],
        GroupScope::Only(ids) => ids.clone(),
    };
    let keys: Vec<Value> = rec
        .keys
        .iter()
        .map(
            |k| json!({ "prefix": &k.sha256[..8.min(k.sha256.len())], "expires_at": k.expires_at }),
        )
        .collect();
    json!({ "name": name, "groups": groups, "keys": keys,
        "override_capacity": rec.override_capacity,
        "set_presence": rec.set_presence,
        "webhook_urls": rec.webhook_urls,
        "webhook_secret_set": rec.webhook_secret.is_some() })
}

/// What `PATCH /api/admin/integrations/{name}` changes; `None` keeps.
#[derive(Debug, Clone)]
pub struct IntegrationChange {
    /// The groups it may act in.
    pub groups: Option<GroupScope>,
    /// Whether it may assign work to an agent at its cap.
    pub override_capacity: Option<bool>,
    /// Whether it may set the presence of its groups' agents.
    pub set_presence: Option<bool>,
    /// Its webhooks.
    pub webhooks: WebhookPatch,
}

/// Role names back into roles.
pub fn roles_from(names: &[String]) -> Result<crate::domain::Roles, ApiError> {
    let mut r = crate::domain::Roles::default();
    for n in names {
        match n.as_str() {
            "agent" => r.agent = true,
            "manager" => r.manager = true,
            "admin" => r.admin = true,
            other => {
                return Err(ApiError {
                    code: ErrorCode::InvalidField,
                    message: format!("roles: unknown role {other:?} (agent, manager, admin)"),
                    details: Some(json!({ "field": "roles" })),
                });
            }
        }
    }
    Ok(r)
}
