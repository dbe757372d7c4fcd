//! Turning what an applied entry did ([`Effect`]s) into pushes.
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
use super::outbox::{CloseReason, Frame};
use super::recent::Audience;
use super::views::{self, ChangeView};
use crate::domain::{
    Actor, AgentIx, Channel, Event, GroupIx, Handling, Item, ItemReason, ItemState, PresenceWhat,
};
use crate::replica::Effect;
use crate::replica::audit::actor_name;

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
        PresenceWhat::Status { .. } => "status",
        PresenceWhat::Enabled { .. } => "account",
        PresenceWhat::Active { .. } => "active",
    }
}

impl Engine {
    /// Publishes what applying one log entry did: pushes each event to the
    /// sessions it concerns, then one status per changed agent and group.
    /// It changes no replicated state (the state machine did that).
    pub(super) fn publish(&mut self, effects: Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        let mut changed_agents: Vec<(AgentIx, &'static str, Actor)> = Vec::new();
        let mut changed_groups: Vec<GroupIx> = Vec::new();
        for effect in effects {
            let (seq, event) = match effect {
                Effect::Event { seq, event } => (seq, *event),
                Effect::Message {
                    seq,
                    item,
                    message,
                    assignee,
                } => {
                    self.relay_message(seq, item, &message, assignee);
                    continue;
                }
                Effect::CloseLogin(login) => {
                    self.close_login_sessions(&login);
                    continue;
                }
                Effect::Credentials { reset } => {
                    self.credentials_changed(reset.as_deref());
                    continue;
                }
            };
            match event {
                Event::Directory { old, new, .. } => {
                    self.directory_changed(seq, old.as_deref(), new.as_deref());
                }
                Event::Presence {
                    by, agent, what, ..
                } => {
                    if let PresenceWhat::Enabled { new: false, .. } = what {
                        self.revoke_agent_sessions(agent);
                    }
                    changed_agents.retain(|(a, _, _)| *a != agent);
                    changed_agents.push((agent, presence_word(&what), by));
                }
                Event::WrapUp { agent, .. } => {
                    changed_agents.retain(|(a, _, _)| *a != agent);
                    changed_agents.push((agent, "wrap_up", Actor::System));
                }
                Event::Queued { item, sound } => {
                    let core = self.state.core();
                    let f = frame(
                        "queue",
                        seq,
                        QueueBody {
                            op: "added",
                            item: views::item(core, &item),
                            sound: Some(sound),
                            reason: None,
                        },
                    );
                    self.webhooks.item_queued(&item, || item_json(core, &item));
                    self.push_to_receivers(seq, &item, &f);
                    changed_groups.push(item.group);
                    if item.channel == Channel::Chat {
                        self.visitors_queue_changed(item.group);
                    }
                }
                Event::Dequeued { item, reason } => {
                    let f = frame(
                        "queue",
                        seq,
                        QueueBody {
                            op: "removed",
                            item: views::item(self.state.core(), &item),
                            sound: None,
                            reason: Some(reason.as_str()),
                        },
                    );
                    self.push_to_receivers(seq, &item, &f);
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
                    let core = self.state.core();
                    let f = frame(
                        "item",
                        seq,
                        ItemBody {
                            item: views::item(core, &item),
                            reason: reason.as_str(),
                        },
                    );
                    self.webhooks
                        .item_changed(reason, || item_json(core, &item));
                    super::stats::item_changed(&item, reason);
                    match reason {
                        ItemReason::Accepted => {
                            let name = item
                                .assignee
                                .map(|a| core.directory().agent(a).name.clone())
                                .unwrap_or_default();
                            self.visitor_agent_joined(item.id, &name);
                        }
                        r if r.is_end() => self.visitor_closed(item.id),
                        _ => {}
                    }
                    if reason == ItemReason::Updated && item.state == ItemState::Queued {
                        // Whoever lists the queue shows the new title and
                        // priority.
                        let f = frame(
                            "queue",
                            seq,
                            QueueBody {
                                op: "updated",
                                item: views::item(self.state.core(), &item),
                                sound: None,
                                reason: None,
                            },
                        );
                        self.push_to_receivers(seq, &item, &f);
                    }
                    for a in item.assignee.into_iter().chain(previous) {
                        self.push_to_agent(seq, a, &f);
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
            super::stats::queue_changed(self.state.core(), g);
            if self.local.watchers[g.0 as usize].is_empty() {
                continue;
            }
            let f = frame(
                "group_status",
                self.state.seq(),
                GroupBody {
                    group: views::group_status(self.state.core(), g),
                },
            );
            for s in self.local.watchers[g.0 as usize].clone() {
                self.push_to_session(s, &f);
            }
        }
    }

    fn push_status(&mut self, agent: AgentIx, what: &'static str, by: Actor) {
        let seq = self.state.seq();
        let core = self.state.core();
        let dir = core.directory();
        let f = frame(
            "agent_status",
            seq,
            StatusBody {
                status: views::agent_status(
                    core,
                    agent,
                    Some(ChangeView {
                        what,
                        by: actor_name(dir, by),
                    }),
                ),
            },
        );
        let mut targets = self.local.of_agent[agent.0 as usize].clone();
        for &m in dir.memberships_of(agent) {
            targets.extend_from_slice(&self.local.watchers[dir.membership(m).group.0 as usize]);
        }
        targets.sort_unstable();
        targets.dedup();
        self.recent.record(seq, Audience::Agent(agent), &f);
        for s in targets {
            self.push_to_session(s, &f);
        }
    }

    /// Every logged-in member of the item's group who is not excluded from
    /// its channel.
    fn push_to_receivers(&mut self, seq: u64, item: &Item, f: &Frame) {
        self.recent
            .record(seq, Audience::Receivers(item.group, item.channel), f);
        let dir = self.state.core().directory();
        let mut targets = Vec::new();
        for &m in dir.members_of(item.group) {
            let ms = dir.membership(m);
            if ms.handling[item.channel.index()] != Handling::Excluded {
                targets.extend_from_slice(&self.local.of_agent[ms.agent.0 as usize]);
            }
        }
        for s in targets {
            self.push_to_session(s, f);
        }
    }

    pub(super) fn push_to_agent(&mut self, seq: u64, a: AgentIx, f: &Frame) {
        self.recent.record(seq, Audience::Agent(a), f);
        for s in self.local.of_agent[a.0 as usize].clone() {
            self.push_to_session(s, f);
        }
    }

    /// Queues a frame for a session; a session whose outbox is full is cut
    /// off as a slow consumer.
    pub(super) fn push_to_session(&mut self, session: u64, f: &Frame) {
        let Some(entry) = self.local.by_id.get(&session) else {
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
