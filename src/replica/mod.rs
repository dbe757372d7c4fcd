//! The replicated state machine: everything every replica of the log must
//! compute alike, in one pure type.
//!
//! Like openraft's `RaftStateMachine`, a [`StateMachine`] is fed committed
//! log entries one at a time ([`StateMachine::apply`]) and owns its
//! snapshot ([`StateMachine::snapshot`], [`StateMachine::restore`]): the
//! snapshot is part of the state machine, not something taken from outside
//! it. What it holds:
//! - the domain [`Core`] (presence, cells, items, queues, timers);
//! - the event sequence number (consoles resume on any node by it);
//! - the largest `now` applied (time never runs backwards across nodes);
//! - per group, the moving mean of chat waits (the expected wait a website
//!   shows);
//! - the visitors' chats and their messages ([`chats`]);
//! - the audit of presence changes ([`audit`]);
//! - the id of the last entry applied.
//!
//! It does no I/O, reads no clock and knows nothing of sessions or sockets:
//! `apply` returns what happened ([`Applied`]: the answer for the proposer
//! and the numbered effects) and the engine turns that into pushes. So two
//! replicas fed the same entries are equal, which the three-replica property
//! test (`tests/replicas.rs`) checks after every step.

pub mod audit;
pub mod chats;
pub mod credentials;
pub mod errors;
pub mod idempotency;
mod integration_ops;
mod snapshot;

use serde_json::{Value, json};

pub use snapshot::{RestoreError, SNAPSHOT_FORMAT, Snapshot as ReplicaSnapshot};

use self::audit::{AuditLog, AuditRecord, AuditWhat};
use self::chats::{ChatMessage, Chats};
use self::credentials::Credentials;
use self::idempotency::{FirstOutcome, Remembered};
use crate::api_error::ApiError;
use crate::domain::{
    AdminRecord, AgentIx, Channel, Command, Core, CredentialChange, DomainError, Event, GroupIx,
    ItemId, ItemReason, LogEntry, LogOp, Millis, Reply, VisitorJoin,
};

/// The replicated state of a node: see the module docs.
#[derive(Debug, Clone)]
pub struct StateMachine {
    core: Core,
    seq: u64,
    last_now: Millis,
    chat_wait_ewma_ms: Vec<Option<f64>>,
    chats: Chats,
    audit: AuditLog,
    credentials: Credentials,
    remembered: Remembered,
    applied: String,
}

/// What applying one entry gave.
#[derive(Debug)]
pub struct Applied {
    /// The answer for the node that proposed the entry.
    pub outcome: Outcome,
    /// What happened, in order, for this node's sessions and webhooks.
    pub effects: Vec<Effect>,
    /// The audit records the entry produced, for the store's audit stream.
    pub audit: Vec<AuditRecord>,
}

/// The result of an entry, as its proposer is answered.
#[derive(Debug)]
pub enum Outcome {
    /// An entry whose idempotency key an earlier entry used: nothing was
    /// applied; this is what the first one gave.
    Repeated(FirstOutcome),
    /// A domain command's reply or refusal.
    Command(Result<Reply, DomainError>),
    /// An engine entry's answer (a visitor's chat, a message, a logout).
    Value(Result<Value, ApiError>),
    /// Nothing to answer (timers fired, a node's sessions dropped).
    Done,
}

/// One thing that happened while applying an entry.
#[derive(Debug)]
pub enum Effect {
    /// An event of the core, with its sequence number.
    Event {
        /// Its number.
        seq: u64,
        /// What happened (boxed: a directory change carries two records).
        event: Box<Event>,
    },
    /// A chat message was added.
    Message {
        /// The sequence number it is pushed with.
        seq: u64,
        /// The chat.
        item: ItemId,
        /// The message.
        message: ChatMessage,
        /// The chat's agent, if any.
        assignee: Option<AgentIx>,
    },
    /// A login token (by digest) was logged out: every node closes the
    /// sessions it opened.
    CloseLogin(String),
    /// A password or an integration key changed: every node checks logins
    /// and keys against the new table; `reset` names an agent whose
    /// password an admin reset, whose sessions every node closes.
    Credentials {
        /// The agent whose password was reset.
        reset: Option<String>,
    },
}

