//! Turning the core's events into audit records and pushes.
//!
//! Who is told what (docs/protocol.md §2.2):
//! - a presence change or a load change of agent A: one `agent_status` per
//!   command to A's sessions and to every session watching a group of A;
//! - a queue arrival or departure in (G, channel): a `queue` push to every
//!   logged-in member of G not excluded from the channel, and a
//!   `group_status` to G's watchers;
//! - an item assigned, accepted, closed or taken away: an `item` push to the
//!   sessions of its assignee and of its previous holder.
//!
//! Each push is serialised once; the same bytes go to every recipient.

use serde::Serialize;

use super::Engine;
use super::audit::{AuditRecord, actor_name};
use super::outbox::{CloseReason, Frame};
use super::recent::Audience;
use super::views::{self, ChangeView};
use crate::domain::{
    Actor, AgentIx, Channel, Event, GroupIx, Handling, Item, ItemReason, PresenceWhat,
};

#[derive(Serialize)]
struct Push<T: Serialize> {
    r#type: &'static str,
    seq: u64,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize)]
struct QueueBody<'a> {
    op: &'static str,
    item: views::ItemView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sound: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

#[derive(Serialize)]
struct ItemBody<'a> {
    item: views::ItemView<'a>,
    reason: &'static str,
}

#[derive(Serialize)]
struct StatusBody<'a> {
    status: views::AgentStatusView<'a>,
}

#[derive(Serialize)]
struct GroupBody<'a> {
    group: views::GroupStatusView<'a>,
}

fn frame<T: Serialize>(kind: &'static str, seq: u64, body: T) -> Frame {
    serde_json::to_string(&Push {
        r#type: kind,
        seq,
        body,
    })
    .unwrap_or_default()
    .into()
}

fn presence_word(what: &PresenceWhat) -> &'static str {
    match what {
        PresenceWhat::LoggedIn => "login",
        PresenceWhat::LoggedOut => "logout",
        PresenceWhat::Availability { .. } => "availability",
        PresenceWhat::Enabled { .. } => "account",
        PresenceWhat::Active { .. } => "active",
    }
}

