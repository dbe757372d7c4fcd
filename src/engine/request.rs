//! What the transport asks the engine, with string ids as they came off the
//! wire; the engine resolves them against its directory.

use serde::Deserialize;
use serde_json::Value;
use strum::IntoStaticStr;
use tokio::sync::oneshot;

use super::board::{BoardCursor, BoardPiece, WatchAnswer};
use super::outbox::OutboxSender;
use crate::api_error::ApiError;
use crate::domain::{Channel, Millis};

/// Where the answer to a request goes.
pub type Answer<T> = oneshot::Sender<Result<T, ApiError>>;

/// One cell of a `set_active` request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellSpec {
    /// Group id.
    pub group: String,
    /// Channel.
    pub channel: Channel,
    /// On or off.
    pub active: bool,
}

/// A request made on a console session: exactly the wire's request frame
/// (docs/protocol.md), deserialized straight from it. `type` names the
/// variant in snake case; the frame's `id` is taken off before.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, IntoStaticStr)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[strum(serialize_all = "snake_case")]
pub enum SessionOp {
    /// Liveness check, answered with the server's clock. A struct variant
    /// with no fields, not a unit one: serde lets a unit variant of an
    /// internally tagged enum carry any fields, and an unknown field must
    /// be refused like on every other request.
    Ping {},
    /// Switch one's own availability.
    SetAvailability {
        /// The new value.
        available: bool,
    },
    /// Set a status by name (`Available`, `Unavailable` or one of the help
    /// desk's reasons); another agent's only for admins, and managers when
    /// the help desk allows it.
    SetStatus {
        /// Whose (default: oneself).
        agent: Option<String>,
        /// The status name.
        status: String,
    },
    /// Ready for work: every wrap-up ends now, and a Not Responding agent
    /// is back in routing.
    Ready,
    /// Explicit cells, atomically.
    SetActive {
        /// Whose (default: oneself).
        agent: Option<String>,
        /// Which.
        cells: Vec<CellSpec>,
    },
    /// A channel in all the agent's groups.
    SetActiveColumn {
        /// Whose.
        agent: Option<String>,
        /// Which channel.
        channel: Channel,
        /// On or off.
        active: bool,
    },
    /// All channels of one group.
    SetActiveRow {
        /// Whose.
        agent: Option<String>,
        /// Which group.
        group: String,
        /// On or off.
        active: bool,
    },
    /// Cherry-pick a queued item.
    Take {
        /// The item.
        item: u64,
    },
    /// First response (`answer` for a ringing call is the same request).
    #[serde(alias = "answer")]
    Accept {
        /// The item.
        item: u64,
    },
    /// Done.
    Close {
        /// The item.
        item: u64,
    },
    /// Decline a ringing call (or an unaccepted item).
    Decline {
        /// The item.
        item: u64,
    },
    /// Take over an item someone else holds (managers).
    TakeOver {
        /// The item.
        item: u64,
    },
    /// Move an item to a group or a named member of it.
    Transfer {
        /// The item.
        item: u64,
        /// The receiving group.
        group: String,
        /// A named member, or routing by the group's rules.
        agent: Option<String>,
        /// Why, for the receiving side (`null` or absent: none).
        note: Option<String>,
    },
    /// Why an item went where it went, or still waits.
    Explain {
        /// The item.
        item: u64,
    },
    /// Write to the visitor of a chat one holds.
    Message {
        /// The chat.
        item: u64,
        /// The text.
        text: String,
    },
    /// Stop watching.
    Unwatch {
        /// The group, or all.
        group: Option<String>,
    },
}

impl SessionOp {
    /// The wire name of the request, for logs and metrics.
    pub fn name(&self) -> &'static str {
        self.into()
    }
}

/// A console's `watch`: not a [`SessionOp`], because the transport serves
/// it (the board is streamed in pieces as the socket drains, reading the
/// engine's state a piece at a time: [`Request::Watch`],
/// [`Request::WatchPiece`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchRequest {
    /// The group, or every group one may watch.
    #[serde(default)]
    pub group: Option<String>,
    /// Send the snapshot in bounded pieces and batch the session's
    /// `agent_status` pushes from then on.
    #[serde(default)]
    pub pieces: bool,
}

/// Who makes an HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A logged-in console user (by agent id).
    Agent(String),
    /// An integration holding an API key, acting only in its groups (the
    /// engine checks the scope on every request that touches a group).
    Integration(std::sync::Arc<crate::integrations::Integration>),
}

