//! Visitors' sockets on this node.
//!
//! # Ownership
//! A visitor's chat (its token digest, group and messages) is replicated
//! state ([`crate::replica::chats`]): the chat with its visitor and each
//! message are log entries (`LogOp::NewChat`, `LogOp::ChatMessage`) that every replica
//! applies in log order, so the visitor may connect to any node and the
//! agent may sit on any other. A new chat and its visitor are one entry
//! (`LogOp::NewChat`). The token itself never leaves the node that
//! made it: replicas know its SHA-256. What the engine owns here is only
//! this node's side: the visitor's socket outbox and the last queue position
//! it was told.

use serde_json::json;

use super::Engine;
use super::outbox::{Frame, OutboxSender};
use super::submit::{After, Pending, Step};
use crate::api_error::{ApiError, ErrorCode};
use crate::auth::token_digest;
use crate::domain::{AgentIx, Channel, Command, GroupIx, ItemId, ItemState, LogOp, NewVisitor};
use crate::replica::chats::ChatMessage;

/// A visitor connected to this node.
#[derive(Debug)]
pub struct VisitorSocket {
    outbox: OutboxSender,
    told_position: Option<usize>,
    /// Unique across nodes: replicas know which socket a close is about.
    socket: u64,
}

fn frame(v: serde_json::Value) -> Frame {
    v.to_string().into()
}

impl Engine {
    /// A new chat's visitor: a fresh token for the visitor, and what every
    /// replica records of it (the token's digest only).
    pub(super) fn new_visitor(name: String, first: String) -> (String, NewVisitor) {
        let token = crate::auth::random_secret();
        let visitor = NewVisitor {
            token_sha256: token_digest(&token),
            name,
            first,
        };
        (token, visitor)
    }

    /// After a restore: sockets of chats the restored state no longer has
    /// are told the chat closed and dropped.
    pub(super) fn forget_closed_visitor_sockets(&mut self) {
        let chats = self.state.chats();
        let gone: Vec<ItemId> = self
            .visitor_sockets
            .keys()
            .filter(|id| chats.get(**id).is_none())
            .copied()
            .collect();
        for id in gone {
            self.visitor_closed(id);
        }
        for socket in self.visitor_sockets.values_mut() {
            socket.told_position = None;
        }
    }

    /// A visitor's socket opened: tell it where its chat stands.
    pub(super) fn visitor_connect(
        &mut self,
        token: &str,
        outbox: OutboxSender,
    ) -> Result<ItemId, ApiError> {
        let chats = self.state.chats();
        let id = chats
            .item_of_token(&token_digest(token))
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "unknown or finished chat"))?;
        let core = self.state.core();
        let item = core.item(id);
        let state = item.map_or("closed", |i| i.state.as_str());
        let agent = item
            .filter(|i| i.state == ItemState::Active)
            .and_then(|i| i.assignee)
            .map(|a| core.directory().agent(a).name.clone());
        let messages = chats.get(id).map(|c| c.messages()).unwrap_or_default();
        outbox.push(frame(json!({
            "type": "chat", "item": id, "state": state,
            "messages": messages, "agent": agent,
        })));
        let open = item.is_some();
        let socket = self.new_session_id();
        self.visitor_sockets.insert(
            id,
            VisitorSocket {
                outbox,
                told_position: None,
                socket,
            },
        );
        if open {
            self.submit(
                Command::VisitorBack { item: id, socket },
                After::Nothing,
                Pending::None,
            );
        }
        self.tell_position(id);
        Ok(id)
    }

    /// A visitor's socket closed; the chat goes on (the visitor may come
    /// back), and every replica learns that its visitor is gone (a queued
    /// chat is abandoned when it stays gone for the group's limit).
    pub(super) fn visitor_disconnect(&mut self, item: ItemId) {
        let Some(gone) = self.visitor_sockets.remove(&item) else {
            return;
        };
        if self.state.core().item(item).is_some() {
            self.submit(
                Command::VisitorLeft {
                    item,
                    socket: gone.socket,
                },
                After::Nothing,
                Pending::None,
            );
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
        let checked = self
            .state
            .chats()
            .check_message(self.state.core(), item, from_agent, &text);
        match checked {
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

    /// A message was added (on every replica): relay it to the visitor's
    /// socket and the agent's sessions on this node.
    pub(super) fn relay_message(
        &mut self,
        seq: u64,
        item: ItemId,
        message: &ChatMessage,
        assignee: Option<AgentIx>,
    ) {
        let f = frame(json!({ "type": "message", "seq": seq, "item": item, "message": message }));
        if let Some(socket) = self.visitor_sockets.get(&item) {
            socket.outbox.push(f.clone());
        }
        if let Some(a) = assignee {
            // Recorded with the agent's pushes: a console that reconnects
            // gets the messages it missed replayed.
            self.push_to_agent(seq, a, &f);
        }
    }

    /// The visitor chats `a` holds, with their messages (for its welcome).
    pub(super) fn held_chats(&self, a: AgentIx) -> Vec<super::views::WelcomeChat> {
        self.state
            .core()
            .presence(a)
            .held
            .iter()
            .filter_map(|&item| {
                let chat = self.state.chats().get(item)?;
                Some(super::views::WelcomeChat {
                    item,
                    messages: chat.messages(),
                })
            })
            .collect()
    }

    /// The messages of a chat, for the agent who opens it.
    pub(super) fn chat_messages(&self, item: ItemId) -> Vec<ChatMessage> {
        self.state
            .chats()
            .get(item)
            .map(|c| c.messages())
            .unwrap_or_default()
    }

    /// Pushes the visitor's queue position if it changed.
    fn tell_position(&mut self, item: ItemId) {
        let core = self.state.core();
        let position = core.queue_position(item);
        let Some(group) = self.state.chats().get(item).map(|c| c.group) else {
            return;
        };
        let Some(socket) = self.visitor_sockets.get_mut(&item) else {
            return;
        };
        if position == socket.told_position {
            return;
        }
        socket.told_position = position;
        let f = match position {
            Some(p) => json!({ "type": "position", "position": p,
                "queue_length": core.queue_len(group, Channel::Chat) }),
            None => json!({ "type": "connecting" }),
        };
        socket.outbox.push(frame(f));
    }

    /// After a queue of `group` changed: every waiting visitor there
    /// connected to this node learns its new position.
    pub(super) fn visitors_queue_changed(&mut self, group: GroupIx) {
        let ids: Vec<ItemId> = self
            .state
            .chats()
            .in_group(group)
            .filter(|id| self.visitor_sockets.contains_key(id))
            .collect();
        for id in ids {
            self.tell_position(id);
        }
    }

    /// An agent accepted the chat.
    pub(super) fn visitor_agent_joined(&mut self, item: ItemId, name: &str) {
        if let Some(socket) = self.visitor_sockets.get(&item) {
            socket
                .outbox
                .push(frame(json!({ "type": "agent_joined", "name": name })));
        }
    }

    /// The chat closed: tell the visitor and forget its socket.
    pub(super) fn visitor_closed(&mut self, item: ItemId) {
        if let Some(socket) = self.visitor_sockets.remove(&item) {
            socket.outbox.push(frame(json!({ "type": "closed" })));
        }
    }
}
