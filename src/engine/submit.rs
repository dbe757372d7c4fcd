//! One path for every state change: `submit` a domain command with what to
//! do once it is applied (`After`) and whom to answer (`Pending`).
//!
//! The command is appended to the log (in memory, embedded or Redis), and
//! applied, on this node as on every other, when it comes back from the log
//! in log order ([`Engine::apply_logged`]): the log order is the one order
//! every replica applies, so a take that wins on one node wins on all of
//! them, and only the node that proposed it answers the client. There is no
//! other way to change the state.

use serde_json::{Value, json};

use super::outbox::OutboxSender;
use super::proposals::Capture;
use super::views;
use super::{Answer, Engine, now_ms};
use crate::api_error::{ApiError, ErrorCode};
use crate::domain::{AgentIx, Command, DomainError, Event, Item, ItemId, LogEntry, LogOp, Reply};
use crate::replica::idempotency::FirstOutcome;
use crate::replica::{Effect, Outcome};

/// What a request handler decided.
pub(super) enum Step {
    /// Answer now (reads, refusals before any change).
    Now(Result<Value, ApiError>),
    /// Apply this command, then build the answer.
    Submit(Command, After),
    /// Apply this engine-level entry (a visitor's chat), then answer with
    /// what it gives.
    Op(LogOp, After),
}

/// What to do once a submitted command was applied.
#[derive(Debug)]
pub(super) enum After {
    /// Nothing (session closed).
    Nothing,
    /// Answer with this agent's status.
    Status(AgentIx),
    /// Answer with the item.
    Item,
    /// Answer with the item and the chat's messages.
    Accepted(ItemId),
    /// Register the session and push its welcome.
    Connect {
        agent: AgentIx,
        session: u64,
        outbox: OutboxSender,
        resume: Option<u64>,
        login: String,
    },
    /// Answer `{"item"}`, and for a chat the visitor's token.
    Created { visitor_token: Option<String> },
    /// Answer with the administered resource.
    Admin(super::admin_api::AdminView),
    /// Answer with this value (known before the entry is applied; sent
    /// only once it is).
    Value(Value),
}

/// Who waits for the answer.
#[derive(Debug)]
pub(super) enum Pending {
    /// Nobody.
    None,
    /// A request answered with JSON.
    Value(Answer<Value>),
    /// A connect answered with the session id.
    Session(Answer<u64>),
}

/// The step of a command answered with its item.
pub(super) fn item_step(cmd: Command) -> Step {
    Step::Submit(cmd, After::Item)
}

impl Engine {
    /// A session id unique across nodes: the node in the high 32 bits.
    pub(super) fn new_session_id(&mut self) -> u64 {
        let id = (u64::from(self.node) << 32) | (self.local.next_id & 0xffff_ffff);
        self.local.next_id += 1;
        id
    }

    /// Runs a handler's step and answers.
    pub(super) fn run_step(&mut self, step: Step, answer: Answer<Value>) {
        match step {
            Step::Now(result) => {
                let _ = answer.send(result);
            }
            Step::Submit(cmd, after) => self.submit(cmd, after, Pending::Value(answer)),
            Step::Op(op, after) => self.submit_op(op, after, Pending::Value(answer)),
        }
    }

    /// Proposes a command to the log; it is applied, and answered, when it
    /// comes back ([`Engine::apply_logged`]).
    pub(super) fn submit(&mut self, cmd: Command, after: After, pending: Pending) {
        self.submit_op(LogOp::Command(cmd), after, pending);
    }

    /// Proposes a log operation; it is applied, and answered, when it comes
    /// back from the log.
    pub(super) fn submit_op(&mut self, op: LogOp, after: After, pending: Pending) {
        let req = self.proposals.next_req;
        self.proposals.next_req += 1;
        let entry = LogEntry {
            origin: self.node,
            req,
            now: now_ms(),
            op,
            key: self.proposals.key.take(),
        };
        if self.proposals.log.send(entry).is_err() {
            let err = ApiError::new(ErrorCode::Unavailable, "the log is unavailable");
            answer_error(pending, err);
            return;
        }
        self.proposals.pending.insert(req, (after, pending));
    }