impl StateMachine {
    /// The state before the first entry, over `core` and the directory's
    /// `credentials`, keeping the newest `audit_capacity` audit records.
    pub fn new(core: Core, credentials: Credentials, audit_capacity: usize) -> Self {
        let groups = core.directory().groups().len();
        StateMachine {
            core,
            seq: 0,
            last_now: 0,
            chat_wait_ewma_ms: vec![None; groups],
            chats: Chats::default(),
            audit: AuditLog::new(audit_capacity),
            credentials,
            remembered: Remembered::default(),
            applied: "0-0".to_string(),
        }
    }

    /// The domain core.
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// The sequence number of the last event.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The id of the last entry applied (`"0-0"` before the first).
    pub fn applied(&self) -> &str {
        &self.applied
    }

    /// The visitors' chats.
    pub fn chats(&self) -> &Chats {
        &self.chats
    }

    /// The passwords' hashes and the integrations' keys.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The audit.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Replaces the audit with the history before a restored snapshot.
    pub fn replace_audit(&mut self, records: Vec<AuditRecord>) {
        self.audit.replace(records);
    }

    /// The expected wait of a new chat in `group` with `waiting` chats ahead
    /// of it, from the moving mean of recent waits (`None` before the first).
    pub fn expected_chat_wait(&self, group: GroupIx, waiting: usize) -> Option<u64> {
        self.chat_wait_ewma_ms[group.0 as usize].map(|mean| (mean * (waiting as f64 + 1.0)) as u64)
    }

    /// The open visitor sockets of chats that node `node` served (the node
    /// is in a socket id's high 32 bits, as in a session id), with their
    /// chat.
    pub fn visitor_sockets_of_node(&self, node: u32) -> Vec<(ItemId, u64)> {
        let mut open: Vec<(ItemId, u64)> = self
            .core
            .items()
            .filter(|i| i.visitor_gone_since.is_none())
            .filter_map(|i| i.visitor_socket.map(|s| (i.id, s)))
            .filter(|&(_, s)| (s >> 32) as u32 == node)
            .collect();
        // Items iterate in no set order; every replica must apply alike.
        open.sort_unstable();
        open
    }

