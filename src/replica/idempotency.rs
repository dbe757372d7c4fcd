//! Writes that carry an idempotency key: every replica remembers, for a
//! while, the outcome of each keyed entry it applied, so that a client that
//! retries a write whose answer it never got (a timeout, an
//! `outcome_unknown`) gets the first outcome instead of a second change.
//!
//! The window is counted in log time (the entries' `now`), so every replica
//! forgets the same keys at the same position; the table is part of the
//! snapshot for the same reason.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api_error::ApiError;
use crate::domain::{Millis, Reply};

/// How long a key is remembered after its first use: 15 minutes.
pub const KEY_WINDOW_MS: Millis = 15 * 60 * 1000;
/// At most this many keys are remembered (the oldest go first).
pub const MAX_KEYS: usize = 200_000;
/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 128;

/// What the first entry with a key gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FirstOutcome {
    /// A domain command's reply.
    Reply(Reply),
    /// An engine entry's answer.
    Value(Value),
    /// A refusal (nothing changed then; the retry is refused the same way).
    Refused(ApiError),
}

/// Keys and the outcomes of their first entries, oldest first.
///
/// Stored as one list in key order of use, so that two replicas' snapshots
/// are the same bytes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(
    from = "Vec<(Millis, String, FirstOutcome)>",
    into = "Vec<(Millis, String, FirstOutcome)>"
)]
pub struct Remembered {
    outcomes: HashMap<String, FirstOutcome>,
    order: VecDeque<(Millis, String)>,
}

impl From<Remembered> for Vec<(Millis, String, FirstOutcome)> {
    fn from(mut r: Remembered) -> Self {
        r.order
            .into_iter()
            .filter_map(|(at, key)| r.outcomes.remove(&key).map(|o| (at, key, o)))
            .collect()
    }
}

impl From<Vec<(Millis, String, FirstOutcome)>> for Remembered {
    fn from(list: Vec<(Millis, String, FirstOutcome)>) -> Self {
        let mut r = Remembered::default();
        for (at, key, outcome) in list {
            r.order.push_back((at, key.clone()));
            r.outcomes.insert(key, outcome);
        }
        r
    }
}

impl Remembered {
    /// The first outcome of `key`, if it is still remembered.
    pub fn get(&self, key: &str) -> Option<&FirstOutcome> {
        self.outcomes.get(key)
    }

    /// Remembers the first outcome of `key`, used at `now`, and forgets
    /// keys past the window or the count.
    pub fn remember(&mut self, key: String, now: Millis, outcome: FirstOutcome) {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_sub(*at) < KEY_WINDOW_MS && self.order.len() < MAX_KEYS {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.outcomes.remove(&old);
            }
        }
        if self.outcomes.insert(key.clone(), outcome).is_none() {
            self.order.push_back((now, key));
        }
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_forgotten_after_the_window_in_log_time() {
        let mut r = Remembered::default();
        r.remember("a".into(), 0, FirstOutcome::Reply(Reply::Item(1)));
        r.remember(
            "b".into(),
            KEY_WINDOW_MS - 1,
            FirstOutcome::Reply(Reply::Done),
        );
        assert_eq!(r.get("a"), Some(&FirstOutcome::Reply(Reply::Item(1))));
        r.remember("c".into(), KEY_WINDOW_MS, FirstOutcome::Reply(Reply::Done));
        assert_eq!(r.get("a"), None, "a is past the window");
        assert!(r.get("b").is_some());
        assert_eq!(r.len(), 2);
    }
}