impl Engine {
    /// Drains the core's events: audits them, pushes them, then sends one
    /// status per changed agent and group.
    pub(super) fn publish(&mut self) {
        let events: Vec<Event> = self.core.drain_events().collect();
        if events.is_empty() {
            return;
        }
        let mut changed_agents: Vec<(AgentIx, &'static str, Actor)> = Vec::new();
        let mut changed_groups: Vec<GroupIx> = Vec::new();
        for event in events {
            self.seq += 1;
            match event {
                Event::Presence {
                    at,
                    by,
                    agent,
                    what,
                } => {
                    if let PresenceWhat::Enabled { new: false, .. } = what {
                        self.revoke_agent_sessions(agent);
                    }
                    changed_agents.retain(|(a, _, _)| *a != agent);
                    changed_agents.push((agent, presence_word(&what), by));
                    self.audit.push(AuditRecord {
                        at,
                        by,
                        agent,
                        what,
                    });
                }
                Event::Queued { item, sound } => {
                    let f = frame(
                        "queue",
                        self.seq,
                        QueueBody {
                            op: "added",
                            item: views::item(&self.core, &item),
                            sound: Some(sound),
                            reason: None,
                        },
                    );
                    self.push_to_receivers(&item, &f);
                    self.webhooks
                        .item_queued(&item, || item_json(&self.core, &item));
                    changed_groups.push(item.group);
                    if item.channel == Channel::Chat {
                        self.visitor_moved(item.id, item.group);
                        self.visitors_queue_changed(item.group);
                    }
                }
                Event::Dequeued { item, reason } => {
                    let f = frame(
                        "queue",
                        self.seq,
                        QueueBody {
                            op: "removed",
                            item: views::item(&self.core, &item),
                            sound: None,
                            reason: Some(reason.as_str()),
                        },
                    );
                    self.push_to_receivers(&item, &f);
                    changed_groups.push(item.group);
                    if item.channel == Channel::Chat {
                        self.visitors_queue_changed(item.group);
                    }
                }
                Event::ItemChanged {
                    item,
                    reason,
                    previous,
                } => {
                    let f = frame(
                        "item",
                        self.seq,
                        ItemBody {
                            item: views::item(&self.core, &item),
                            reason: reason.as_str(),
                        },
                    );
                    self.webhooks
                        .item_changed(reason, || item_json(&self.core, &item));
                    super::stats::item_changed(&item, reason);
                    if item.channel == Channel::Chat
                        && matches!(
                            reason,
                            ItemReason::Routed | ItemReason::Drained | ItemReason::Taken
                        )
                        && let Some(at) = item.assigned_at
                    {
                        let waited = at.saturating_sub(item.created_at) as f64;
                        let slot = &mut self.chat_wait_ewma_ms[item.group.0 as usize];
                        *slot = Some(slot.map_or(waited, |m| 0.8 * m + 0.2 * waited));
                    }
                    match reason {
                        ItemReason::Accepted => {
                            let name = item
                                .assignee
                                .map(|a| self.core.directory().agent(a).name.clone())
                                .unwrap_or_default();
                            self.visitor_agent_joined(item.id, &name);
                        }
                        ItemReason::Closed => self.visitor_closed(item.id),
                        _ => self.visitor_moved(item.id, item.group),
                    }
                    for a in item.assignee.into_iter().chain(previous) {
                        self.push_to_agent(a, &f);
                        if reason != ItemReason::Accepted
                            && !changed_agents.iter().any(|(x, _, _)| *x == a)
                        {
                            changed_agents.push((a, "load", Actor::System));
                        }
                    }
                }
            }
        }
        for (agent, what, by) in changed_agents {
            self.push_status(agent, what, by);
        }
        changed_groups.sort();
        changed_groups.dedup();
        for g in changed_groups {
            super::stats::queue_changed(&self.core, g);
            if self.watchers[g.0 as usize].is_empty() {
                continue;
            }
            let f = frame(
                "group_status",
                self.seq,
                GroupBody {
                    group: views::group_status(&self.core, g),
                },
            );
            for s in self.watchers[g.0 as usize].clone() {
                self.push_to_session(s, &f);
            }
        }
    }

    fn push_status(&mut self, agent: AgentIx, what: &'static str, by: Actor) {
        let dir = self.core.directory();
        let f = frame(
            "agent_status",
            self.seq,
            StatusBody {
                status: views::agent_status(
                    &self.core,
                    agent,
                    Some(ChangeView {
                        what,
                        by: actor_name(dir, by),
                    }),
                ),
            },
        );
        let mut targets = self.agent_sessions[agent.0 as usize].clone();
        for &m in dir.memberships_of(agent) {
            targets.extend_from_slice(&self.watchers[dir.membership(m).group.0 as usize]);
        }
        targets.sort_unstable();
        targets.dedup();
        self.recent.record(self.seq, Audience::Agent(agent), &f);
        for s in targets {
            self.push_to_session(s, &f);
        }
    }

    /// Every logged-in member of the item's group who is not excluded from
    /// its channel.
    fn push_to_receivers(&mut self, item: &Item, f: &Frame) {
        self.recent
            .record(self.seq, Audience::Receivers(item.group, item.channel), f);
        let dir = self.core.directory();
        let mut targets = Vec::new();
        for &m in dir.members_of(item.group) {
            let ms = dir.membership(m);
            if ms.handling[item.channel.index()] != Handling::Excluded {
                targets.extend_from_slice(&self.agent_sessions[ms.agent.0 as usize]);
            }
        }
        for s in targets {
            self.push_to_session(s, f);
        }
    }

    fn push_to_agent(&mut self, a: AgentIx, f: &Frame) {
        self.recent.record(self.seq, Audience::Agent(a), f);
        for s in self.agent_sessions[a.0 as usize].clone() {
            self.push_to_session(s, f);
        }
    }

    /// Queues a frame for a session; a session whose outbox is full is cut
    /// off as a slow consumer.
    pub(super) fn push_to_session(&mut self, session: u64, f: &Frame) {
        let Some(entry) = self.sessions.get(&session) else {
            return;
        };
        if !entry.outbox.push(f.clone()) {
            entry.outbox.close(CloseReason::SlowConsumer);
            tracing::warn!(session, "outbox full: closing slow consumer");
            metrics::counter!("switchboard_outbox_drops_total").increment(1);
            self.handle_disconnect(session);
        }
    }
}

/// An item's protocol JSON, as webhooks carry it.
fn item_json(core: &crate::domain::Core, item: &crate::domain::Item) -> serde_json::Value {
    serde_json::to_value(super::views::item(core, item)).unwrap_or(serde_json::Value::Null)
}
