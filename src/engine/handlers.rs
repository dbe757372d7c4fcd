//! The engine's one `match` over requests, and a `handle_*` per request.

use serde_json::{Value, json};

use super::Engine;
use super::accounts::account_disabled;
use super::local::SessionEntry;
use super::outbox::{CloseReason, OutboxSender};
use super::request::{Caller, CellSpec, HttpOp, Request, SessionOp};
use super::scope;
use super::submit::{After, Pending, Step, item_step};
use super::views;
use crate::api_error::{ApiError, ErrorCode};
use crate::domain::{
    Actor, AgentIx, CellChange, Channel, Command, DomainError, GroupIx, ItemId, LogOp, Verdict,
};
use crate::replica::audit::AuditQuery;

fn to_value(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn forbidden(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Forbidden, msg)
}

impl Engine {
    /// Applies one request. The single dispatch point of the engine.
    pub(super) fn handle(&mut self, req: Request) {
        match req {
            Request::Connect {
                agent,
                outbox,
                resume,
                login,
                answer,
            } => match self.agent_ix(&agent) {
                Ok(a) => self.handle_connect(a, outbox, resume, login, answer),
                Err(e) => {
                    let _ = answer.send(Err(e));
                }
            },
            Request::CutOff => self.cut_off(),
            Request::Rejoined { old, new } => self.rejoined(old, new),
            Request::Keyed { key, request } => {
                self.proposals.key = self.scoped_key(&request, &key);
                self.handle(*request);
                self.proposals.key = None;
            }
            Request::Disconnect { session } => self.handle_disconnect(session),
            Request::Logout { login, answer } => self.handle_logout(login, answer),
            Request::Session {
                session,
                op,
                answer,
            } => {
                let step = self.handle_session_op(session, op);
                self.run_step(step, answer);
            }
            Request::Watch {
                session,
                group,
                pieces,
                answer,
            } => {
                let board = self.watch(session, group).map(|groups| {
                    if pieces {
                        self.board_head(groups)
                    } else {
                        super::WatchAnswer::Whole(self.board_snapshot(&groups))
                    }
                });
                let _ = answer.send(board);
            }
            Request::WatchPiece {
                cursor,
                out,
                limit,
                answer,
            } => {
                let _ = answer.send(Ok(self.board_piece(cursor, out, limit)));
            }
            Request::Http { caller, op, answer } => {
                let step = self.handle_http(caller, op);
                self.run_step(step, answer);
            }
            Request::Replicated { entries } => {
                let upto = entries.last().map(|(id, _)| id.clone());
                for (id, entry) in entries {
                    self.apply_logged(id, entry);
                }
                if let Some(upto) = upto {
                    self.send_events(upto);
                }
            }
            Request::Snapshot { answer } => {
                let _ = answer.send(self.state.snapshot());
            }
            Request::Restore {
                snapshot,
                audit,
                answer,
            } => {
                let at = snapshot.after.clone();
                let restored = self.restore_snapshot(*snapshot);
                if restored.is_ok() {
                    // Whoever stored the snapshot wrote the events up to it.
                    self.send_events(at);
                    self.state.replace_audit(audit);
                    let dir = self.state.core().directory();
                    self.local.grow(dir.agents().len(), dir.groups().len());
                    self.publish_credentials();
                }
                let _ = answer.send(restored);
            }
            Request::ProposalsAppended { reqs } => self.proposals_appended(reqs),
            Request::ProposalFailed { req, error } => self.proposal_failed(req, error),
            Request::VisitorConnect {
                token,
                outbox,
                answer,
            } => {
                let _ = answer.send(self.visitor_connect(&token, outbox));
            }
            Request::VisitorDisconnect { item } => self.visitor_disconnect(item),
            Request::VisitorMessage { item, text, answer } => {
                let step = self.chat_message(item, None, text);
                self.run_step(step, answer);
            }
            Request::GoingAway { answer } => {
                self.handle_going_away();
                let _ = answer.send(());
            }
            Request::SessionCount { answer } => {
                let _ = answer.send(self.local.by_id.len());
            }
        }
    }

