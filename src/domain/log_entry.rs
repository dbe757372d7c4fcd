//! The entries of the replicated log: what every replica applies, in log
//! order, to compute the same state.
//!
//! They live in the domain because they are plain data every layer above
//! shares: the stores keep and return them without looking inside, and the
//! engine applies them. Keeping them here means no store ever imports the
//! engine.

use serde::{Deserialize, Serialize};

use super::{Actor, AgentIx, Command, CredentialChange, GroupIx, GroupScope, ItemId, Millis};

/// One entry of the log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogEntry {
    /// The node that proposed it (only it answers).
    pub origin: u32,
    /// The proposing node's request number.
    pub req: u64,
    /// The proposer's clock; replicas use the largest seen so far, so time
    /// never runs backwards whatever the nodes' clocks.
    pub now: Millis,
    /// What to apply.
    pub op: LogOp,
    /// The write's idempotency key, scoped to who asked (`a:AGENT:KEY`,
    /// `i:INTEGRATION:KEY`): a later entry with the same key within the
    /// window is not applied again, its proposer gets the first outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// What a log entry applies.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LogOp {
    /// A domain command.
    Command(Command),
    /// Fire the core's due timers (grace, hand-offs, ring timeouts). Any node
    /// may append one; applying it twice changes nothing more.
    Tick,
    /// A node stopped heartbeating: close every session it held.
    DropNode(u32),
    /// A login token (by digest) was logged out: every node closes the
    /// sessions it opened.
    CloseLogin(String),
    /// New chat work and its visitor, in one entry: the chat never exists
    /// without its visitor, whatever happens between two entries.
    NewChat {
        /// The `CreateWork` command.
        command: Command,
        /// Who is waiting for it.
        visitor: NewVisitor,
    },
    /// A visitor's chat recorded after its item (written by the previous
    /// release, which created a chat and its visitor in two entries; still
    /// applied so that such a log replays).
    VisitorJoined(VisitorJoin),
    /// A directory change that creates agents, with their password hashes,
    /// in one entry: an account never exists without a way to log in.
    Administer {
        /// The `Admin` command.
        command: Command,
        /// Agent id → argon2 PHC string, for the agents it creates.
        passwords: Vec<(String, String)>,
    },
    /// A password or an integration key changed.
    Credential {
        /// Who asks.
        actor: Actor,
        /// What.
        change: CredentialChange,
    },
    /// A command an integration asked for about an item (`Close`,
    /// `Cancel`, `Update`, `Assign`, `Transfer` to a group): applied only if every group it
    /// touches is in `scope` at this point of the log, and audited under the
    /// integration's name.
    ByIntegration {
        /// The integration's name.
        name: String,
        /// Where it may act.
        scope: GroupScope,
        /// What it asks.
        command: Command,
    },
    /// A chat message (from the chat's agent, or its visitor when `None`).
    ChatMessage {
        /// The chat.
        item: ItemId,
        /// The writing agent; `None` for the visitor.
        from_agent: Option<AgentIx>,
        /// The text.
        text: String,
    },
}

/// The visitor of a new chat. The token itself never enters the log, only
/// its SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewVisitor {
    /// SHA-256 (hex) of the visitor's token.
    pub token_sha256: String,
    /// The visitor's name.
    pub name: String,
    /// The visitor's first message.
    pub first: String,
}

/// A visitor joins its chat: what every replica records. The token itself
/// never enters the log, only its SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VisitorJoin {
    /// The chat.
    pub item: ItemId,
    /// Its group.
    pub group: GroupIx,
    /// SHA-256 (hex) of the visitor's token.
    pub token_sha256: String,
    /// The visitor's name.
    pub name: String,
    /// The visitor's first message.
    pub first: String,
}
