//! Visitors waiting for, and then having, a chat.
//!
//! # Ownership
//! The engine task owns every [`VisitorChat`]: the visitor's socket outbox,
//! the chat's messages (bounded) and the last queue position the visitor was
//! told. Messages are not routing state, so they live here and not in the
//! domain core; they go when the chat closes.
//!
//! # Several nodes
//! A chat's visitor and its messages are replicated like commands: joining
//! ([`VisitorJoin`](crate::domain::VisitorJoin)) and each message are log entries (`LogOp::VisitorJoined`,
//! `LogOp::ChatMessage`) that every replica applies in log order, so the
//! visitor may connect to any node and the agent may sit on any other. The
//! token itself never leaves the node that made it: replicas know its
//! SHA-256. Only the socket outbox and the last position told are this
//! node's own.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Engine;
use super::outbox::{Frame, OutboxSender};
use super::submit::{After, Step};
use crate::api_error::{ApiError, ErrorCode};
use crate::domain::{AgentIx, Channel, GroupIx, ItemId, ItemState, LogOp, Millis, VisitorJoin};

/// Most messages kept with one chat; older ones are dropped.
pub const MAX_MESSAGES: usize = 200;
/// Longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2_000;

/// Who wrote a message (`"agent"` or `"visitor"` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Writer {
    /// The chat's agent.
    Agent,
    /// The visitor.
    Visitor,
}

/// One chat message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatMessage {
    at: u64,
    from: Writer,
    name: String,
    text: String,
}

/// A visitor's side of one chat.
#[derive(Debug)]
pub struct VisitorChat {
    token_sha256: String,
    name: String,
    group: GroupIx,
    outbox: Option<OutboxSender>,
    messages: VecDeque<ChatMessage>,
    told_position: Option<usize>,
}

/// A chat as a snapshot keeps it (without this node's socket).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VisitorState {
    item: ItemId,
    token_sha256: String,
    name: String,
    group: GroupIx,
    messages: Vec<ChatMessage>,
}

use crate::auth::token_digest;

fn frame(v: serde_json::Value) -> Frame {
    v.to_string().into()
}

impl Engine {
    /// A new chat's visitor: a fresh token for the visitor, and the join
    /// every replica records (with the token's digest only).
    pub(super) fn new_visitor(
        item: ItemId,
        group: GroupIx,
        name: String,
        first: String,
    ) -> (String, VisitorJoin) {
        let token = crate::auth::random_secret();
        let join = VisitorJoin {
            item,
            group,
            token_sha256: token_digest(&token),
            name,
            first,
        };
        (token, join)
    }

    /// Records a visitor's chat (applied in log order on every replica).
    pub(super) fn visitor_joined(&mut self, j: VisitorJoin, at: Millis) {
        if self.core.item(j.item).is_none() {
            return;
        }
        let mut chat = VisitorChat {
            token_sha256: j.token_sha256,
            name: j.name,
            group: j.group,
            outbox: None,
            messages: VecDeque::new(),
            told_position: None,
        };
        if !j.first.is_empty() {
            chat.messages.push_back(ChatMessage {
                at,
                from: Writer::Visitor,
                name: chat.name.clone(),
                text: j.first,
            });
        }
        self.visitor_tokens
            .insert(chat.token_sha256.clone(), j.item);
        self.visitors.insert(j.item, chat);
    }

    /// The open chats, for a snapshot.
    pub(super) fn visitors_snapshot(&self) -> Vec<VisitorState> {
        let mut out: Vec<VisitorState> = self
            .visitors
            .iter()
            .map(|(&item, c)| VisitorState {
                item,
                token_sha256: c.token_sha256.clone(),
                name: c.name.clone(),
                group: c.group,
                messages: c.messages.iter().cloned().collect(),
            })
            .collect();
        out.sort_by_key(|v| v.item);
        out
    }

    /// Replaces the chats with a snapshot's; a visitor connected here keeps
    /// its socket if its chat is still open.
    pub(super) fn restore_visitors(&mut self, chats: Vec<VisitorState>) {
        let mut old = std::mem::take(&mut self.visitors);
        self.visitor_tokens.clear();
        for v in chats {
            self.visitor_tokens.insert(v.token_sha256.clone(), v.item);
            let outbox = old.remove(&v.item).and_then(|c| c.outbox);
            self.visitors.insert(
                v.item,
                VisitorChat {
                    token_sha256: v.token_sha256,
                    name: v.name,
                    group: v.group,
                    outbox,
                    messages: v.messages.into(),
                    told_position: None,
                },
            );
        }
    }

