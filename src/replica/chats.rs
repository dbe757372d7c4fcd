//! Visitors' chats as every replica records them: who the visitor is (by
//! token digest), which group the chat is in now, and its messages
//! (bounded).
//!
//! A chat is recorded when its `VisitorJoined` entry is applied and
//! forgotten when its item closes. The visitor's socket, and what it was
//! last told, are not here: they belong to the node the visitor is
//! connected to.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::api_error::{ApiError, ErrorCode};
use crate::domain::{AgentIx, Core, GroupIx, ItemId, ItemState, Millis, VisitorJoin};

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

/// One chat message, as the wire shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    at: u64,
    from: Writer,
    name: String,
    text: String,
}

/// One open chat with a visitor.
#[derive(Debug, Clone, PartialEq)]
pub struct Chat {
    /// SHA-256 (hex) of the visitor's token.
    pub token_sha256: String,
    /// The visitor's name.
    pub name: String,
    /// The chat's group now (it follows transfers).
    pub group: GroupIx,
    messages: VecDeque<ChatMessage>,
}

impl Chat {
    /// The messages, oldest first.
    pub fn messages(&self) -> Vec<ChatMessage> {
        self.messages.iter().cloned().collect()
    }
}

/// A chat as a snapshot keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatState {
    item: ItemId,
    token_sha256: String,
    name: String,
    group: GroupIx,
    messages: Vec<ChatMessage>,
}

/// Every open chat with a visitor, by item and by token digest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chats {
    by_item: HashMap<ItemId, Chat>,
    by_token: HashMap<String, ItemId>,
}

impl Chats {
    /// Records a visitor's chat, if its item is still open.
    pub fn join(&mut self, core: &Core, j: VisitorJoin, at: Millis) {
        if core.item(j.item).is_none() {
            return;
        }
        let mut chat = Chat {
            token_sha256: j.token_sha256,
            name: j.name,
            group: j.group,
            messages: VecDeque::new(),
        };
        if !j.first.is_empty() {
            chat.messages.push_back(ChatMessage {
                at,
                from: Writer::Visitor,
                name: chat.name.clone(),
                text: j.first,
            });
        }
        self.by_token.insert(chat.token_sha256.clone(), j.item);
        self.by_item.insert(j.item, chat);
    }

    /// The chat of an item.
    pub fn get(&self, item: ItemId) -> Option<&Chat> {
        self.by_item.get(&item)
    }

    /// The item of a visitor's token digest.
    pub fn item_of_token(&self, token_sha256: &str) -> Option<ItemId> {
        self.by_token.get(token_sha256).copied()
    }

    /// The chats of a group.
    pub fn in_group(&self, group: GroupIx) -> impl Iterator<Item = ItemId> + '_ {
        self.by_item
            .iter()
            .filter(move |(_, c)| c.group == group)
            .map(|(id, _)| *id)
    }

    /// The chat moved to another group (a transfer).
    pub fn moved(&mut self, item: ItemId, group: GroupIx) {
        if let Some(c) = self.by_item.get_mut(&item) {
            c.group = group;
        }
    }

    /// The chat's item closed: the chat is forgotten.
    pub fn closed(&mut self, item: ItemId) {
        if let Some(chat) = self.by_item.remove(&item) {
            self.by_token.remove(&chat.token_sha256);
        }
    }

    /// Whether `text` may be written in chat `item` by `from_agent` (or its
    /// visitor when `None`).
    pub fn check_message(
        &self,
        core: &Core,
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
        let open = core
            .item(item)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no open item {item}")))?;
        if let Some(a) = from_agent {
            if open.assignee != Some(a) {
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
        if !self.by_item.contains_key(&item) {
            return Err(ApiError::new(
                ErrorCode::InvalidState,
                "this item has no visitor to talk to",
            ));
        }
        Ok(())
    }

    /// Adds a message (checked again: the chat may have changed since it was
    /// proposed); gives the stored message.
    pub fn add_message(
        &mut self,
        core: &Core,
        item: ItemId,
        from_agent: Option<AgentIx>,
        text: String,
        at: Millis,
    ) -> Result<ChatMessage, ApiError> {
        self.check_message(core, item, from_agent, &text)?;
        let chat = self
            .by_item
            .get_mut(&item)
            .expect("checked: the chat has a visitor");
        let (from, name) = match from_agent {
            Some(a) => (Writer::Agent, core.directory().agent(a).name.clone()),
            None => (Writer::Visitor, chat.name.clone()),
        };
        let msg = ChatMessage {
            at,
            from,
            name,
            text,
        };
        if chat.messages.len() == MAX_MESSAGES {
            chat.messages.pop_front();
        }
        chat.messages.push_back(msg.clone());
        Ok(msg)
    }

    /// The open chats, for a snapshot (in item order, so that two replicas'
    /// snapshots are equal byte for byte).
    pub fn snapshot(&self) -> Vec<ChatState> {
        let mut out: Vec<ChatState> = self
            .by_item
            .iter()
            .map(|(&item, c)| ChatState {
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

    /// The chats of a snapshot.
    pub fn restore(chats: Vec<ChatState>) -> Chats {
        let mut out = Chats::default();
        for v in chats {
            out.by_token.insert(v.token_sha256.clone(), v.item);
            out.by_item.insert(
                v.item,
                Chat {
                    token_sha256: v.token_sha256,
                    name: v.name,
                    group: v.group,
                    messages: v.messages.into(),
                },
            );
        }
        out
    }
}