    /// A client's key scoped to who asks, so that two callers' keys never
    /// meet: `a:AGENT:KEY` or `i:INTEGRATION:KEY`.
    fn scoped_key(&self, request: &Request, key: &str) -> Option<String> {
        match request {
            Request::Http {
                caller: Caller::Agent(id),
                ..
            } => Some(format!("a:{id}:{key}")),
            Request::Http {
                caller: Caller::Integration(i),
                ..
            } => Some(format!("i:{}:{key}", i.name)),
            Request::Session { session, .. } => {
                let agent = self.local.by_id.get(session)?.agent;
                let id = &self.state.core().directory().agent(agent).id;
                Some(format!("a:{id}:{key}"))
            }
            _ => None,
        }
    }

    pub(super) fn agent_ix(&self, id: &str) -> Result<AgentIx, ApiError> {
        self.state
            .core()
            .directory()
            .agent_ix(id)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no agent {id:?}")))
    }

    pub(super) fn group_ix(&self, id: &str) -> Result<GroupIx, ApiError> {
        self.state
            .core()
            .directory()
            .group_ix(id)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no group {id:?}")))
    }

    /// Puts a domain refusal into words, with names instead of indices.
    pub(super) fn domain_error(&self, e: DomainError) -> ApiError {
        if matches!(e, DomainError::AlreadyTaken { .. }) {
            super::stats::take_lost();
        }
        crate::replica::errors::api_error(self.state.core().directory(), e)
    }

    pub(super) fn item_value(&self, id: ItemId) -> Value {
        match self.state.core().item(id) {
            Some(item) => to_value(views::item(self.state.core(), item)),
            None => json!({ "id": id, "state": "closed" }),
        }
    }

    pub(super) fn status_value(&self, a: AgentIx) -> Value {
        to_value(views::agent_status(self.state.core(), a, None))
    }

    fn handle_connect(
        &mut self,
        a: AgentIx,
        outbox: OutboxSender,
        resume: Option<u64>,
        login: String,
        answer: super::Answer<u64>,
    ) {
        if self.rejoining {
            let _ = answer.send(Err(ApiError::new(
                ErrorCode::Unavailable,
                "this node is rejoining the cluster: connect to another node or retry",
            )));
            return;
        }
        let session = self.new_session_id();
        self.submit(
            Command::OpenSession { agent: a, session },
            After::Connect {
                agent: a,
                session,
                outbox,
                resume,
                login,
            },
            Pending::Session(answer),
        );
    }

    /// Auto-away: switches unavailable every available agent all of whose
    /// sessions are on this node and idle past its limit (the shortest of
    /// its groups', else the server's); an agent with a tab on another node
    /// is that node's to judge, or active there.
    pub(super) fn auto_away_idle_agents(&mut self) {
        let now = super::now_ms();
        let node = self.node;
        let idle: Vec<AgentIx> = (0..self.local.of_agent.len())
            .map(|i| AgentIx(i as u32))
            .filter(|a| {
                let core = self.state.core();
                let Some(limit) = core.directory().auto_away_ms(*a).or(self.auto_away_ms) else {
                    return false;
                };
                let p = core.presence(*a);
                p.available
                    && !self.local.of_agent[a.0 as usize].is_empty()
                    && p.sessions.iter().all(|s| (s >> 32) as u32 == node)
                    && now.saturating_sub(self.local.last_activity[a.0 as usize]) >= limit
            })
            .collect();
        for agent in idle {
            // Not again until the agent is active again.
            self.local.last_activity[agent.0 as usize] = now;
            self.submit(Command::AutoAway { agent }, After::Nothing, Pending::None);
        }
    }

    /// Registers a session whose `OpenSession` was applied. Its first frame
    /// is `resumed` followed by every push it missed since `resume`, when the
    /// recent pushes still hold them; otherwise a fresh `welcome`.
    pub(super) fn register_session(
        &mut self,
        a: AgentIx,
        session: u64,
        outbox: OutboxSender,
        resume: Option<u64>,
        login: String,
    ) {
        let missed = resume.and_then(|seen| {
            self.recent
                .missed(self.state.core(), a, seen, self.state.seq())
        });
        match missed {
            Some(frames) => {
                let head = json!({ "type": "resumed", "seq": self.state.seq(), "session": session,
                    "missed": frames.len() });
                outbox.push(head.to_string().into());
                for f in frames {
                    outbox.push(f);
                }
            }
            None => {
                let mut welcome = views::welcome(self.state.core(), a, session, self.state.seq());
                welcome.chats = self.held_chats(a);
                let frame = serde_json::to_string(&welcome).unwrap_or_default();
                outbox.push(frame.into());
            }
        }
        self.local.last_activity[a.0 as usize] = super::now_ms();
        self.local.by_id.insert(
            session,
            SessionEntry {
                agent: a,
                login: crate::auth::login_key(&login),
                outbox,
                watching: Vec::new(),
            },
        );
        self.local.of_agent[a.0 as usize].push(session);
    }

