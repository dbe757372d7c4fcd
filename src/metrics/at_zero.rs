//! Every documented metric (docs/operations.md, "Metrics") registered at
//! zero when the recorder is installed, with the label values the docs list:
//! a family that appeared only after its first event would leave dashboards
//! and alerts (`rate(...) > 0`) blind until then.
//!
//! Families labelled by what only the engine knows (a group's queues, the
//! agents' census) are set by the engine at its start instead.

use metrics::Label;
use strum::IntoEnumIterator;

use super::*;
use crate::api_error::ErrorCode;
use crate::webhooks;

/// One label and the values it takes.
type Values = (&'static str, &'static [&'static str]);

const CHANNELS: Values = ("channel", &["chat", "ticket", "voice"]);

/// Counters and the labels of each (their cross product is registered).
const COUNTERS: &[(&str, &[Values])] = &[
    (
        UPGRADES_REFUSED,
        &[(
            "reason",
            &[
                "origin",
                "unauthorized",
                "sessions_per_agent",
                "max_connections",
            ],
        )],
    ),
    (LOGINS, &[("result", &["ok", "refused", "rate_limited"])]),
    // Routes and statuses are open-ended: the family starts with the
    // series the first scrape of `/metrics` will count in anyway.
    (
        HTTP_REQUESTS,
        &[("route", &["/metrics"]), ("status", &["200"])],
    ),
    (FRAMES_IN, &[]),
    (
        RATE_LIMITED,
        &[("limit", &["login_ip", "login_username", "ws_session"])],
    ),
    (OUTBOX_DROPS, &[]),
    (
        SESSIONS_CLOSED,
        &[(
            "reason",
            &[
                "slow_consumer",
                "server_going_away",
                "revoked",
                "logged_out",
                "cut_off",
                "closed",
                "write_timeout",
                "too_large",
                "invalid_utf8",
                "protocol_error",
            ],
        )],
    ),
    (CONNECTIONS_REFUSED, &[("reason", &["per_address"])]),
    (HTTP_TIMEOUTS, &[("phase", &["headers", "body"])]),
    (
        "switchboard_routing_decisions_total",
        &[("how", &["routed", "drained", "taken"]), CHANNELS],
    ),
    ("switchboard_takes_total", &[("result", &["won", "lost"])]),
    (
        "switchboard_handoffs_total",
        &[(
            "why",
            &[
                "no_response",
                "disconnected",
                "logged_out",
                "ring_timeout",
                "declined",
                "transferred",
                "taken_over",
            ],
        )],
    ),
    (
        "switchboard_items_total",
        &[("event", &["accepted", "closed", "abandoned"])],
    ),
    ("switchboard_redis_round_trips_total", &[]),
    ("switchboard_redis_errors_total", &[]),
    ("switchboard_snapshots_total", &[]),
    ("switchboard_audit_dropped_total", &[]),
    ("switchboard_snapshot_restores_total", &[]),
    (webhooks::SENT, &[]),
    (webhooks::FAILED, &[]),
    (webhooks::DROPPED, &[]),
    (webhooks::delivery::DELIVERED, &[]),
    (webhooks::delivery::DEAD, &[]),
    (webhooks::delivery::EXPIRED, &[]),
    (crate::store::events::EVENTS_WRITTEN, &[]),
];

/// Gauges (no labels) whose zero is their true value at start.
const GAUGES: &[&str] = &[
    SESSIONS_OPEN,
    CONNECTIONS_OPEN,
    "switchboard_snapshot_bytes",
];

/// Histograms and the labels of each.
const HISTOGRAMS: &[(&str, &[Values])] = &[
    (ENGINE_BUSY, &[]),
    (LOG_APPEND, &[]),
    (LOG_APPEND_ENTRIES, &[]),
    (HTTP_DURATION, &[("route", &["/metrics"])]),
    ("switchboard_queue_wait_seconds", &[CHANNELS]),
];

/// Every combination of one value per label.
fn label_sets(labels: &[Values]) -> Vec<Vec<Label>> {
    labels.iter().fold(vec![Vec::new()], |sets, (key, values)| {
        sets.iter()
            .flat_map(|set| {
                values.iter().map(move |v| {
                    let mut set = set.clone();
                    set.push(Label::new(*key, *v));
                    set
                })
            })
            .collect()
    })
}

/// Registers every family above; counts and values already recorded stay
/// (counters and gauges move by zero, histograms get no sample).
pub(super) fn register() {
    for (name, labels) in COUNTERS {
        for set in label_sets(labels) {
            metrics::counter!(*name, set).increment(0);
        }
    }
    for transport in ["http", "ws"] {
        for code in ErrorCode::iter() {
            metrics::counter!(ERRORS, "transport" => transport, "code" => code_label(code))
                .increment(0);
        }
    }
    for name in GAUGES {
        metrics::gauge!(*name).increment(0.0);
    }
    for (name, labels) in HISTOGRAMS {
        for set in label_sets(labels) {
            // Creating the handle registers it; an empty histogram is
            // exported with zero counts.
            let _ = metrics::histogram!(*name, set);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_are_the_cross_product() {
        let sets = label_sets(&[("a", &["1", "2"]), ("b", &["x", "y", "z"])]);
        assert_eq!(sets.len(), 6);
        assert_eq!(sets[5], vec![Label::new("a", "2"), Label::new("b", "z")]);
        assert_eq!(label_sets(&[]), vec![Vec::<Label>::new()]);
    }
}