    /// A visitor's socket opened: tell it where its chat stands.
    pub(super) fn visitor_connect(
        &mut self,
        token: &str,
        outbox: OutboxSender,
    ) -> Result<ItemId, ApiError> {
        let id = *self
            .visitor_tokens
            .get(&token_digest(token))
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "unknown or finished chat"))?;
        let item = self.core.item(id);
        let state = item.map_or("closed", |i| i.state.as_str());
        let agent = item
            .filter(|i| i.state == ItemState::Active)
            .and_then(|i| i.assignee)
            .map(|a| self.core.directory().agent(a).name.clone());
        let chat = self
            .visitors
            .get_mut(&id)
            .expect("token and chat go together");
        outbox.push(frame(json!({
            "type": "chat", "item": id, "state": state,
            "messages": chat.messages, "agent": agent,
        })));
        chat.told_position = None;
        chat.outbox = Some(outbox);
        self.tell_position(id);
        Ok(id)
    }

    /// A visitor's socket closed; the chat goes on (the visitor may come back).
    pub(super) fn visitor_disconnect(&mut self, item: ItemId) {
        if let Some(chat) = self.visitors.get_mut(&item) {
            chat.outbox = None;
        }
    }

    /// A message for a chat: checked here, then added on every replica
    /// (`LogOp::ChatMessage`) and answered with the stored message.
    pub(super) fn chat_message(
        &mut self,
        item: ItemId,
        from_agent: Option<AgentIx>,
        text: String,
    ) -> Step {
        match self.check_chat_message(item, from_agent, &text) {
            Err(e) => Step::Now(Err(e)),
            Ok(()) => Step::Op(
                LogOp::ChatMessage {
                    item,
                    from_agent,
                    text,
                },
                After::Nothing,
            ),
        }
    }

    /// Adds a message to a chat and relays it to the other side (applied in
    /// log order on every replica; checked again, as the chat may have
    /// changed since it was proposed).
    pub(super) fn add_chat_message(
        &mut self,
        item: ItemId,
        from_agent: Option<AgentIx>,
        text: String,
        at: Millis,
    ) -> Result<Value, ApiError> {
        self.check_chat_message(item, from_agent, &text)?;
        let assignee = self.core.item(item).and_then(|i| i.assignee);
        let name = match from_agent {
            Some(a) => self.core.directory().agent(a).name.clone(),
            None => self
                .visitors
                .get(&item)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
        };
        let chat = self
            .visitors
            .get_mut(&item)
            .expect("checked: the chat has a visitor");
        let msg = ChatMessage {
            at,
            from: if from_agent.is_some() {
                Writer::Agent
            } else {
                Writer::Visitor
            },
            name,
            text,
        };
        if chat.messages.len() == MAX_MESSAGES {
            chat.messages.pop_front();
        }
        chat.messages.push_back(msg.clone());
        let f = frame(json!({ "type": "message", "seq": self.seq, "item": item, "message": msg }));
        if let Some(o) = &chat.outbox {
            o.push(f.clone());
        }
        if let Some(a) = assignee {
            for s in self.agent_sessions[a.0 as usize].clone() {
                self.push_to_session(s, &f);
            }
        }
        Ok(json!({ "item": item, "message": msg }))
    }

    /// Whether `text` may be written in chat `item` by `from_agent` (or its
    /// visitor).
    fn check_chat_message(
        &self,
        item: ItemId,
        from_agent: Option<AgentIx>,
        text: &str,
    ) -> Result<(), ApiError> {
        if text.trim().is_empty() || text.chars().count() > MAX_MESSAGE_CHARS {
            return Err(ApiError::new(
                ErrorCode::InvalidField,
                format!("a message is 1 to {MAX_MESSAGE_CHARS} characters"),
            ));
        }
        let open = self
            .core
            .item(item)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no open item {item}")))?;
        let assignee = open.assignee;
        if let Some(a) = from_agent {
            if assignee != Some(a) {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "only the chat's agent may write in it",
                ));
            }
            if open.state != ItemState::Active {
                return Err(ApiError::new(
                    ErrorCode::InvalidState,
                    "accept the chat before writing",
                ));
            }
        }
        if !self.visitors.contains_key(&item) {
            return Err(ApiError::new(
                ErrorCode::InvalidState,
                "this item has no visitor to talk to",
            ));
        }
        Ok(())
    }

    /// The messages of a chat, for the agent who opens it.
    pub(super) fn chat_messages(&self, item: ItemId) -> Vec<ChatMessage> {
        self.visitors
            .get(&item)
            .map(|c| c.messages.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Pushes the visitor's queue position if it changed.
    fn tell_position(&mut self, item: ItemId) {
        let position = self.core.queue_position(item);
        let Some(chat) = self.visitors.get_mut(&item) else {
            return;
        };
        let Some(outbox) = &chat.outbox else {
            return;
        };
        if position == chat.told_position {
            return;
        }
        chat.told_position = position;
        let f = match position {
            Some(p) => json!({ "type": "position", "position": p,
                "queue_length": self.core.queue_len(chat.group, Channel::Chat) }),
            None => json!({ "type": "connecting" }),
        };
        outbox.push(frame(f));
    }

    /// After a queue of `group` changed: every waiting visitor there learns
    /// its new position.
    pub(super) fn visitors_queue_changed(&mut self, group: GroupIx) {
        let ids: Vec<ItemId> = self
            .visitors
            .iter()
            .filter(|(_, c)| c.group == group && c.outbox.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.tell_position(id);
        }
    }

    /// An agent accepted the chat.
    pub(super) fn visitor_agent_joined(&mut self, item: ItemId, name: &str) {
        if let Some(o) = self.visitors.get(&item).and_then(|c| c.outbox.as_ref()) {
            o.push(frame(json!({ "type": "agent_joined", "name": name })));
        }
    }

    /// The chat moved to another group (transfer): positions follow it.
    pub(super) fn visitor_moved(&mut self, item: ItemId, group: GroupIx) {
        if let Some(c) = self.visitors.get_mut(&item) {
            c.group = group;
        }
    }

    /// The chat closed: tell the visitor and forget it.
    pub(super) fn visitor_closed(&mut self, item: ItemId) {
        if let Some(chat) = self.visitors.remove(&item) {
            self.visitor_tokens.remove(&chat.token_sha256);
            if let Some(o) = &chat.outbox {
                o.push(frame(json!({ "type": "closed" })));
            }
        }
    }
}
