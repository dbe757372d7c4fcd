//! How long the engine spends on each request, because every request waits
//! behind the one being applied: a request that holds the engine for tens of
//! milliseconds delays every push of the node by as much.
//!
//! Each request's time is recorded in a histogram
//! (`switchboard_engine_busy_seconds`); one over [`SLOW`] is also logged at
//! warn level with its kind, so that an operator (or a benchmark) sees which
//! request stalled the node rather than only a latency tail.

use std::time::{Duration, Instant};

use super::request::Request;

pub use crate::metrics::ENGINE_BUSY;

/// A request that held the engine at least this long is logged.
pub const SLOW: Duration = Duration::from_millis(20);

/// Times one request (or timer round) of the engine.
#[derive(Debug)]
pub struct BusyClock {
    histogram: metrics::Histogram,
}

impl BusyClock {
    /// Registers the histogram once, so the hot path does no registry lookup.
    pub fn new() -> Self {
        BusyClock {
            histogram: metrics::histogram!(ENGINE_BUSY),
        }
    }

    /// Records the time since `started` of a request of kind `what`.
    pub fn record(&self, what: &'static str, started: Instant) {
        let took = started.elapsed();
        self.histogram.record(took.as_secs_f64());
        if took >= SLOW {
            tracing::warn!(
                request = what,
                ms = took.as_secs_f64() * 1e3,
                "the engine was busy with one request for a long time"
            );
        }
    }
}

impl Request {
    /// The request's kind, as logged by the [`BusyClock`].
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Keyed { request, .. } => request.kind(),
            Request::CutOff => "cut_off",
            Request::Rejoined { .. } => "rejoined",
            Request::Connect { .. } => "connect",
            Request::Logout { .. } => "logout",
            Request::Disconnect { .. } => "disconnect",
            Request::Session { .. } => "session",
            Request::Watch { .. } => "watch",
            Request::WatchPiece { .. } => "watch_piece",
            Request::Http { .. } => "http",
            Request::VisitorConnect { .. } => "visitor_connect",
            Request::VisitorDisconnect { .. } => "visitor_disconnect",
            Request::VisitorMessage { .. } => "visitor_message",
            Request::Replicated { .. } => "replicated",
            Request::Snapshot { .. } => "snapshot",
            Request::Restore { .. } => "restore",
            Request::ProposalsAppended { .. } => "proposals_appended",
            Request::ProposalFailed { .. } => "proposal_failed",
            Request::GoingAway { .. } => "going_away",
            Request::SessionCount { .. } => "session_count",
        }
    }
}