    /// Every session the core holds that node `node` opened (the node is in
    /// a session id's high 32 bits), with its agent.
    pub fn sessions_of_node(&self, node: u32) -> Vec<(AgentIx, u64)> {
        (0..self.core.directory().agents().len())
            .flat_map(|i| {
                let a = AgentIx(i as u32);
                self.core
                    .presence(a)
                    .sessions
                    .iter()
                    .filter(|&&s| (s >> 32) as u32 == node)
                    .map(move |&s| (a, s))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Applies the log entry `id`.
    pub fn apply(&mut self, id: &str, entry: LogEntry) -> Applied {
        self.last_now = self.last_now.max(entry.now);
        let now = self.last_now;
        if let Some(first) = entry.key.as_ref().and_then(|k| self.remembered.get(k)) {
            let outcome = Outcome::Repeated(first.clone());
            self.applied = id.to_string();
            return Applied {
                outcome,
                effects: Vec::new(),
                audit: Vec::new(),
            };
        }
        let key = entry.key;
        let audit_mark = self.audit.pushed();
        // The integration an entry acts for names its presence audit records.
        let mut integration: Option<String> = None;
        let mut effects = Vec::new();
        let outcome = match entry.op {
            LogOp::Command(cmd) => Outcome::Command(self.core.apply(now, cmd)),
            LogOp::NewChat { command, visitor } => {
                let result = self.core.apply(now, command);
                if let Ok(Reply::Item(id)) = result
                    && let Some(group) = self.core.item(id).map(|i| i.group)
                {
                    let join = VisitorJoin {
                        item: id,
                        group,
                        token_sha256: visitor.token_sha256,
                        name: visitor.name,
                        first: visitor.first,
                    };
                    self.chats.join(&self.core, join, now);
                }
                Outcome::Command(result)
            }
            LogOp::Administer { command, passwords } => {
                let result = self.core.apply(now, command);
                if result.is_ok() && !passwords.is_empty() {
                    for (id, hash) in passwords {
                        if self.core.directory().agent_ix(&id).is_some() {
                            self.credentials.passwords.insert(id, hash);
                        }
                    }
                    effects.push(Effect::Credentials { reset: None });
                }
                Outcome::Command(result)
            }
            LogOp::Credential { actor, change } => {
                let reset = match &change {
                    CredentialChange::SetPassword {
                        agent, reset: true, ..
                    } => Some(agent.clone()),
                    _ => None,
                };
                let hooks_of = match &change {
                    CredentialChange::CreateIntegration {
                        name, webhook_urls, ..
                    } if !webhook_urls.is_empty() => Some(name.clone()),
                    CredentialChange::SetScope {
                        name,
                        webhook_urls: Some(_),
                        ..
                    } => Some(name.clone()),
                    _ => None,
                };
                let result = self
                    .credentials
                    .apply(self.core.directory(), actor, change, now);
                if result.is_ok() {
                    if let Some(name) = hooks_of {
                        self.credentials.webhooks_set_at(&name, id);
                    }
                    effects.push(Effect::Credentials { reset });
                }
                Outcome::Command(result.map(|()| Reply::Done))
            }
            LogOp::ByIntegration {
                name,
                scope,
                command,
            } => {
                integration = Some(name.clone());
                Outcome::Command(self.apply_by_integration(now, name, &scope, command))
            }
            LogOp::Tick => {
                self.core.handle_timeout(now);
                Outcome::Done
            }
            LogOp::DropNode(node) => {
                for (agent, session) in self.sessions_of_node(node) {
                    let _ = self
                        .core
                        .apply(now, Command::CloseSession { agent, session });
                }
                // Its visitors' sockets went with it: their chats count as
                // left (a queued one is abandoned if nobody comes back).
                for (item, socket) in self.visitor_sockets_of_node(node) {
                    let _ = self.core.apply(now, Command::VisitorLeft { item, socket });
                }
                Outcome::Done
            }
            LogOp::CloseLogin(login) => {
                effects.push(Effect::CloseLogin(login));
                Outcome::Value(Ok(json!({})))
            }
            LogOp::VisitorJoined(join) => {
                self.chats.join(&self.core, join, now);
                Outcome::Value(Ok(json!({})))
            }
            LogOp::ChatMessage {
                item,
                from_agent,
                text,
            } => Outcome::Value(
                self.chats
                    .add_message(&self.core, item, from_agent, text, now)
                    .map(|message| {
                        let answer = json!({ "item": item, "message": message });
                        // Its own number: a console resuming after it
                        // gets it replayed, never confused with an event.
                        self.seq += 1;
                        effects.push(Effect::Message {
                            seq: self.seq,
                            item,
                            message,
                            assignee: self.core.item(item).and_then(|i| i.assignee),
                        });
                        answer
                    }),
            ),
        };
        self.number_events(&mut effects);
        if let Some(name) = integration {
            self.audit.name_integration(audit_mark, &name);
        }
        if let Some(key) = key
            && let Some(first) = self.first_outcome(&outcome)
        {
            self.remembered.remember(key, now, first);
        }
        self.applied = id.to_string();
        Applied {
            outcome,
            effects,
            audit: self.audit.since(audit_mark),
        }
    }

    /// What a retry with the same key is answered.
    fn first_outcome(&self, outcome: &Outcome) -> Option<FirstOutcome> {
        match outcome {
            Outcome::Command(Ok(reply)) => Some(FirstOutcome::Reply(*reply)),
            Outcome::Command(Err(e)) => Some(FirstOutcome::Refused(errors::api_error(
                self.core.directory(),
                e.clone(),
            ))),
            Outcome::Value(Ok(v)) => Some(FirstOutcome::Value(v.clone())),
            Outcome::Value(Err(e)) => Some(FirstOutcome::Refused(e.clone())),
            Outcome::Repeated(_) | Outcome::Done => None,
        }
    }

    /// Numbers the core's events and records what they change here (the
    /// audit, chat waits, where a visitor's chat is).
    fn number_events(&mut self, effects: &mut Vec<Effect>) {
        let events: Vec<Event> = self.core.drain_events().collect();
        for event in events {
            self.seq += 1;
            match &event {
                Event::Presence {
                    at,
                    by,
                    agent,
                    what,
                } => self.audit.push(AuditRecord {
                    at: *at,
                    by: *by,
                    agent: Some(*agent),
                    what: AuditWhat::Presence(what.clone()),
                    integration: None,
                }),
                Event::Directory { at, by, old, new } => {
                    let agent = old.as_ref().or(new.as_ref()).and_then(|rec| match &**rec {
                        AdminRecord::Agent(def) => self.core.directory().agent_slot(&def.id),
                        AdminRecord::Member(m) => Some(m.agent),
                        _ => None,
                    });
                    self.audit.push(AuditRecord {
                        at: *at,
                        by: *by,
                        agent,
                        what: AuditWhat::Directory {
                            old: old.clone(),
                            new: new.clone(),
                        },
                        integration: None,
                    });
                    let groups = self.core.directory().groups().len();
                    self.chat_wait_ewma_ms.resize(groups, None);
                    if let (Some(AdminRecord::Agent(def)), None) = (old.as_deref(), new) {
                        self.credentials.passwords.remove(&def.id);
                        effects.push(Effect::Credentials { reset: None });
                    }
                }
                Event::Queued { item, .. } => {
                    if item.channel == Channel::Chat {
                        self.chats.moved(item.id, item.group);
                    }
                }
                Event::Dequeued { .. } | Event::WrapUp { .. } => {}
                Event::ItemChanged { item, reason, .. } => {
                    if item.channel == Channel::Chat
                        && matches!(
                            reason,
                            ItemReason::Routed | ItemReason::Drained | ItemReason::Taken
                        )
                        && let Some(at) = item.assigned_at
                    {
                        let waited = at.saturating_sub(item.created_at) as f64;
                        let slot = &mut self.chat_wait_ewma_ms[item.group.0 as usize];
                        *slot = Some(slot.map_or(waited, |m| 0.8 * m + 0.2 * waited));
                    }
                    match reason {
                        r if r.is_end() => self.chats.closed(item.id),
                        ItemReason::Accepted
                        | ItemReason::Updated
                        | ItemReason::VisitorLeft
                        | ItemReason::VisitorBack => {}
                        _ => self.chats.moved(item.id, item.group),
                    }
                }
            }
            effects.push(Effect::Event {
                seq: self.seq,
                event: Box::new(event),
            });
        }
    }

    /// The state after the last applied entry.
    pub fn snapshot(&self) -> ReplicaSnapshot {
        ReplicaSnapshot {
            format: SNAPSHOT_FORMAT,
            after: self.applied.clone(),
            core: self.core.snapshot(),
            seq: self.seq,
            last_now: self.last_now,
            chat_wait_ewma_ms: self.chat_wait_ewma_ms.clone(),
            visitors: self.chats.snapshot(),
            credentials: Some(self.credentials.clone()),
            remembered: self.remembered.clone(),
        }
    }

    /// Replaces the state with a snapshot's (the core's settings stay this
    /// one's; the directory is the snapshot's, or this one's for a snapshot
    /// written without one). The audit is kept: replace it with the
    /// history before the snapshot ([`StateMachine::replace_audit`]).
    pub fn restore(&mut self, snap: ReplicaSnapshot) -> Result<(), RestoreError> {
        if snap.format != SNAPSHOT_FORMAT {
            return Err(RestoreError::Format(snap.format));
        }
        let dir = self.core.directory().clone();
        self.core = Core::restore(dir, self.core.config(), snap.core)?;
        self.seq = snap.seq;
        self.last_now = snap.last_now;
        self.chat_wait_ewma_ms = snap.chat_wait_ewma_ms;
        let groups = self.core.directory().groups().len();
        self.chat_wait_ewma_ms.resize(groups, None);
        self.chats = Chats::restore(snap.visitors);
        if let Some(credentials) = snap.credentials {
            self.credentials = credentials;
        }
        self.remembered = snap.remembered;
        self.applied = snap.after;
        Ok(())
    }
}