    /// Forgets a local session; the core starts the agent's grace if it was
    /// the last one.
    pub(super) fn handle_disconnect(&mut self, session: u64) {
        let Some(entry) = self.local.by_id.remove(&session) else {
            return;
        };
        self.local.of_agent[entry.agent.0 as usize].retain(|&s| s != session);
        for g in entry.watching {
            self.local.watchers[g.0 as usize].retain(|&s| s != session);
        }
        self.submit(
            Command::CloseSession {
                agent: entry.agent,
                session,
            },
            After::Nothing,
            Pending::None,
        );
    }

    fn handle_going_away(&mut self) {
        // The core is not told: a restart is not a logout.
        self.drop_local_sessions(CloseReason::ServerGoingAway);
    }

    /// Tells every local console to reconnect and drops its session here
    /// (dropping the senders ends every socket task).
    pub(super) fn drop_local_sessions(&mut self, reason: CloseReason) {
        let frame: super::Frame = json!({ "type": "closing", "reason": reason.as_str() })
            .to_string()
            .into();
        for entry in self.local.by_id.values() {
            entry.outbox.push(frame.clone());
            entry.outbox.close(reason);
        }
        self.local.by_id.clear();
        self.local.of_agent.iter_mut().for_each(Vec::clear);
        self.local.watchers.iter_mut().for_each(Vec::clear);
    }

    fn resolve_target(&self, actor: AgentIx, agent: Option<String>) -> Result<AgentIx, ApiError> {
        match agent {
            None => Ok(actor),
            Some(id) => self.agent_ix(&id),
        }
    }

    fn handle_session_op(&mut self, session: u64, op: SessionOp) -> Step {
        match self.session_step(session, op) {
            Ok(step) => step,
            Err(e) => Step::Now(Err(e)),
        }
    }

