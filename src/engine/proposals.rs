//! This node's proposals on their way through the log: what each waits
//! for, and whose answer it is. Owned by the engine task; a proposal is
//! answered when its entry comes back applied, or refused when the log
//! could not take it.

use std::collections::HashMap;

use tokio::sync::mpsc;

use super::submit::{After, Pending};
use crate::domain::LogEntry;

/// The proposals of this node.
#[derive(Debug)]
pub(super) struct Proposals {
    /// The log's appender: every change goes through it.
    pub(super) log: mpsc::UnboundedSender<LogEntry>,
    /// Proposals waiting to come back from the log, by request number.
    pub(super) pending: HashMap<u64, (After, Pending)>,
    /// Number of the next proposal.
    pub(super) next_req: u64,
    /// A `Tick` of this node is on its way through the log (one at a time).
    pub(super) tick_in_flight: bool,
    /// The scoped idempotency key of the request being handled: the first
    /// entry it proposes carries it.
    pub(super) key: Option<String>,
}

impl Proposals {
    /// None yet, appending to `log`.
    pub(super) fn new(log: mpsc::UnboundedSender<LogEntry>) -> Self {
        Proposals {
            log,
            pending: HashMap::new(),
            next_req: 1,
            tick_in_flight: false,
            key: None,
        }
    }
}