    /// An entry came back from the log: apply it like every replica does,
    /// publish what happened, and answer if this node proposed it.
    pub(super) fn apply_logged(&mut self, id: String, entry: LogEntry) {
        let mine = entry.origin == self.node;
        let req = entry.req;
        let opened = match &entry.op {
            LogOp::Command(Command::OpenSession { agent, session }) => Some((*agent, *session)),
            _ => None,
        };
        let tick = matches!(entry.op, LogOp::Tick);
        let dropped_me = !mine && matches!(entry.op, LogOp::DropNode(n) if n == self.node);
        let now = entry.now;
        let applied = self.state.apply(&id, entry);
        let events =
            super::integration_events::derive(self.state.core(), &id, now, &applied.effects);
        if !events.is_empty() {
            self.pending_events.push((id.clone(), events));
        }
        // The core forgets a closed item as it closes it: its last state
        // comes only with the event, and is what a close is answered with.
        let closed: Vec<Item> = if mine {
            applied
                .effects
                .iter()
                .filter_map(closed_item)
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        self.webhooks.mute(!mine);
        self.publish(applied.effects);
        self.webhooks.mute(false);
        if (mine || self.audit_every_entry) && !applied.audit.is_empty() {
            let _ = self.audit_out.send(super::AuditBatch {
                entry: id,
                records: applied.audit,
            });
        }
        if dropped_me {
            self.dropped_by_peer();
        }
        if !mine {
            return;
        }
        if tick {
            self.proposals.tick_in_flight = false;
        }
        match self.proposals.pending.remove(&req) {
            Some((after, pending)) => {
                let confirmed = self.proposals.appended.remove(&req);
                let (pending, capture) = if confirmed {
                    (pending, Capture::None)
                } else {
                    Capture::of(pending)
                };
                match applied.outcome {
                    Outcome::Command(result) => self.finish(result, after, pending, &closed),
                    Outcome::Value(result) => finish_op(result, pending),
                    Outcome::Repeated(first) => self.finish_repeated(first, after, pending),
                    Outcome::Done => {}
                }
                if let Some(held) = capture.held() {
                    self.proposals.held.insert(req, held);
                }
            }
            None => {
                if let Some((agent, session)) = opened {
                    self.close_if_orphan(agent, session);
                }
            }
        }
    }

    /// A retried write (same idempotency key) that was not applied again:
    /// answered as the first one was, built from the state now.
    fn finish_repeated(&mut self, first: FirstOutcome, after: After, pending: Pending) {
        match first {
            FirstOutcome::Reply(reply) => {
                // A retried visitor chat must not hand out the retry's new
                // token: only the first one's digest is stored.
                let after = match after {
                    After::Created { .. } => After::Created {
                        visitor_token: None,
                    },
                    other => other,
                };
                self.finish(Ok(reply), after, pending, &[]);
            }
            FirstOutcome::Value(v) => finish_op(Ok(v), pending),
            FirstOutcome::Refused(e) => answer_error(pending, e),
        }
    }

    /// The store confirmed the append of these proposals: send the answers
    /// held for them, and let the others be answered once applied.
    pub(super) fn proposals_appended(&mut self, reqs: Vec<u64>) {
        for req in reqs {
            if let Some(held) = self.proposals.held.remove(&req) {
                held.send();
            } else if self.proposals.pending.contains_key(&req) {
                self.proposals.appended.insert(req);
            }
        }
    }

    /// The log could not take a proposal: tell whoever waits (an answer
    /// held since its entry was applied is replaced by the error: the store
    /// never confirmed it).
    pub(super) fn proposal_failed(&mut self, req: u64, error: ApiError) {
        if let Some((_, pending)) = self.proposals.pending.remove(&req) {
            answer_error(pending, error);
        } else if let Some(held) = self.proposals.held.remove(&req) {
            answer_error(held.into_pending(), error);
        }
        if req == u64::MAX {
            self.proposals.tick_in_flight = false;
        }
    }

    /// Builds and sends the answer of an applied command; `closed` holds the
    /// items the command closed, as they were when closed.
    fn finish(
        &mut self,
        result: Result<Reply, DomainError>,
        after: After,
        pending: Pending,
        closed: &[Item],
    ) {
        let result = result.map_err(|e| self.domain_error(e));
        let reply = match result {
            Err(e) => return answer_error(pending, e),
            Ok(r) => r,
        };
        let item_id = match reply {
            Reply::Item(id) => Some(id),
            Reply::Done => None,
        };
        let value = match after {
            After::Nothing => json!({}),
            After::Status(a) => self.status_value(a),
            After::Item => {
                item_id.map_or(json!({}), |id| match closed.iter().find(|i| i.id == id) {
                    Some(item) => serde_json::to_value(views::item(self.state.core(), item))
                        .unwrap_or(Value::Null),
                    None => self.item_value(id),
                })
            }
            After::Accepted(id) => {
                let mut v = self.item_value(id);
                v["messages"] = json!(self.chat_messages(id));
                v
            }
            After::Connect {
                agent,
                session,
                outbox,
                resume,
                login,
            } => {
                self.register_session(agent, session, outbox, resume, login);
                if let Pending::Session(answer) = pending {
                    let _ = answer.send(Ok(session));
                }
                return;
            }
            After::Admin(view) => self.admin_view(view),
            After::Value(v) => v,
            After::Created { visitor_token } => {
                let Some(id) = item_id else {
                    return answer_error(pending, ApiError::new(ErrorCode::Internal, "no item"));
                };
                let mut body = json!({ "item": self.item_value(id) });
                if let Some(token) = visitor_token
                    && self.state.chats().get(id).is_some()
                {
                    body["visitor_token"] = json!(token);
                }
                body
            }
        };
        match pending {
            Pending::Value(answer) => {
                let _ = answer.send(Ok(value));
            }
            Pending::Session(_) | Pending::None => {}
        }
    }

    /// The core's next deadline passed: ask the log to fire it (a `Tick`
    /// entry), one at a time.
    pub(super) fn timers_due(&mut self) {
        if self.proposals.tick_in_flight {
            return;
        }
        self.proposals.tick_in_flight = true;
        let entry = LogEntry {
            origin: self.node,
            req: u64::MAX,
            now: now_ms(),
            op: LogOp::Tick,
            key: None,
        };
        if self.proposals.log.send(entry).is_err() {
            self.proposals.tick_in_flight = false;
        }
    }
}

/// The item of an effect that ended one (closed or cancelled).
fn closed_item(effect: &Effect) -> Option<&Item> {
    match effect {
        Effect::Event { event, .. } => match &**event {
            Event::ItemChanged { item, reason, .. } if reason.is_end() => Some(item),
            _ => None,
        },
        _ => None,
    }
}

/// Answers an engine entry (a chat message, a logout) with what it gave.
fn finish_op(result: Result<Value, ApiError>, pending: Pending) {
    match (result, pending) {
        (Ok(v), Pending::Value(answer)) => {
            let _ = answer.send(Ok(v));
        }
        (Err(e), pending) => answer_error(pending, e),
        (Ok(_), Pending::Session(_) | Pending::None) => {}
    }
}

/// Answers whoever waits with an error.
pub(super) fn answer_error(pending: Pending, e: ApiError) {
    match pending {
        Pending::Value(a) => {
            let _ = a.send(Err(e));
        }
        Pending::Session(a) => {
            let _ = a.send(Err(e));
        }
        Pending::None => {}
    }
}
