//! HTTP endpoints of the administration API (`/api/admin/…`, and
//! `POST /api/password` for one's own password): parse and check the body,
//! hash passwords off the async threads, and hand the engine one
//! [`AdminOp`]. The resources and their rules are in docs/protocol.md.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::http::{agent_caller, ask_keyed, body, idempotency_key};
use super::json_body::JsonBody;
use crate::api_error::{ApiError, ErrorCode};
use crate::domain::{
    AgentDef, AgentPatch, Channel, ChannelConfig, ChannelPatch, Distribution, GroupDef, GroupPatch,
    GroupScope, GroupSettings, Handling, MemberPatch,
};
use crate::engine::{
    AdminOp, Caller, HttpOp, IntegrationChange, Page, Request, WebhookPatch, roles_from,
};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (argon2 takes any length; this bounds the work).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Largest directory file an import takes (8 MiB: some 30,000 agents).
pub const MAX_DIRECTORY_BYTES: usize = 8 * 1024 * 1024;
/// Default overlap of a rotated key: one hour.
const DEFAULT_OVERLAP_SECONDS: u64 = 3_600;
/// Longest overlap of a rotated key: 30 days.
const MAX_OVERLAP_SECONDS: u64 = 30 * 86_400;

fn field_error(field: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        code: ErrorCode::InvalidField,
        message: message.into(),
        details: Some(json!({ "field": field })),
    }
}

pub(super) async fn ask(
    state: &AppState,
    headers: &HeaderMap,
    op: AdminOp,
) -> Result<Value, ApiError> {
    let caller = Caller::Agent(agent_caller(state, headers).await?);
    let key = idempotency_key(headers)?;
    ask_keyed(state, caller, HttpOp::Admin(op), key).await
}

async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    op: AdminOp,
) -> Result<Json<Value>, ApiError> {
    ask(state, headers, op).await.map(Json)
}

