//! Engine metrics (docs/operations.md, Metrics): what routing did, how long
//! work waited, and the state of agents and queues. Recorded by the engine
//! task as it publishes, so they cost a counter bump on the hot path; the
//! per-agent census runs on a timer.

use std::time::Duration;

use crate::domain::{AgentIx, Channel, Core, GroupIx, Item, ItemReason, Millis};

/// Records what one item event says about routing.
pub(super) fn item_changed(item: &Item, reason: ItemReason) {
    let how = reason.as_str();
    match reason {
        ItemReason::Routed | ItemReason::Drained | ItemReason::Taken | ItemReason::Assigned => {
            metrics::counter!("switchboard_routing_decisions_total", "how" => how, "channel" => item.channel.as_str())
                .increment(1);
            if let Some(at) = item.assigned_at {
                let waited = Duration::from_millis(at.saturating_sub(item.created_at));
                metrics::histogram!("switchboard_queue_wait_seconds", "channel" => item.channel.as_str())
                    .record(waited.as_secs_f64());
            }
            if reason == ItemReason::Taken {
                metrics::counter!("switchboard_takes_total", "result" => "won").increment(1);
            }
        }
        ItemReason::HandedOff | ItemReason::Transferred | ItemReason::TakenOver => {
            let why = item.history.last().map_or(how, |h| h.why.as_str());
            metrics::counter!("switchboard_handoffs_total", "why" => why).increment(1);
        }
        ItemReason::Accepted
        | ItemReason::Closed
        | ItemReason::Cancelled
        | ItemReason::Updated
        | ItemReason::Abandoned => {
            metrics::counter!("switchboard_items_total", "event" => how).increment(1);
        }
        ItemReason::VisitorLeft | ItemReason::VisitorBack => {}
    }
}

/// A take that lost the race.
pub(super) fn take_lost() {
    metrics::counter!("switchboard_takes_total", "result" => "lost").increment(1);
}

/// The depth and oldest item of a group's queues, after they changed.
pub(super) fn queue_changed(core: &Core, g: GroupIx) {
    let group = core.directory().group(g).id.clone();
    for c in Channel::ALL {
        metrics::gauge!("switchboard_queue_depth", "group" => group.clone(), "channel" => c.as_str())
            .set(core.queue_len(g, c) as f64);
        let oldest: Option<Millis> = core.queue_oldest(g, c);
        metrics::gauge!("switchboard_queue_oldest_created_seconds", "group" => group.clone(), "channel" => c.as_str())
            .set(oldest.map_or(0.0, |ms| ms as f64 / 1000.0));
    }
}

/// Counts agents per state: logged out, logged in and receiving, logged in
/// and receiving nothing, and (of those logged in) unavailable; and sets
/// every group's queue gauges, so each exists from the engine's start (the
/// first census runs at once) rather than after its queue's first change.
pub(super) fn census(core: &Core) {
    for g in 0..core.directory().groups().len() {
        queue_changed(core, GroupIx(g as u32));
    }
    let (mut out, mut receiving, mut nothing, mut unavailable) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..core.directory().agents().len() {
        let a = AgentIx(i as u32);
        let p = core.presence(a);
        if !p.logged_in {
            out += 1;
            continue;
        }
        if core.is_receiving(a) {
            receiving += 1;
        } else {
            nothing += 1;
        }
        if !p.available {
            unavailable += 1;
        }
    }
    for (state, n) in [
        ("logged_out", out),
        ("receiving", receiving),
        ("receiving_nothing", nothing),
        ("unavailable", unavailable),
    ] {
        metrics::gauge!("switchboard_agents", "state" => state).set(n as f64);
    }
}
