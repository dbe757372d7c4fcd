//! Statuses with reasons: "Lunch", "Meeting", "Training", defined by the
//! help desk, each saying whether it takes new live chats.
//!
//! Availability stays the single gate routing reads (it gates new chats
//! only); a status is availability plus the reason an agent gives for it, so
//! the board can tell lunch from a meeting and the audit says which. The two
//! plain statuses, `Available` and `Unavailable`, exist in every help desk
//! and carry no reason.

use super::command::{Actor, CellChange, IntegrationPresence, Reply};
use super::core::Core;
use super::directory::{AgentIx, Channel};
use super::error::DomainError;
use super::event::{Event, PresenceWhat};
use super::time::Millis;

/// The status of an agent that is available with no reason given.
pub const AVAILABLE: &str = "Available";
/// The status of an agent that is unavailable with no reason given.
pub const UNAVAILABLE: &str = "Unavailable";
/// Most reasons a help desk may define.
pub const MAX_REASONS: usize = 50;
/// Longest reason name, in characters.
pub const MAX_REASON_CHARS: usize = 40;

/// One reason an agent may give for its status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwayReason {
    /// What the agent and the board see ("Lunch").
    pub name: String,
    /// Whether an agent with this status is offered new live chats.
    pub takes_chats: bool,
}

/// The help desk's statuses and who may set them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusSettings {
    /// The reasons an agent may pick, besides `Available` and `Unavailable`.
    pub reasons: Vec<AwayReason>,
    /// Whether managers may set the status of members of the groups they
    /// manage (for an agent who called in sick). Off by default: the status
    /// is the agent's own switch. Admins always may.
    pub managers_set_status: bool,
}

impl Default for StatusSettings {
    fn default() -> Self {
        let away = |name: &str| AwayReason {
            name: name.to_string(),
            takes_chats: false,
        };
        StatusSettings {
            reasons: vec![
                away("Lunch"),
                away("Break"),
                away("Meeting"),
                away("Training"),
            ],
            managers_set_status: false,
        }
    }
}

impl StatusSettings {
    /// Checks a list of reasons: names present, short, unique (ignoring
    /// case) and not one of the two plain statuses.
    pub fn check_reasons(reasons: &[AwayReason]) -> Result<(), DomainError> {
        let invalid = |why: String| DomainError::Invalid {
            field: "reasons",
            why,
        };
        if reasons.len() > MAX_REASONS {
            return Err(invalid(format!("has more than {MAX_REASONS} entries")));
        }
        let mut seen = std::collections::HashSet::new();
        for r in reasons {
            let name = r.name.trim();
            if name.is_empty() || name != r.name {
                return Err(invalid(format!(
                    "has a name that is empty or starts or ends with spaces: {:?}",
                    r.name
                )));
            }
            if name.chars().count() > MAX_REASON_CHARS {
                return Err(invalid(format!(
                    "has a name longer than {MAX_REASON_CHARS} characters: {name:?}"
                )));
            }
            let folded = name.to_lowercase();
            if folded == AVAILABLE.to_lowercase() || folded == UNAVAILABLE.to_lowercase() {
                return Err(invalid(format!(
                    "may not redefine the plain status {name:?}"
                )));
            }
            if !seen.insert(folded) {
                return Err(invalid(format!("names {name:?} twice")));
            }
        }
        Ok(())
    }

    /// What a status name means: availability and the reason kept (none for
    /// the two plain statuses).
    pub fn resolve(&self, status: &str) -> Option<(bool, Option<&str>)> {
        if status == AVAILABLE {
            return Some((true, None));
        }
        if status == UNAVAILABLE {
            return Some((false, None));
        }
        self.reasons
            .iter()
            .find(|r| r.name == status)
            .map(|r| (r.takes_chats, Some(r.name.as_str())))
    }
}

/// The status word of an agent: its reason, else the plain status.
pub fn status_name(available: bool, reason: Option<&str>) -> &str {
    match reason {
        Some(r) => r,
        None if available => AVAILABLE,
        None => UNAVAILABLE,
    }
}

