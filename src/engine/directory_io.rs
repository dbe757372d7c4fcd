//! The directory file as import and export of the live directory: the
//! export writes what the replicas hold now; an import compares a file with
//! it, lists the changes in words, and applies them as one batch (all or
//! nothing) when asked.
//!
//! What an import changes: agents, groups (names, channels, timers) and
//! memberships (handling, ticket cap) are made as the file says, created,
//! changed or deleted. It sets passwords only of the agents it creates (an
//! existing agent keeps its password: it may have changed it since the file
//! was written). Integrations and active cells are left as they are: keys
//! are managed with the integrations API, and cells are the agents' and
//! managers' live switches.

use serde_json::{Value, json};

use super::Engine;
use super::submit::{After, Step};
use crate::api_error::{ApiError, ErrorCode};
use crate::directory_file::{ExportExtras, ExportedIntegration, LoadedDirectory};
use crate::domain::{
    Actor, AdminChange, AgentIx, AgentPatch, Channel, ChannelPatch, Command, GroupPatch, LogOp,
    MemberPatch, Membership,
};

impl Engine {
    /// The live directory as a directory file (admins only).
    pub(super) fn export_directory(
        &self,
        actor: AgentIx,
        with_hashes: bool,
    ) -> Result<Value, ApiError> {
        let core = self.state.core();
        let dir = core.directory();
        if !dir.agent(actor).roles.admin {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "exports are for admins",
            ));
        }
        let credentials = self.state.credentials();
        let active = |m, c| core.is_active(m, c);
        let extras = ExportExtras {
            password_hashes: with_hashes.then_some(&credentials.passwords),
            integrations: credentials
                .integrations
                .iter()
                .filter_map(|(name, rec)| {
                    let key = rec.keys.iter().rfind(|k| k.expires_at.is_none())?;
                    Some(ExportedIntegration {
                        name: name.clone(),
                        scope: rec.scope.clone(),
                        key_sha256: key.sha256.clone(),
                        override_capacity: rec.override_capacity,
                        set_presence: rec.set_presence,
                    })
                })
                .collect(),
            active: &active,
        };
        let text = crate::directory_file::to_toml(dir, &extras)
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("export failed: {e}")))?;
        Ok(json!({ "toml": text }))
    }

    /// The changes that make the live directory what `file` says, in words,
    /// and applied as one batch when `apply` (admins only).
    pub(super) fn import_directory(
        &self,
        actor: AgentIx,
        file: &LoadedDirectory,
        apply: bool,
    ) -> Result<Step, ApiError> {
        let dir = self.state.core().directory();
        if !dir.agent(actor).roles.admin {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "imports are for admins",
            ));
        }
        let want = &file.directory;
        let mut changes = Vec::new();
        let mut words = Vec::new();
        let mut passwords = Vec::new();
        // 1. Agents and groups the file adds or changes.
        for (_, a) in want.live_agents() {
            match dir.agent_ix(&a.id) {
                None => {
                    words.push(json!({ "op": "create_agent", "agent": a.id }));
                    if let Some(h) = file.password_hashes.get(&a.id) {
                        passwords.push((a.id.clone(), h.clone()));
                    }
                    changes.push(AdminChange::CreateAgent(a.clone()));
                }
                Some(ix) if dir.agent(ix) != a => {
                    // Only what differs: an admin importing a file that
                    // renames it must not be refused for "changing" its
                    // own roles to what they are.
                    let live = dir.agent(ix);
                    words.push(json!({ "op": "update_agent", "agent": a.id }));
                    changes.push(AdminChange::UpdateAgent {
                        agent: ix,
                        patch: AgentPatch {
                            name: (live.name != a.name).then(|| a.name.clone()),
                            roles: (live.roles != a.roles).then_some(a.roles),
                            chat_cap: (live.chat_cap != a.chat_cap).then_some(a.chat_cap),
                            manage_own_status: (live.manage_own_status != a.manage_own_status)
                                .then_some(a.manage_own_status),
                            take_assigned: (live.take_assigned != a.take_assigned)
                                .then_some(a.take_assigned),
                        },
                    });
                }
                Some(_) => {}
            }
        }
        for (wg, g) in want.live_groups() {
            let s = *want.settings(wg);
            match dir.group_ix(&g.id) {
                None => {
                    words.push(json!({ "op": "create_group", "group": g.id }));
                    changes.push(AdminChange::CreateGroup {
                        group: g.clone(),
                        settings: s,
                    });
                }
                Some(ix) if dir.group(ix) != g || *dir.settings(ix) != s => {
                    words.push(json!({ "op": "update_group", "group": g.id }));
                    changes.push(AdminChange::UpdateGroup {
                        group: ix,
                        patch: GroupPatch {
                            name: Some(g.name.clone()),
                            department: Some(g.department.clone()),
                            channels: Channel::ALL.map(|c| ChannelPatch {
                                enabled: Some(g.channels[c.index()].enabled),
                                distribution: Some(g.channels[c.index()].distribution),
                                wrap_up_ms: Some(g.channels[c.index()].wrap_up_ms),
                                blocked_by: Some(g.channels[c.index()].blocked_by),
                            }),
                            ring_timeout_ms: Some(s.ring_timeout_ms),
                            no_response_ms: Some(s.no_response_ms),
                            disconnect_ms: Some(s.disconnect_ms),
                            queue_when_offline: Some(s.queue_when_offline),
                            not_responding_after: Some(s.not_responding_after),
                            abandon_after_ms: Some(s.abandon_after_ms),
                            auto_away_ms: Some(s.auto_away_ms),
                            reassign_tickets_after_logout_ms: Some(
                                s.reassign_tickets_after_logout_ms,
                            ),
                        },
                    });
                }
                Some(_) => {}
            }
        }
        // 2. Memberships: those the file drops, then those it adds or
        // changes (an agent or group created above gets its index in the
        // batch order: creates append, so the next free index).
        let mut next_agent = dir.agents().len() as u32;
        let mut next_group = dir.groups().len() as u32;
        let mut agent_of = std::collections::HashMap::new();
        let mut group_of = std::collections::HashMap::new();
        for c in &changes {
            match c {
                AdminChange::CreateAgent(a) => {
                    agent_of.insert(a.id.clone(), AgentIx(next_agent));
                    next_agent += 1;
                }
                AdminChange::CreateGroup { group, .. } => {
                    group_of.insert(group.id.clone(), crate::domain::GroupIx(next_group));
                    next_group += 1;
                }
                _ => {}
            }
        }
        let agent_ix = |id: &str| dir.agent_ix(id).or_else(|| agent_of.get(id).copied());
        let group_ix = |id: &str| dir.group_ix(id).or_else(|| group_of.get(id).copied());
        for (g, gdef) in dir.live_groups() {
            for &m in dir.members_of(g) {
                let ms = dir.membership(m);
                let aid = &dir.agent(ms.agent).id;
                let kept = want
                    .agent_ix(aid)
                    .zip(want.group_ix(&gdef.id))
                    .and_then(|(a, g)| want.member(a, g));
                if kept.is_none() {
                    words.push(json!({ "op": "remove_member", "agent": aid, "group": gdef.id }));
                    changes.push(AdminChange::RemoveMember {
                        agent: ms.agent,
                        group: g,
                    });
                }
            }
        }
        for (wg, g) in want.live_groups() {
            for &m in want.members_of(wg) {
                let w = want.membership(m);
                let aid = &want.agent(w.agent).id;
                let (Some(a), Some(gx)) = (agent_ix(aid), group_ix(&g.id)) else {
                    continue;
                };
                let live = dir
                    .agent_ix(aid)
                    .zip(dir.group_ix(&g.id))
                    .and_then(|(a, g)| dir.member(a, g));
                match live {
                    None => {
                        words.push(json!({ "op": "add_member", "agent": aid, "group": g.id }));
                        changes.push(AdminChange::AddMember {
                            membership: Membership {
                                agent: a,
                                group: gx,
                                handling: w.handling,
                                ticket_cap: w.ticket_cap,
                                initially_active: w.initially_active,
                            },
                        });
                    }
                    Some(lm) => {
                        let l = dir.membership(lm);
                        if l.handling != w.handling || l.ticket_cap != w.ticket_cap {
                            words.push(
                                json!({ "op": "update_member", "agent": aid, "group": g.id }),
                            );
                            changes.push(AdminChange::UpdateMember {
                                agent: a,
                                group: gx,
                                patch: MemberPatch {
                                    handling: Some(w.handling),
                                    ticket_cap: Some(w.ticket_cap),
                                },
                            });
                        }
                    }
                }
            }
        }
        // 3. Groups and agents the file no longer has.
        for (g, gdef) in dir.live_groups() {
            if want.group_ix(&gdef.id).is_none() {
                words.push(json!({ "op": "delete_group", "group": gdef.id }));
                changes.push(AdminChange::DeleteGroup {
                    group: g,
                    move_to: None,
                });
            }
        }
        for (a, adef) in dir.live_agents() {
            if want.agent_ix(&adef.id).is_none() {
                words.push(json!({ "op": "delete_agent", "agent": adef.id }));
                changes.push(AdminChange::DeleteAgent { agent: a });
            }
        }
        if file.has_statuses && want.status_settings() != dir.status_settings() {
            words.push(json!({ "op": "set_statuses" }));
            changes.push(AdminChange::SetStatusSettings(
                want.status_settings().clone(),
            ));
        }
        let summary = json!({ "changes": words, "applied": apply && !changes.is_empty() });
        if !apply || changes.is_empty() {
            return Ok(Step::Now(Ok(summary)));
        }
        Ok(Step::Op(
            LogOp::Administer {
                command: Command::Admin {
                    actor: Actor::Agent(actor),
                    change: Box::new(AdminChange::Batch(changes)),
                },
                passwords,
            },
            After::Value(summary),
        ))
    }
}
