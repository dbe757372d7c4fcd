//! Visitors waiting for, and then having, a chat.
//!
//! # Ownership
//! The engine task owns every [`VisitorChat`]: the visitor's socket outbox,
//! the chat's messages (bounded) and the last queue position the visitor was
//! told. Messages are not routing state, so they live here and not in the
//! domain core; they go when the chat closes.

use std::collections::VecDeque;

use serde::Serialize;
use serde_json::json;

use super::outbox::{Frame, OutboxSender};
use super::{Engine, now_ms};
use crate::api_error::{ApiError, ErrorCode};
use crate::domain::{Channel, GroupIx, ItemId, ItemState};

/// Most messages kept with one chat; older ones are dropped.
pub const MAX_MESSAGES: usize = 200;
/// Longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2_000;

/// One chat message.
#[derive(Debug, Clone, Serialize)]
pub struct ChatMessage {
    at: u64,
    from: &'static str,
    name: String,
    text: String,
}

/// A visitor's side of one chat.
#[derive(Debug)]
pub struct VisitorChat {
    token: String,
    name: String,
    group: GroupIx,
    outbox: Option<OutboxSender>,
    messages: VecDeque<ChatMessage>,
    told_position: Option<usize>,
}

fn frame(v: serde_json::Value) -> Frame {
    v.to_string().into()
}

impl Engine {
    /// Registers the visitor of a new chat and returns its token.
    pub(super) fn add_visitor(
        &mut self,
        item: ItemId,
        group: GroupIx,
        name: String,
        first: &str,
    ) -> String {
        let token = crate::auth::random_secret();
        let mut chat = VisitorChat {
            token: token.clone(),
            name,
            group,
            outbox: None,
            messages: VecDeque::new(),
            told_position: None,
        };
        if !first.is_empty() {
            chat.messages.push_back(ChatMessage {
                at: now_ms(),
                from: "visitor",
                name: chat.name.clone(),
                text: first.to_string(),
            });
        }
        self.visitor_tokens.insert(token.clone(), item);
        self.visitors.insert(item, chat);
        token
    }

    /// A visitor's socket opened: tell it where its chat stands.
    pub(super) fn visitor_connect(
        &mut self,
        token: &str,
        outbox: OutboxSender,
    ) -> Result<ItemId, ApiError> {
        let id = *self
            .visitor_tokens
            .get(token)
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

    /// Adds a message to a chat and relays it to the other side.
    pub(super) fn chat_message(
        &mut self,
        item: ItemId,
        from_agent: Option<crate::domain::AgentIx>,
        text: String,
    ) -> Result<serde_json::Value, ApiError> {
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
        let name = match from_agent {
            Some(a) => self.core.directory().agent(a).name.clone(),
            None => self
                .visitors
                .get(&item)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
        };
        let chat = self.visitors.get_mut(&item).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidState,
                "this item has no visitor to talk to",
            )
        })?;
        let msg = ChatMessage {
            at: now_ms(),
            from: if from_agent.is_some() {
                "agent"
            } else {
                "visitor"
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
            self.visitor_tokens.remove(&chat.token);
            if let Some(o) = &chat.outbox {
                o.push(frame(json!({ "type": "closed" })));
            }
        }
    }
}