impl Core {
    /// Whether `actor` may set the status of `agent`: itself; an admin; a
    /// manager of one of its groups when the help desk allows it.
    fn may_set_status(&self, actor: AgentIx, agent: AgentIx) -> bool {
        let dir = self.directory();
        actor == agent
            || dir.agent(actor).roles.admin
            || (dir.status_settings().managers_set_status
                && dir
                    .memberships_of(agent)
                    .iter()
                    .any(|&m| dir.is_manager_of(actor, dir.membership(m).group)))
    }

    /// Sets an agent's status by name: its availability and reason at once.
    pub(super) fn set_status(
        &mut self,
        now: Millis,
        actor: AgentIx,
        a: AgentIx,
        status: &str,
    ) -> Result<Reply, DomainError> {
        if !self.may_set_status(actor, a) {
            return Err(DomainError::Forbidden(
                "only the agent itself, an admin, or (when the help desk allows it) a manager of its groups may set its status",
            ));
        }
        let (available, reason) = self.resolve_status(status)?;
        self.change_status(now, Actor::Agent(actor), a, available, reason);
        Ok(Reply::Done)
    }

    /// An integration's presence change: a status by name, or explicit
    /// active cells, audited as the integration's. Like a manager's, it
    /// brings the agent back from Not Responding.
    pub(super) fn presence_by_integration(
        &mut self,
        now: Millis,
        a: AgentIx,
        change: IntegrationPresence,
    ) -> Result<Reply, DomainError> {
        match change {
            IntegrationPresence::Status(status) => {
                let (available, reason) = self.resolve_status(&status)?;
                self.change_status(now, Actor::Integration, a, available, reason);
                Ok(Reply::Done)
            }
            IntegrationPresence::Cells(cells) => {
                self.set_active(now, Actor::Integration, a, CellChange::Cells(cells))
            }
        }
    }

    /// The availability and reason of a status name of this help desk.
    fn resolve_status(&self, status: &str) -> Result<(bool, Option<String>), DomainError> {
        self.directory()
            .status_settings()
            .resolve(status)
            .map(|(avail, reason)| (avail, reason.map(str::to_string)))
            .ok_or_else(|| DomainError::Invalid {
                field: "status",
                why: format!("{status:?} is not a status of this help desk"),
            })
    }

    /// Moves an agent to a status, with one presence event naming the old
    /// and new status; nothing when it is already there.
    pub(super) fn change_status(
        &mut self,
        now: Millis,
        by: Actor,
        a: AgentIx,
        available: bool,
        reason: Option<String>,
    ) {
        if let Actor::Agent(_) | Actor::Integration = by {
            self.back_from_not_responding(now, by, a);
        }
        let agent = self.agent_mut(a);
        if agent.available == available && agent.reason == reason {
            return;
        }
        let old = agent.status().to_string();
        let became_available = available && !agent.available;
        let availability_changed = agent.available != available;
        let was_away = agent.is_away();
        agent.available = available;
        agent.reason = reason;
        agent.since = now;
        if agent.is_away() && !was_away {
            self.arm_away_hand_offs(a);
        }
        let agent = self.agent_mut(a);
        let new = agent.status().to_string();
        let what = if availability_changed && old_and_new_plain(&old, &new) {
            PresenceWhat::Availability {
                old: !available,
                new: available,
            }
        } else {
            PresenceWhat::Status {
                old,
                new,
                available,
            }
        };
        self.events.push(Event::Presence {
            at: now,
            by,
            agent: a,
            what,
        });
        if became_available {
            self.mark_agent_dirty(a, &[Channel::Chat]);
        }
    }
}

/// Whether a change is between the two plain statuses, audited as the
/// availability switch it always was.
fn old_and_new_plain(old: &str, new: &str) -> bool {
    [AVAILABLE, UNAVAILABLE].contains(&old) && [AVAILABLE, UNAVAILABLE].contains(&new)
}