    fn session_step(&mut self, session: u64, op: SessionOp) -> Result<Step, ApiError> {
        let actor = self
            .local
            .by_id
            .get(&session)
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "session is closed"))?
            .agent;
        self.local.last_activity[actor.0 as usize] = super::now_ms();
        let now = |v: Result<Value, ApiError>| v.map(|v| Step::Now(Ok(v)));
        match op {
            SessionOp::SetAvailability { available } => Ok(Step::Submit(
                Command::SetAvailability {
                    agent: actor,
                    available,
                },
                After::Status(actor),
            )),
            SessionOp::Ready => Ok(Step::Submit(
                Command::Ready { agent: actor },
                After::Status(actor),
            )),
            SessionOp::SetStatus { agent, status } => {
                let target = self.resolve_target(actor, agent)?;
                Ok(Step::Submit(
                    Command::SetStatus {
                        actor,
                        agent: target,
                        status,
                    },
                    After::Status(target),
                ))
            }
            SessionOp::SetActive { agent, cells } => {
                let target = self.resolve_target(actor, agent)?;
                let cells = cells
                    .into_iter()
                    .map(
                        |CellSpec {
                             group,
                             channel,
                             active,
                         }| {
                            Ok((self.group_ix(&group)?, channel, active))
                        },
                    )
                    .collect::<Result<Vec<_>, ApiError>>()?;
                Ok(self.set_cells(actor, target, CellChange::Cells(cells)))
            }
            SessionOp::SetActiveColumn {
                agent,
                channel,
                active,
            } => {
                let target = self.resolve_target(actor, agent)?;
                Ok(self.set_cells(actor, target, CellChange::Column(channel, active)))
            }
            SessionOp::SetActiveRow {
                agent,
                group,
                active,
            } => {
                let target = self.resolve_target(actor, agent)?;
                let g = self.group_ix(&group)?;
                Ok(self.set_cells(actor, target, CellChange::Row(g, active)))
            }
            SessionOp::Take { item } => Ok(item_step(Command::Take { actor, item })),
            SessionOp::Accept { item } => Ok(Step::Submit(
                Command::Accept { actor, item },
                After::Accepted(item),
            )),
            SessionOp::Decline { item } => Ok(item_step(Command::Decline { actor, item })),
            SessionOp::TakeOver { item } => Ok(item_step(Command::TakeOver { actor, item })),
            SessionOp::Transfer {
                item,
                group,
                agent,
                note,
            } => {
                let group = self.group_ix(&group)?;
                let agent = agent.as_deref().map(|a| self.agent_ix(a)).transpose()?;
                Ok(item_step(Command::Transfer {
                    actor: Actor::Agent(actor),
                    item,
                    group,
                    agent,
                    note: note.unwrap_or_default(),
                }))
            }
            SessionOp::Explain { item } => {
                let g = self
                    .state
                    .core()
                    .item(item)
                    .map(|i| i.group)
                    .ok_or_else(|| {
                        ApiError::new(ErrorCode::NotFound, format!("no open item {item}"))
                    })?;
                if !self.may_watch(actor, g) {
                    return Err(forbidden(
                        "explanations are for managers of the item's group",
                    ));
                }
                now(Ok(self.explain_value(item)))
            }
            SessionOp::Message { item, text } => Ok(self.chat_message(item, Some(actor), text)),
            SessionOp::Close { item } => Ok(item_step(Command::Close {
                actor: Actor::Agent(actor),
                item,
            })),
            SessionOp::Ping {} => now(Ok(json!({ "now": super::now_ms() }))),
            SessionOp::Unwatch { group } => {
                let groups = match group {
                    Some(id) => vec![self.group_ix(&id)?],
                    None => self
                        .local
                        .by_id
                        .get(&session)
                        .map(|e| e.watching.clone())
                        .unwrap_or_default(),
                };
                for g in groups {
                    self.local.watchers[g.0 as usize].retain(|&s| s != session);
                    if let Some(e) = self.local.by_id.get_mut(&session) {
                        e.watching.retain(|&w| w != g);
                    }
                }
                Ok(Step::Now(Ok(json!({}))))
            }
        }
    }

    fn set_cells(&mut self, actor: AgentIx, target: AgentIx, change: CellChange) -> Step {
        Step::Submit(
            Command::SetActive {
                actor,
                agent: target,
                change,
            },
            After::Status(target),
        )
    }

    /// Whether `a` may watch `g`: a manager or admin who is a member.
    fn may_watch(&self, a: AgentIx, g: GroupIx) -> bool {
        let dir = self.state.core().directory();
        let roles = dir.agent(a).roles;
        (roles.manager || roles.admin) && dir.member(a, g).is_some()
    }

    /// Registers `session` as a watcher of `group` (or of every group its
    /// agent may watch) and returns the groups its board shows.
    fn watch(&mut self, session: u64, group: Option<String>) -> Result<Vec<GroupIx>, ApiError> {
        let actor = self
            .local
            .by_id
            .get(&session)
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "session is closed"))?
            .agent;
        self.local.last_activity[actor.0 as usize] = super::now_ms();
        let dir = self.state.core().directory();
        let groups: Vec<GroupIx> = match group {
            Some(id) => {
                let g = self.group_ix(&id)?;
                if !self.may_watch(actor, g) {
                    return Err(forbidden(format!(
                        "only a manager or admin who is a member of {id} may watch it"
                    )));
                }
                vec![g]
            }
            None => {
                let all: Vec<GroupIx> = dir
                    .memberships_of(actor)
                    .iter()
                    .map(|&m| dir.membership(m).group)
                    .filter(|&g| self.may_watch(actor, g))
                    .collect();
                if all.is_empty() {
                    return Err(forbidden("you manage no group you are a member of"));
                }
                all
            }
        };
        let entry = self.local.by_id.get_mut(&session).expect("checked above");
        for &g in &groups {
            if !entry.watching.contains(&g) {
                entry.watching.push(g);
                self.local.watchers[g.0 as usize].push(session);
            }
        }
        Ok(groups)
    }

    fn handle_http(&mut self, caller: Caller, op: HttpOp) -> Step {
        match self.http_step(caller, op) {
            Ok(step) => step,
            Err(e) => Step::Now(Err(e)),
        }
    }

    fn http_step(&mut self, caller: Caller, op: HttpOp) -> Result<Step, ApiError> {
        let (caller_ix, integration) = match &caller {
            Caller::Agent(id) => {
                let a = self.agent_ix(id)?;
                if self.state.core().is_disabled(a) {
                    return Err(account_disabled(id));
                }
                (Some(a), None)
            }
            Caller::Integration(i) => (None, Some(i.as_ref())),
        };
        match op {
            HttpOp::Admin(op) => {
                let actor = caller_ix.ok_or_else(|| {
                    forbidden("administration is for admins and managers, not integrations")
                })?;
                self.admin_step(actor, op)
            }
            HttpOp::CreateWork {
                group,
                channel,
                priority,
                title,
                visitor,
            } => {
                if caller_ix.is_some() {
                    return Err(forbidden("work is created with an API key"));
                }
                let g = self.group_ix(&group)?;
                scope::check_group(integration, &group)?;
                if !self.state.core().directory().group(g).channels[channel.index()].enabled {
                    return Err(ApiError::new(
                        ErrorCode::InvalidField,
                        format!("{} is not enabled in group {group}", channel.as_str()),
                    ));
                }
                let first = title.clone();
                let command = Command::CreateWork {
                    group: g,
                    channel,
                    priority,
                    title,
                };
                if channel != Channel::Chat {
                    return Ok(Step::Submit(
                        command,
                        After::Created {
                            visitor_token: None,
                        },
                    ));
                }
                let name = visitor.unwrap_or_else(|| "Visitor".to_string());
                let (token, visitor) = Engine::new_visitor(name, first);
                Ok(Step::Op(
                    LogOp::NewChat { command, visitor },
                    After::Created {
                        visitor_token: Some(token),
                    },
                ))
            }
            HttpOp::GroupQueue { group } => {
                let g = self.group_ix(&group)?;
                scope::check_group(integration, &group)?;
                let dir = self.state.core().directory();
                // A member sees the channels it is not excluded from, as in
                // its console's `welcome` and `queue` pushes; an integration
                // every channel of its group.
                let member = match caller_ix {
                    Some(a) => Some(
                        dir.member(a, g)
                            .ok_or_else(|| forbidden(format!("not a member of group {group}")))?,
                    ),
                    None => None,
                };
                let items: Vec<_> = Channel::ALL
                    .into_iter()
                    .filter(|&c| member.is_none_or(|m| !dir.is_not_applicable(m, c)))
                    .flat_map(|c| self.state.core().queue(g, c))
                    .map(|i| views::item(self.state.core(), i))
                    .collect();
                Ok(Step::Now(Ok(json!({ "group": group, "items": items }))))
            }
            HttpOp::GroupStatus { group } => {
                let g = self.group_ix(&group)?;
                let core = self.state.core();
                let waiting = core.queue_len(g, Channel::Chat);
                let queue_lengths: serde_json::Map<String, Value> = Channel::ALL
                    .into_iter()
                    .map(|c| (c.as_str().to_string(), json!(core.queue_len(g, c))))
                    .collect();
                Ok(Step::Now(Ok(json!({
                    "group": group,
                    "online": core.is_chat_online(g),
                    "queue_when_offline": core.directory().settings(g).queue_when_offline,
                    "queue_length": waiting,
                    "queue_lengths": queue_lengths,
                    "expected_wait_ms": self.expected_wait_ms(g, waiting),
                }))))
            }
            HttpOp::Explain { item } => {
                let i = self.state.core().item(item).ok_or_else(|| {
                    ApiError::new(ErrorCode::NotFound, format!("no open item {item}"))
                })?;
                if let Some(a) = caller_ix
                    && !self.may_watch(a, i.group)
                {
                    return Err(forbidden(
                        "explanations are for managers of the item's group",
                    ));
                }
                scope::check_group(
                    integration,
                    &self.state.core().directory().group(i.group).id,
                )?;
                Ok(Step::Now(Ok(self.explain_value(item))))
            }
            HttpOp::AgentStatus { agent } => {
                let target = self.agent_ix(&agent)?;
                if let Some(a) = caller_ix
                    && !self.may_see_agent(a, target)
                {
                    return Err(forbidden(format!("you may not see agent {agent}")));
                }
                scope::check_agent(integration, self.state.core().directory(), target)?;
                Ok(Step::Now(Ok(self.status_value(target))))
            }
            HttpOp::ListAgents { group, page } => {
                let g = group.as_deref().map(|id| self.group_ix(id)).transpose()?;
                Ok(Step::Now(self.list_agent_statuses(
                    caller_ix,
                    integration,
                    g,
                    page,
                )))
            }
            HttpOp::GroupStats { group } => {
                let g = self.group_ix(&group)?;
                scope::check_group(integration, &group)?;
                if let Some(a) = caller_ix
                    && !self.may_watch(a, g)
                {
                    return Err(forbidden(
                        "group figures are for managers and admins who are members of it",
                    ));
                }
                Ok(Step::Now(Ok(self.group_stats(g, super::now_ms()))))
            }
            HttpOp::Items(op) => {
                let i = integration.ok_or_else(|| {
                    forbidden(
                        "the items API is for integrations (an API key); consoles use their requests",
                    )
                })?;
                self.items_step(i, op)
            }
            HttpOp::SetEnabled { agent, enabled } => {
                self.set_enabled_step(caller_ix, &agent, enabled)
            }
            HttpOp::SetPresence { agent, change } => {
                self.set_presence_step(caller_ix, integration, &agent, change)
            }
            HttpOp::Audit {
                agent,
                group,
                since,
                limit,
            } => {
                let query = AuditQuery {
                    agent: agent.as_deref().map(|id| self.agent_ix(id)).transpose()?,
                    group: group.as_deref().map(|id| self.group_ix(id)).transpose()?,
                    since,
                    limit,
                };
                let viewer = caller_ix.ok_or_else(|| forbidden("the audit is for managers"))?;
                let dir = self.state.core().directory();
                let roles = dir.agent(viewer).roles;
                if !roles.admin {
                    if !roles.manager {
                        return Err(forbidden("the audit is for managers and admins"));
                    }
                    if let Some(g) = query.group
                        && !dir.is_manager_of(viewer, g)
                    {
                        return Err(forbidden("you do not manage that group"));
                    }
                    if let Some(a) = query.agent
                        && !self.may_see_agent(viewer, a)
                    {
                        return Err(forbidden("you do not manage that agent"));
                    }
                }
                let mut entries = self.state.audit().query(dir, &query);
                if !roles.admin && query.agent.is_none() && query.group.is_none() {
                    entries.retain(|e| {
                        e.agent_id()
                            .and_then(|a| dir.agent_ix(a))
                            .is_some_and(|a| self.may_see_agent(viewer, a))
                    });
                }
                Ok(Step::Now(Ok(json!({ "entries": entries }))))
            }
        }
    }

    /// For each member of the item's group, the verdict of the eligibility
    /// rules, and when the item leaves a logged-out holder (docs/protocol.md,
    /// explain).
    fn explain_value(&self, item: ItemId) -> Value {
        let dir = self.state.core().directory();
        let members: Vec<Value> = self
            .state
            .core()
            .explain(item)
            .unwrap_or_default()
            .into_iter()
            .map(|(a, verdict)| {
                let why = match verdict {
                    Verdict::Holds => "holds",
                    Verdict::Eligible => "eligible",
                    Verdict::KeptOut(k) => k.as_str(),
                };
                json!({ "agent": dir.agent(a).id, "name": dir.agent(a).name, "verdict": why })
            })
            .collect();
        let hand_off_at = self.state.core().logout_hand_off_at(item);
        json!({ "item": self.item_value(item), "members": members, "hand_off_at": hand_off_at })
    }

    /// Expected wait of a new chat: the moving mean of how long recent chats
    /// of the group waited for an agent, times the chats already waiting plus
    /// one; `null` before any chat was assigned.
    pub(super) fn expected_wait_ms(&self, g: GroupIx, waiting: usize) -> Option<u64> {
        self.state.expected_chat_wait(g, waiting)
    }

    /// Self, an admin, or a manager of a group the agent belongs to.
    pub(super) fn may_see_agent(&self, viewer: AgentIx, target: AgentIx) -> bool {
        let dir = self.state.core().directory();
        viewer == target
            || dir.agent(viewer).roles.admin
            || dir
                .memberships_of(target)
                .iter()
                .any(|&m| dir.is_manager_of(viewer, dir.membership(m).group))
    }
}