async fn created(state: &AppState, headers: &HeaderMap, op: AdminOp) -> Result<Response, ApiError> {
    let v = ask(state, headers, op).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// Checks a new password against the policy and hashes it (argon2, on a
/// blocking thread: it takes tens of milliseconds on purpose).
async fn hashed(password: String, field: &str) -> Result<String, ApiError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(field_error(
            field,
            format!("{field} must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(field_error(
            field,
            format!("{field} must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "hashing the password failed"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    q: Option<String>,
    group: Option<String>,
    agent: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

impl ListQuery {
    fn page(&self) -> Page {
        Page {
            offset: self.offset,
            limit: self.limit.unwrap_or(50),
        }
    }
}

fn query<T>(q: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::new(ErrorCode::InvalidField, e.body_text()))
}

// ----- agents -----

/// `GET /api/admin/agents`.
pub(super) async fn list_agents(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let page = q.page();
    answer(
        &state,
        &headers,
        AdminOp::ListAgents {
            q: q.q,
            group: q.group,
            page,
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewAgent {
    id: String,
    name: String,
    password: String,
    roles: Option<Vec<String>>,
    chat_cap: Option<u32>,
    manage_own_status: Option<bool>,
    take_assigned: Option<bool>,
}

/// `POST /api/admin/agents`.
pub(super) async fn create_agent(
    State(state): State<AppState>,
    headers: HeaderMap,
    payload: JsonBody<NewAgent>,
) -> Result<Response, ApiError> {
    let b = body(payload)?;
    let roles = roles_from(&b.roles.unwrap_or_else(|| vec!["agent".into()]))?;
    let def = AgentDef {
        id: b.id,
        name: b.name,
        roles,
        chat_cap: b.chat_cap.unwrap_or(3),
        manage_own_status: b.manage_own_status.unwrap_or(true),
        take_assigned: b.take_assigned.unwrap_or(false),
    };
    if def.id.is_empty()
        || def.id.len() > 64
        || def.id.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(field_error(
            "id",
            "id must be 1 to 64 characters without spaces",
        ));
    }
    let hash = hashed(b.password, "password").await?;
    created(&state, &headers, AdminOp::CreateAgent(def, hash)).await
}

/// `GET /api/admin/agents/{id}`.
pub(super) async fn get_agent(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    answer(&state, &headers, AdminOp::GetAgent(id)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AgentChanges {
    name: Option<String>,
    roles: Option<Vec<String>>,
    chat_cap: Option<u32>,
    manage_own_status: Option<bool>,
    take_assigned: Option<bool>,
}

/// `PATCH /api/admin/agents/{id}`.
pub(super) async fn update_agent(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    payload: JsonBody<AgentChanges>,
) -> Result<Json<Value>, ApiError> {
    let b = body(payload)?;
    let patch = AgentPatch {
        name: b.name,
        roles: b.roles.as_deref().map(roles_from).transpose()?,
        chat_cap: b.chat_cap,
        manage_own_status: b.manage_own_status,
        take_assigned: b.take_assigned,
    };
    answer(&state, &headers, AdminOp::UpdateAgent(id, patch)).await
}

/// `DELETE /api/admin/agents/{id}`: the agent is logged out at once, its
/// tokens revoked, its work handed back to routing.
pub(super) async fn delete_agent(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    ask(&state, &headers, AdminOp::DeleteAgent(id.clone())).await?;
    revoke_tokens(&state, &id).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke_tokens(state: &AppState, agent: &str) {
    if let Err(e) = state.auth.revoke_agent(agent).await {
        tracing::warn!(agent, error = %e, "could not revoke the agent's tokens");
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewPassword {
    password: String,
}

/// `POST /api/admin/agents/{id}/password`: an admin resets a password;
/// every session and token of the agent ends.
pub(super) async fn reset_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    payload: JsonBody<NewPassword>,
) -> Result<StatusCode, ApiError> {
    let b = body(payload)?;
    let caller = agent_caller(&state, &headers).await?;
    if caller == id {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "change your own password with POST /api/password (your old one is asked)",
        ));
    }
    let hash = hashed(b.password, "password").await?;
    let op = AdminOp::SetPassword {
        agent: id.clone(),
        hash,
        reset: true,
    };
    ask(&state, &headers, op).await?;
    revoke_tokens(&state, &id).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordChange {
    old_password: String,
    new_password: String,
}

/// `POST /api/password`: an agent changes its own password; the old one is
/// checked first. Its sessions go on.
pub(super) async fn change_own_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    payload: JsonBody<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let b = body(payload)?;
    let me = agent_caller(&state, &headers).await?;
    let auth = state.auth.clone();
    let who = me.clone();
    let old = b.old_password;
    let ok = tokio::task::spawn_blocking(move || auth.verify_password(&who, &old))
        .await
        .unwrap_or(false);
    if !ok {
        return Err(field_error("old_password", "the old password is wrong"));
    }
    let hash = hashed(b.new_password, "new_password").await?;
    let caller = Caller::Agent(me.clone());
    let op = HttpOp::Admin(AdminOp::SetPassword {
        agent: me,
        hash,
        reset: false,
    });
    state
        .engine
        .call(|answer| Request::Http { caller, op, answer })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- groups -----

/// `GET /api/admin/groups`.
pub(super) async fn list_groups(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let page = q.page();
    answer(&state, &headers, AdminOp::ListGroups { q: q.q, page }).await
}

/// One channel of a group as the body gives it.
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub(super) struct ChannelBody {
    enabled: Option<bool>,
    distribution: Option<Distribution>,
    wrap_up_ms: Option<u64>,
    /// Held items per channel that keep this channel's new work away;
    /// channels left out do not block.
    blocked_by: Option<PerChannel<u32>>,
}

impl ChannelBody {
    fn blocked_by(&self) -> Option<[u32; 3]> {
        self.blocked_by
            .map(|b| Channel::ALL.map(|c| b.get(c).unwrap_or(0)))
    }
}

/// Per channel values (`{"chat": …, "ticket": …, "voice": …}`), each
/// optional.
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub(super) struct PerChannel<T> {
    chat: Option<T>,
    ticket: Option<T>,
    voice: Option<T>,
}

impl<T: Copy> PerChannel<T> {
    fn get(&self, c: Channel) -> Option<T> {
        match c {
            Channel::Chat => self.chat,
            Channel::Ticket => self.ticket,
            Channel::Voice => self.voice,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupBody {
    id: Option<String>,
    name: Option<String>,
    department: Option<String>,
    #[serde(default)]
    channels: PerChannel<ChannelBody>,
    ring_timeout_ms: Option<u64>,
    no_response_ms: Option<u64>,
    disconnect_ms: Option<u64>,
    queue_when_offline: Option<bool>,
    not_responding_after: Option<u32>,
    abandon_after_ms: Option<u64>,
    auto_away_ms: Option<u64>,
    #[serde(default, deserialize_with = "some_or_null")]
    reassign_tickets_after_logout_ms: Option<Option<u64>>,
}

impl GroupBody {
    fn patch(&self) -> GroupPatch {
        GroupPatch {
            name: self.name.clone(),
            department: self.department.clone(),
            channels: Channel::ALL.map(|c| {
                let b = self.channels.get(c).unwrap_or_default();
                ChannelPatch {
                    enabled: b.enabled,
                    distribution: b.distribution,
                    wrap_up_ms: b.wrap_up_ms,
                    blocked_by: b.blocked_by(),
                }
            }),
            ring_timeout_ms: self.ring_timeout_ms,
            no_response_ms: self.no_response_ms,
            disconnect_ms: self.disconnect_ms,
            queue_when_offline: self.queue_when_offline,
            not_responding_after: self.not_responding_after,
            abandon_after_ms: self.abandon_after_ms,
            auto_away_ms: self.auto_away_ms,
            reassign_tickets_after_logout_ms: self.reassign_tickets_after_logout_ms,
        }
    }
}

/// `POST /api/admin/groups`.
pub(super) async fn create_group(
    State(state): State<AppState>,
    headers: HeaderMap,
    payload: JsonBody<GroupBody>,
) -> Result<Response, ApiError> {
    let b = body(payload)?;
    let id =
        b.id.clone()
            .ok_or_else(|| field_error("id", "id is required"))?;
    let name = b
        .name
        .clone()
        .ok_or_else(|| field_error("name", "name is required"))?;
    let defaults = GroupSettings::default();
    let def = GroupDef {
        id,
        name,
        department: b.department.clone().unwrap_or_default(),
        channels: Channel::ALL.map(|c| {
            let cb = b.channels.get(c).unwrap_or_default();
            ChannelConfig {
                enabled: cb.enabled.unwrap_or(true),
                distribution: cb.distribution.unwrap_or_default(),
                wrap_up_ms: cb.wrap_up_ms.unwrap_or(0),
                blocked_by: cb.blocked_by().unwrap_or_default(),
            }
        }),
    };
    let settings = GroupSettings {
        ring_timeout_ms: b.ring_timeout_ms.unwrap_or(defaults.ring_timeout_ms),
        no_response_ms: b.no_response_ms.unwrap_or(defaults.no_response_ms),
        disconnect_ms: b.disconnect_ms.unwrap_or(defaults.disconnect_ms),
        queue_when_offline: b.queue_when_offline.unwrap_or(defaults.queue_when_offline),
        not_responding_after: b
            .not_responding_after
            .unwrap_or(defaults.not_responding_after),
        abandon_after_ms: b.abandon_after_ms.unwrap_or(defaults.abandon_after_ms),
        auto_away_ms: b.auto_away_ms.unwrap_or(defaults.auto_away_ms),
        reassign_tickets_after_logout_ms: b.reassign_tickets_after_logout_ms.flatten(),
    };
    created(
        &state,
        &headers,
        AdminOp::CreateGroup(Box::new((def, settings))),
    )
    .await
}

/// `GET /api/admin/groups/{id}`.
pub(super) async fn get_group(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    answer(&state, &headers, AdminOp::GetGroup(id)).await
}

/// `PATCH /api/admin/groups/{id}`.
pub(super) async fn update_group(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    payload: JsonBody<GroupBody>,
) -> Result<Json<Value>, ApiError> {
    let b = body(payload)?;
    if b.id.as_ref().is_some_and(|new| *new != id) {
        return Err(field_error("id", "a group's id never changes"));
    }
    answer(
        &state,
        &headers,
        AdminOp::UpdateGroup(id, Box::new(b.patch())),
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeleteGroupQuery {
    move_to: Option<String>,
}

/// `DELETE /api/admin/groups/{id}[?move_to=…]`.
pub(super) async fn delete_group(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<DeleteGroupQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let q = query(q)?;
    ask(&state, &headers, AdminOp::DeleteGroup(id, q.move_to)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- memberships -----

/// `GET /api/admin/memberships`.
pub(super) async fn list_members(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let page = q.page();
    answer(
        &state,
        &headers,
        AdminOp::ListMembers {
            group: q.group,
            agent: q.agent,
            page,
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MemberBody {
    agent: Option<String>,
    group: Option<String>,
    #[serde(default)]
    handling: PerChannel<Handling>,
    #[serde(default, deserialize_with = "some_or_null")]
    ticket_cap: Option<Option<u32>>,
    #[serde(default)]
    active: PerChannel<bool>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn some_or_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /api/admin/memberships`.
pub(super) async fn add_member(
    State(state): State<AppState>,
    headers: HeaderMap,
    payload: JsonBody<MemberBody>,
) -> Result<Response, ApiError> {
    let b = body(payload)?;
    let agent = b
        .agent
        .clone()
        .ok_or_else(|| field_error("agent", "agent is required"))?;
    let group = b
        .group
        .clone()
        .ok_or_else(|| field_error("group", "group is required"))?;
    let op = AdminOp::AddMember {
        agent,
        group,
        handling: Channel::ALL.map(|c| b.handling.get(c).unwrap_or_default()),
        ticket_cap: b.ticket_cap.flatten(),
        active: Channel::ALL.map(|c| b.active.get(c).unwrap_or(true)),
    };
    created(&state, &headers, op).await
}

/// `PATCH /api/admin/memberships/{group}/{agent}`.
pub(super) async fn update_member(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((group, agent)): Path<(String, String)>,
    payload: JsonBody<MemberBody>,
) -> Result<Json<Value>, ApiError> {
    let b = body(payload)?;
    if b.agent.is_some() || b.group.is_some() {
        return Err(field_error(
            "agent",
            "the path names the membership; agent and group never change",
        ));
    }
    let current = ask(
        &state,
        &headers,
        AdminOp::ListMembers {
            group: Some(group.clone()),
            agent: Some(agent.clone()),
            page: Page {
                offset: 0,
                limit: 1,
            },
        },
    )
    .await?;
    let row = &current["memberships"][0];
    if row.is_null() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("{agent} is not a member of {group}"),
        ));
    }
    let any_handling = Channel::ALL.iter().any(|&c| b.handling.get(c).is_some());
    let handling = any_handling.then(|| {
        Channel::ALL.map(|c| {
            b.handling.get(c).unwrap_or_else(|| {
                serde_json::from_value(row["handling"][c.as_str()].clone()).unwrap_or_default()
            })
        })
    });
    let patch = MemberPatch {
        handling,
        ticket_cap: b.ticket_cap,
    };
    answer(&state, &headers, AdminOp::UpdateMember(group, agent, patch)).await
}

/// `DELETE /api/admin/memberships/{group}/{agent}`: the member's work in
/// the group goes back to routing, created-at kept.
pub(super) async fn remove_member(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((group, agent)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    ask(&state, &headers, AdminOp::RemoveMember(group, agent)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- integrations -----

/// `GET /api/admin/integrations`.
pub(super) async fn list_integrations(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    answer(&state, &headers, AdminOp::ListIntegrations).await
}

fn scope_of(groups: Vec<String>) -> Result<GroupScope, ApiError> {
    if groups.is_empty() {
        return Err(field_error(
            "groups",
            "groups must list group ids, or [\"*\"] for every group",
        ));
    }
    Ok(if groups.iter().any(|g| g == "*") {
        GroupScope::All
    } else {
        GroupScope::Only(groups)
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IntegrationBody {
    name: String,
    groups: Vec<String>,
    #[serde(default)]
    override_capacity: bool,
    #[serde(default)]
    set_presence: bool,
    #[serde(default)]
    webhook_urls: Option<Vec<String>>,
    #[serde(default)]
    webhook_secret: Option<String>,
}

fn webhook_patch(urls: Option<Vec<String>>, secret: Option<String>) -> WebhookPatch {
    WebhookPatch {
        urls,
        secret,
        drawn: crate::auth::random_secret(),
    }
}

/// `POST /api/admin/integrations`: the answer holds the new key, the only
/// time it is shown.
pub(super) async fn create_integration(
    State(state): State<AppState>,
    headers: HeaderMap,
    payload: JsonBody<IntegrationBody>,
) -> Result<Response, ApiError> {
    let b = body(payload)?;
    let op = AdminOp::CreateIntegration {
        name: b.name,
        scope: scope_of(b.groups)?,
        key: crate::integrations::new_key(),
        override_capacity: b.override_capacity,
        set_presence: b.set_presence,
        webhooks: webhook_patch(b.webhook_urls, b.webhook_secret),
    };
    created(&state, &headers, op).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RotateBody {
    overlap_seconds: Option<u64>,
}

/// `POST /api/admin/integrations/{name}/rotate`: a new key; the older ones
/// keep working for the overlap.
pub(super) async fn rotate_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    payload: JsonBody<RotateBody>,
) -> Result<Json<Value>, ApiError> {
    let b = body(payload)?;
    let overlap = b.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
    if overlap > MAX_OVERLAP_SECONDS {
        return Err(field_error(
            "overlap_seconds",
            format!("overlap_seconds must be at most {MAX_OVERLAP_SECONDS} (30 days)"),
        ));
    }
    let op = AdminOp::RotateKey {
        name,
        key: crate::integrations::new_key(),
        overlap_ms: overlap * 1_000,
    };
    answer(&state, &headers, op).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScopeBody {
    groups: Option<Vec<String>>,
    override_capacity: Option<bool>,
    set_presence: Option<bool>,
    #[serde(default)]
    webhook_urls: Option<Vec<String>>,
    #[serde(default)]
    webhook_secret: Option<String>,
}

/// `PATCH /api/admin/integrations/{name}`: a new scope, permissions
/// (override capacity, set presence), or several, in one change.
pub(super) async fn update_integration(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    payload: JsonBody<ScopeBody>,
) -> Result<Json<Value>, ApiError> {
    let b = body(payload)?;
    let change = IntegrationChange {
        groups: b.groups.map(scope_of).transpose()?,
        override_capacity: b.override_capacity,
        set_presence: b.set_presence,
        webhooks: webhook_patch(b.webhook_urls, b.webhook_secret),
    };
    answer(&state, &headers, AdminOp::UpdateIntegration(name, change)).await
}

/// `DELETE /api/admin/integrations/{name}`: every key of it stops working.
pub(super) async fn revoke_integration(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    ask(&state, &headers, AdminOp::RevokeIntegration(name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- settings -----

/// `GET /api/admin/settings`.
pub(super) async fn get_settings(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    answer(&state, &headers, AdminOp::GetSettings).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SettingsBody {
    #[serde(default)]
    managers_administer: Option<bool>,
    #[serde(default)]
    managers_set_status: Option<bool>,
    #[serde(default)]
    status_reasons: Option<Vec<crate::domain::AwayReason>>,
}

/// `PATCH /api/admin/settings`.
pub(super) async fn set_settings(
    State(state): State<AppState>,
    headers: HeaderMap,
    payload: JsonBody<SettingsBody>,
) -> Result<Json<Value>, ApiError> {
    let b = body(payload)?;
    answer(
        &state,
        &headers,
        AdminOp::SetSettings {
            managers_administer: b.managers_administer,
            managers_set_status: b.managers_set_status,
            status_reasons: b.status_reasons,
        },
    )
    .await
}

// ----- the directory file -----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExportQuery {
    #[serde(default)]
    password_hashes: bool,
}

/// `GET /api/admin/directory[?password_hashes=true]`: the live directory
/// as a directory file (TOML), admins only.
pub(super) async fn export_directory(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let v = ask(
        &state,
        &headers,
        AdminOp::ExportDirectory {
            with_hashes: q.password_hashes,
        },
    )
    .await?;
    let text = v["toml"].as_str().unwrap_or_default().to_string();
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/toml; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImportQuery {
    #[serde(default)]
    apply: bool,
}

/// `POST /api/admin/directory/import[?apply=true]` with a directory file
/// (TOML) as the body: the changes it would make, applied as one when
/// `apply`.
pub(super) async fn import_directory(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    text: Result<String, axum::extract::rejection::StringRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let text = text.map_err(|e| {
        let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ErrorCode::TooLarge
        } else {
            ErrorCode::BadRequest
        };
        ApiError::new(code, e.body_text())
    })?;
    let file = crate::directory_file::parse(&text)
        .map_err(|e| ApiError::new(ErrorCode::InvalidField, e.to_string()))?;
    answer(
        &state,
        &headers,
        AdminOp::ImportDirectory {
            file: Box::new(file),
            apply: q.apply,
        },
    )
    .await
}