/// A request made over the HTTP API.
#[derive(Debug, Clone)]
pub enum HttpOp {
    /// New work.
    CreateWork {
        /// Group id.
        group: String,
        /// Channel.
        channel: Channel,
        /// Higher first.
        priority: i32,
        /// Label.
        title: String,
        /// For a chat: the visitor's name (the chat gets a visitor token).
        visitor: Option<String>,
    },
    /// A group's queued items.
    GroupQueue {
        /// Group id.
        group: String,
    },
    /// Online/offline, queue length and expected wait of a group's chat.
    GroupStatus {
        /// Group id.
        group: String,
    },
    /// Routing explanation of an item.
    Explain {
        /// Item id.
        item: u64,
    },
    /// An agent's status.
    AgentStatus {
        /// Agent id.
        agent: String,
    },
    /// An admin disables or enables an agent's account.
    SetEnabled {
        /// Whose account.
        agent: String,
        /// Enabled or disabled.
        enabled: bool,
    },
    /// An administration request (admins and managers).
    Admin(super::AdminOp),
    /// Agents' statuses, paged, members of a group when given.
    ListAgents {
        /// Group id filter.
        group: Option<String>,
        /// Which rows.
        page: super::Page,
    },
    /// An integration or a person sets an agent's presence.
    SetPresence {
        /// Whose presence.
        agent: String,
        /// What changes.
        change: PresenceChange,
    },
    /// A group's live figures per channel.
    GroupStats {
        /// Group id.
        group: String,
    },
    /// The items API of integrations.
    Items(ItemsOp),
    /// The audit report.
    Audit {
        /// Agent id filter.
        agent: Option<String>,
        /// Group id filter.
        group: Option<String>,
        /// Since filter.
        since: Option<Millis>,
        /// Most entries.
        limit: usize,
    },
}

/// A presence change asked over HTTP (`PUT /api/agents/{id}/…`).
#[derive(Debug, Clone)]
pub enum PresenceChange {
    /// A status by name: `Available`, `Unavailable` or a reason.
    Status(String),
    /// The availability switch (the statuses `Available`, `Unavailable`).
    Availability(bool),
    /// Explicit active cells: group id, channel, active.
    Cells(Vec<(String, Channel, bool)>),
}

/// What an integration asks of the items API (docs/protocol.md §1.3).
#[derive(Debug, Clone)]
pub enum ItemsOp {
    /// One open item.
    Get {
        /// Item id.
        item: u64,
    },
    /// Open items of the integration's groups, paged by id.
    List(ItemFilter),
    /// A change of one item.
    Change {
        /// Item id.
        item: u64,
        /// What.
        change: ItemChangeRequest,
    },
}

