//! The events integrations get (webhooks and `GET /api/events`), derived
//! from what applying a log entry did.
//!
//! Derived on every replica from the entry's effects and the state after
//! it, with ids from the entry's id ([`event_id`]): every replica derives
//! the same events under the same ids, so any of them may write them to the
//! journal, and writing them twice adds nothing. The engine hands them, per
//! slice of entries, to the event writer (`replication`), with the last
//! entry of the slice: the writer's "written up to" position is what the
//! node reports as applied, so that no snapshot or trim passes an entry
//! whose events are not in the journal.

use serde_json::{Value, json};

use super::views::{self, ChangeView};
use crate::domain::{Core, Event, Item, ItemReason, Millis, PresenceWhat};
use crate::replica::Effect;
use crate::replica::audit::actor_name;
use crate::store::LogId;
use crate::store::events::{EVENTS_PER_ENTRY, event_id};
use crate::webhooks::item_event_name;

/// The events of a slice of applied entries, for the journal.
#[derive(Debug, Default)]
pub struct EventBatch {
    /// The last entry applied: every event up to it is in this batch or an
    /// earlier one.
    pub upto: LogId,
    /// Per entry that made events, its id and the events' JSON, in order.
    pub entries: Vec<(LogId, Vec<String>)>,
}

impl super::Engine {
    /// Hands the events of the entries applied since the last call to the
    /// event writer, with the last entry applied (`upto`).
    pub(super) fn send_events(&mut self, upto: LogId) {
        let entries = std::mem::take(&mut self.pending_events);
        let _ = self.events_out.send(EventBatch { upto, entries });
    }
}

/// The name of a presence change.
fn presence_event_name(what: &PresenceWhat) -> &'static str {
    match what {
        PresenceWhat::LoggedIn => "agent.login",
        PresenceWhat::LoggedOut => "agent.logout",
        PresenceWhat::Availability { .. } => "agent.availability",
        PresenceWhat::Status { .. } => "agent.status",
        PresenceWhat::Enabled { .. } => "agent.account",
        PresenceWhat::Active { .. } => "agent.active",
    }
}

/// One event before it gets its id.
struct Draft {
    name: &'static str,
    at: Millis,
    groups: Vec<String>,
    body: (&'static str, Value),
}

fn item_draft(core: &Core, name: &'static str, at: Millis, item: &Item) -> Draft {
    Draft {
        name,
        at,
        groups: vec![core.directory().group(item.group).id.clone()],
        body: (
            "item",
            serde_json::to_value(views::item(core, item)).unwrap_or(Value::Null),
        ),
    }
}

/// The events of log entry `entry` (applied at `now`) from its effects,
/// as JSON, each with its id.
pub fn derive(core: &Core, entry: &str, now: Millis, effects: &[Effect]) -> Vec<String> {
    let dir = core.directory();
    let mut drafts = Vec::new();
    for effect in effects {
        let Effect::Event { event, .. } = effect else {
            continue;
        };
        match &**event {
            Event::Queued { item, .. } => {
                if item.history.is_empty() {
                    drafts.push(item_draft(core, "item.created", now, item));
                }
                drafts.push(item_draft(core, "item.queued", now, item));
            }
            Event::ItemChanged { item, reason, .. } => {
                if *reason == ItemReason::Routed {
                    drafts.push(item_draft(core, "item.created", now, item));
                }
                drafts.push(item_draft(core, item_event_name(*reason), now, item));
            }
            Event::Presence {
                at,
                by,
                agent,
                what,
            } => {
                let groups = dir
                    .memberships_of(*agent)
                    .iter()
                    .map(|&m| dir.group(dir.membership(m).group).id.clone())
                    .collect();
                let name = presence_event_name(what);
                let change = ChangeView {
                    what: &name["agent.".len()..],
                    by: actor_name(dir, *by),
                };
                let status = views::agent_status(core, *agent, Some(change));
                drafts.push(Draft {
                    name,
                    at: *at,
                    groups,
                    body: ("agent", serde_json::to_value(status).unwrap_or(Value::Null)),
                });
            }
            Event::Dequeued { .. } | Event::WrapUp { .. } | Event::Directory { .. } => {}
        }
    }
    drafts.truncate(EVENTS_PER_ENTRY as usize);
    drafts
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let mut v = json!({
                "id": event_id(entry, i as u64).to_string(),
                "event": d.name,
                "at": d.at,
                "groups": d.groups,
            });
            v[d.body.0] = d.body.1;
            v.to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_a_dotted_name() {
        for r in [ItemReason::Routed, ItemReason::Closed, ItemReason::Updated] {
            assert!(item_event_name(r).starts_with("item."));
        }
        assert_eq!(presence_event_name(&PresenceWhat::LoggedIn), "agent.login");
    }
}
