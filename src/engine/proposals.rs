//! This node's proposals on their way through the log: what each waits
//! for, and whose answer it is. Owned by the engine task; a proposal is
//! answered once its entry came back applied *and* the store confirmed the
//! append, or refused when the log could not take it.
//!
//! # Why both
//! An entry may come back from the log before the store confirmed it: other
//! readers see a Redis entry as soon as the primary has it, while the
//! append still waits for a replica to have it too (`WAIT`). An answer sent
//! then could be lost with the primary in a failover. So an answer built
//! before the confirmation is held here until it comes (or answered
//! `outcome_unknown` if the append fails instead).

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::Answer;
use super::submit::{After, Pending};
use crate::api_error::ApiError;
use crate::domain::LogEntry;

/// The proposals of this node.
#[derive(Debug)]
pub(super) struct Proposals {
    /// The log's appender: every change goes through it.
    pub(super) log: mpsc::UnboundedSender<LogEntry>,
    /// Proposals waiting to come back from the log, by request number.
    pub(super) pending: HashMap<u64, (After, Pending)>,
    /// Pending proposals whose append the store already confirmed.
    pub(super) appended: HashSet<u64>,
    /// Answers of proposals applied before the store confirmed them.
    pub(super) held: HashMap<u64, HeldAnswer>,
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
            appended: HashSet::new(),
            held: HashMap::new(),
            next_req: 1,
            tick_in_flight: false,
            key: None,
        }
    }

    /// Every proposal still waiting, applied or not, to be answered with
    /// the same error (the node resynchronised or was cut off).
    pub(super) fn drain_waiting(&mut self) -> Vec<Pending> {
        self.appended.clear();
        let mut waiting: Vec<Pending> = self.pending.drain().map(|(_, (_, p))| p).collect();
        waiting.extend(self.held.drain().map(|(_, held)| held.into_pending()));
        waiting
    }
}

/// An answer built when its proposal was applied, not yet sent.
#[derive(Debug)]
pub(super) enum HeldAnswer {
    /// A request answered with JSON.
    Value(Answer<Value>, Result<Value, ApiError>),
    /// A connect answered with the session id.
    Session(Answer<u64>, Result<u64, ApiError>),
}

impl HeldAnswer {
    /// Sends the answer.
    pub(super) fn send(self) {
        match self {
            HeldAnswer::Value(answer, result) => {
                let _ = answer.send(result);
            }
            HeldAnswer::Session(answer, result) => {
                let _ = answer.send(result);
            }
        }
    }

    /// Who waits, the answer dropped (to be answered otherwise).
    pub(super) fn into_pending(self) -> Pending {
        match self {
            HeldAnswer::Value(answer, _) => Pending::Value(answer),
            HeldAnswer::Session(answer, _) => Pending::Session(answer),
        }
    }
}

/// Where an answer goes while it may not be sent yet: a local channel the
/// engine reads back at once ([`Capture::held`]), its real recipient kept.
#[derive(Debug)]
pub(super) enum Capture {
    /// Nobody waits.
    None,
    /// A request answered with JSON.
    Value(Answer<Value>, oneshot::Receiver<Result<Value, ApiError>>),
    /// A connect answered with the session id.
    Session(Answer<u64>, oneshot::Receiver<Result<u64, ApiError>>),
}

impl Capture {
    /// Swaps `pending`'s recipient for a local one.
    pub(super) fn of(pending: Pending) -> (Pending, Capture) {
        match pending {
            Pending::None => (Pending::None, Capture::None),
            Pending::Value(answer) => {
                let (tx, rx) = oneshot::channel();
                (Pending::Value(tx), Capture::Value(answer, rx))
            }
            Pending::Session(answer) => {
                let (tx, rx) = oneshot::channel();
                (Pending::Session(tx), Capture::Session(answer, rx))
            }
        }
    }

    /// The answer captured, with its real recipient; `None` when nothing
    /// was answered.
    pub(super) fn held(self) -> Option<HeldAnswer> {
        match self {
            Capture::None => None,
            Capture::Value(answer, mut rx) => {
                rx.try_recv().ok().map(|r| HeldAnswer::Value(answer, r))
            }
            Capture::Session(answer, mut rx) => {
                rx.try_recv().ok().map(|r| HeldAnswer::Session(answer, r))
            }
        }
    }
}