/// Which open items to list.
#[derive(Debug, Clone)]
pub struct ItemFilter {
    /// Only items in this state.
    pub state: Option<crate::domain::ItemState>,
    /// Only items of this group (id).
    pub group: Option<String>,
    /// Only items of this channel.
    pub channel: Option<Channel>,
    /// Only items this agent (id) holds.
    pub agent: Option<String>,
    /// Only items with an id above this (the previous page's `next_cursor`).
    pub cursor: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

/// A change of an item by an integration, with ids as they came.
#[derive(Debug, Clone)]
pub enum ItemChangeRequest {
    /// Done.
    Close,
    /// Withdrawn.
    Cancel,
    /// New title or priority.
    Update {
        /// The new title.
        title: Option<String>,
        /// The new priority.
        priority: Option<i32>,
    },
    /// To another group.
    Move {
        /// Group id.
        group: String,
        /// Why, for the receiving side.
        note: String,
    },
    /// To a named member of the item's group.
    Assign {
        /// Agent id.
        agent: String,
        /// Even at its cap (the integration must be allowed to).
        override_capacity: bool,
    },
}

/// Everything the engine task receives, in one channel.
#[derive(Debug)]
pub enum Request {
    /// This node could not beat its heartbeat for longer than it lives: the
    /// cluster may have dropped its sessions. Every console here is told to
    /// reconnect (`cut_off`), proposals in flight are of unknown outcome.
    CutOff,
    /// The store answers again after a cut-off: this node is now `new` in
    /// the log, and the sessions the log still holds under `old` are closed
    /// through it.
    Rejoined {
        /// The id before the cut.
        old: u32,
        /// The id from now on.
        new: u32,
    },
    /// A write with the client's idempotency key: the entry it proposes
    /// carries the key, scoped to the caller, so that a retry gets the first
    /// outcome (docs/protocol.md, idempotency).
    Keyed {
        /// The client's key (at most 128 bytes).
        key: String,
        /// The request (`Http` or `Session`).
        request: Box<Request>,
    },
    /// A console session opened: register it, log the agent in, push welcome.
    Connect {
        /// Agent id (already authenticated).
        agent: String,
        /// Where its pushes go.
        outbox: OutboxSender,
        /// The last sequence the console saw before it reconnected.
        resume: Option<u64>,
        /// The digest of the login token that opened it (`auth::token_digest`),
        /// so that logging out closes it.
        login: String,
        /// The new session's id.
        answer: Answer<u64>,
    },
    /// A login token was revoked (`POST /api/logout`): close the sessions it
    /// opened, on every node.
    Logout {
        /// The token's digest.
        login: String,
        /// Answered once the close came back from the log and was applied
        /// here (every node applies it).
        answer: Answer<Value>,
    },
    /// A console session closed.
    Disconnect {
        /// Its id.
        session: u64,
    },
    /// A frame of a session.
    Session {
        /// The session.
        session: u64,
        /// What it asks.
        op: SessionOp,
        /// The `data` of the `ok`.
        answer: Answer<Value>,
    },
    /// A session's `watch`: registers it as a watcher and answers the
    /// board: the whole snapshot as JSON text (the `data` of its `ok`), not
    /// as a `Value`, because it can be megabytes and is shared between
    /// supervisors asking for the same one (see `engine/board.rs`); or, in
    /// pieces, only its head and where its agents start.
    Watch {
        /// The session.
        session: u64,
        /// One group id, or every group the session's agent may watch.
        group: Option<String>,
        /// Whether the session reads the agents in pieces
        /// ([`Request::WatchPiece`]).
        pieces: bool,
        /// The board.
        answer: Answer<WatchAnswer>,
    },
    /// The next piece of the agents of a board watched in pieces, read from
    /// the state as it is now.
    WatchPiece {
        /// Where the piece starts.
        cursor: BoardCursor,
        /// The statuses are appended to this text (the frame's start).
        out: String,
        /// Most bytes `out` holds after it (one status alone may exceed it).
        limit: usize,
        /// The piece, and where the next one starts.
        answer: Answer<BoardPiece>,
    },
    /// An HTTP API call.
    Http {
        /// Who.
        caller: Caller,
        /// What.
        op: HttpOp,
        /// The body of the 2xx answer.
        answer: Answer<Value>,
    },
    /// A visitor's socket opened.
    VisitorConnect {
        /// The visitor token of its chat.
        token: String,
        /// Where its pushes go.
        outbox: OutboxSender,
        /// The chat's item id.
        answer: Answer<u64>,
    },
    /// A visitor's socket closed.
    VisitorDisconnect {
        /// The chat.
        item: u64,
    },
    /// A visitor wrote a message.
    VisitorMessage {
        /// The chat.
        item: u64,
        /// The text.
        text: String,
        /// The stored message.
        answer: Answer<Value>,
    },
    /// Entries of the log, in log order, with their positions: applied one
    /// after the other in this one request, so a batch read from the log
    /// costs one message to the engine, not one per entry.
    Replicated {
        /// The entries and their positions.
        entries: Vec<(String, crate::domain::LogEntry)>,
    },
    /// The replicated state after the last applied entry, to store as the
    /// cluster's snapshot.
    Snapshot {
        /// The snapshot.
        answer: oneshot::Sender<crate::replica::ReplicaSnapshot>,
    },
    /// Replace the replicated state with a stored snapshot (at start, or
    /// after falling behind a trimmed log).
    Restore {
        /// The snapshot.
        snapshot: Box<crate::replica::ReplicaSnapshot>,
        /// The audit history up to the snapshot, oldest first.
        audit: Vec<super::AuditRecord>,
        /// Refused when the snapshot does not fit this build or directory.
        answer: oneshot::Sender<Result<(), ApiError>>,
    },
    /// The shared log confirmed the append of these proposals of this node
    /// (durable and, when configured, on enough replicas).
    ProposalsAppended {
        /// The proposals' numbers.
        reqs: Vec<u64>,
    },
    /// The shared log refused or lost a proposal of this node.
    ProposalFailed {
        /// The proposal's number.
        req: u64,
        /// Why.
        error: ApiError,
    },
    /// Shutting down: tell every session to go elsewhere and drop them all
    /// without logging anyone out.
    GoingAway {
        /// Answered once every session was told.
        answer: oneshot::Sender<()>,
    },
    /// Test and admin helper: the number of open local sessions.
    SessionCount {
        /// The count.
        answer: oneshot::Sender<usize>,
    },
}
