//! Not Responding: an agent who lets offers run out several times in a row
//! (a chat nobody accepted within the no-response limit, a call that rang
//! out) is taken out of routing until it acts, so that the next items do not
//! wait out the same limit with it.
//!
//! The count is per agent, the limit per group (the group of the offer that
//! ran out; 0 switches the rule off there). Anything the agent does that
//! shows it is there clears the state and the count: accepting or taking
//! an item, setting its status or availability, logging in again. A manager
//! or admin setting its status clears it too (a person decided); auto-away
//! leaves a Not Responding agent alone (it is out of routing already).

use super::command::Actor;
use super::core::Core;
use super::directory::{AgentIx, Channel, GroupIx};
use super::event::{Event, PresenceWhat};
use super::status::status_name;
use super::time::Millis;

/// The status word of an agent taken out of routing by this rule.
pub const NOT_RESPONDING: &str = "Not Responding";

impl Core {
    /// An offer to `a` in group `g` ran out: counts it, and switches the
    /// agent to Not Responding when the group's limit is reached.
    pub(super) fn offer_ran_out(&mut self, now: Millis, a: AgentIx, g: GroupIx) {
        let limit = self.dir.settings(g).not_responding_after;
        let agent = self.agent_mut(a);
        agent.missed_offers = agent.missed_offers.saturating_add(1);
        if limit == 0 || agent.not_responding || agent.missed_offers < limit {
            return;
        }
        let old = agent.status().to_string();
        agent.not_responding = true;
        agent.since = now;
        let available = agent.available;
        self.events.push(Event::Presence {
            at: now,
            by: Actor::System,
            agent: a,
            what: PresenceWhat::Status {
                old,
                new: NOT_RESPONDING.to_string(),
                available,
            },
        });
    }

    /// The agent did something that shows it is there: the count starts
    /// again, and a Not Responding agent is back in routing (its own status
    /// unchanged).
    pub(super) fn agent_acted(&mut self, now: Millis, a: AgentIx) {
        self.back_from_not_responding(now, Actor::Agent(a), a);
    }

    /// Puts an agent back in routing (when `by` is the agent, or someone
    /// who set its status for it), its own status unchanged.
    pub(super) fn back_from_not_responding(&mut self, now: Millis, by: Actor, a: AgentIx) {
        let agent = self.agent_mut(a);
        agent.missed_offers = 0;
        if !agent.not_responding {
            return;
        }
        agent.not_responding = false;
        agent.since = now;
        let new = status_name(agent.available, agent.reason.as_deref()).to_string();
        let available = agent.available;
        self.events.push(Event::Presence {
            at: now,
            by,
            agent: a,
            what: PresenceWhat::Status {
                old: NOT_RESPONDING.to_string(),
                new,
                available,
            },
        });
        self.mark_agent_dirty(a, &Channel::ALL);
    }
}
